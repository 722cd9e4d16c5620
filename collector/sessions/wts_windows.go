//go:build windows

package sessions

import (
	"context"
	"fmt"
	"slices"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/storefence/storefence/report"
)

// wtsServer is WTS_CURRENT_SERVER_HANDLE: this machine.
const wtsServer = 0

// WTS_INFO_CLASS values (wtsapi32.h).
const (
	wtsUserName      = 5
	wtsClientAddress = 14
	wtsSessionInfo   = 24
)

// wtsAPI calls the Terminal Services API of wtsapi32.dll, loaded on first
// use. x/sys/windows has WTSEnumerateSessions and WTSFreeMemory but not
// WTSQuerySessionInformationW.
type wtsAPI struct {
	query *windows.LazyProc
}

// newWTS returns the Windows session source: every active or disconnected
// session with a user, console and Remote Desktop, with the RDP client's
// address and the logon time.
func newWTS() func(context.Context) ([]report.Session, error) {
	w := &wtsAPI{query: windows.NewLazySystemDLL("wtsapi32.dll").NewProc("WTSQuerySessionInformationW")}
	return w.sessions
}

func (w *wtsAPI) sessions(ctx context.Context) ([]report.Session, error) {
	if err := w.query.Find(); err != nil {
		return nil, fmt.Errorf("wts: %w", err)
	}
	var infos *windows.WTS_SESSION_INFO
	var n uint32
	if err := windows.WTSEnumerateSessions(wtsServer, 0, 1, &infos, &n); err != nil {
		return nil, fmt.Errorf("wts: enumerate sessions: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(infos)))
	list := slices.Clone(unsafe.Slice(infos, n))

	var (
		out      []report.Session
		failed   int
		firstErr error
	)
	for _, si := range list {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if si.State != windows.WTSActive && si.State != windows.WTSDisconnected {
			continue
		}
		user, err := w.info(si.SessionID, wtsUserName)
		if err != nil {
			if failed++; firstErr == nil {
				firstErr = fmt.Errorf("session %d: user name: %w", si.SessionID, err)
			}
			continue
		}
		// The address and logon time are best effort: a session without
		// them is still a session.
		addr, _ := w.info(si.SessionID, wtsClientAddress)
		info, _ := w.info(si.SessionID, wtsSessionInfo)
		var station string
		if si.WindowStationName != nil {
			station = windows.UTF16PtrToString(si.WindowStationName)
		}
		if s, ok := wtsSession(si.State, utf16z(user), station, addr, info); ok {
			out = append(out, s)
		}
	}
	if failed > 0 {
		return out, fmt.Errorf("wts: %d of %d sessions unreadable: %w", failed, len(list), firstErr)
	}
	return out, nil
}

// info returns a copy of the buffer WTSQuerySessionInformationW returns for
// class of session id.
func (w *wtsAPI) info(id, class uint32) ([]byte, error) {
	var buf *byte
	var n uint32
	r1, _, err := w.query.Call(wtsServer, uintptr(id), uintptr(class),
		uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r1 == 0 {
		return nil, err
	}
	if buf == nil {
		return nil, nil
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	return slices.Clone(unsafe.Slice(buf, n)), nil
}
