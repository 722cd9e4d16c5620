package sessions

import (
	"encoding/binary"
	"net/netip"
	"time"
	"unicode/utf16"

	"github.com/storefence/storefence/report"
)

// The pure half of the Windows Terminal Services source: decoding of the
// buffers WTSQuerySessionInformationW returns. It builds on every OS so that
// it is tested and fuzzed on Linux; the system calls are in wts_windows.go.

// WTS_CONNECTSTATE_CLASS values (wtsapi32.h).
const (
	wtsActive       = 0
	wtsDisconnected = 4
)

// Address families of WTS_CLIENT_ADDRESS (ws2def.h).
const (
	afInet  = 2
	afInet6 = 23
)

// Layouts. WTS_CLIENT_ADDRESS is {DWORD AddressFamily; BYTE Address[20]}.
// WTSINFOW is eight DWORDs (32 bytes), WCHAR WinStationName[32] (64),
// Domain[17] (34) and UserName[21] (42), which end at 172; then five
// LARGE_INTEGERs, 8-byte aligned from 176: ConnectTime, DisconnectTime,
// LastInputTime, LogonTime at 200, CurrentTime; 216 bytes in all, the same
// on 386, amd64 and arm64.
const (
	wtsClientAddressSize = 24
	wtsInfoSize          = 216
	wtsInfoLogonTime     = 200
)

// filetimeUnixEpoch is 1970-01-01 as a FILETIME: 100 ns intervals since
// 1601-01-01.
const filetimeUnixEpoch = 116444736000000000

// decodeClientAddress decodes a WTS_CLIENT_ADDRESS. For AF_INET the IPv4
// address is at Address[2:6] (Address mirrors a sockaddr without its
// family: port first); for AF_INET6 the documentation puts the 16 address
// bytes at Address[0:16]. It reports false for other families (AF_UNSPEC for
// the console), a short buffer, and unspecified addresses.
func decodeClientAddress(b []byte) (netip.Addr, bool) {
	if len(b) < wtsClientAddressSize {
		return netip.Addr{}, false
	}
	var a netip.Addr
	switch binary.LittleEndian.Uint32(b[0:4]) {
	case afInet:
		a = netip.AddrFrom4([4]byte(b[4+2 : 4+6]))
	case afInet6:
		a = netip.AddrFrom16([16]byte(b[4 : 4+16])).Unmap()
	default:
		return netip.Addr{}, false
	}
	if a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}

// decodeLogonTime returns the LogonTime of a WTSINFOW, false when b is
// short or the time is unset.
func decodeLogonTime(b []byte) (time.Time, bool) {
	if len(b) < wtsInfoLogonTime+8 {
		return time.Time{}, false
	}
	return filetimeToTime(int64(binary.LittleEndian.Uint64(b[wtsInfoLogonTime:])))
}

// filetimeToTime converts a FILETIME, false when it is not positive.
func filetimeToTime(ft int64) (time.Time, bool) {
	if ft <= 0 {
		return time.Time{}, false
	}
	d := ft - filetimeUnixEpoch // cannot overflow: ft > 0
	return time.Unix(d/1e7, d%1e7*100).UTC(), true
}

// utf16z decodes a NUL-terminated little-endian UTF-16 string, as the
// string classes of WTSQuerySessionInformationW return; it stops at the
// buffer's end when there is no NUL.
func utf16z(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// wtsSession builds the report entry of one WTS session from its connect
// state, user name, window station name and the raw WTSClientAddress and
// WTSSessionInfo buffers (nil when the query failed). It reports false for
// sessions that are not logins: states other than active or disconnected
// (listeners, the services session) and sessions without a user.
func wtsSession(state uint32, user, station string, addr, info []byte) (report.Session, bool) {
	if (state != wtsActive && state != wtsDisconnected) || user == "" {
		return report.Session{}, false
	}
	s := report.Session{
		User:     clean(user),
		Terminal: clean(station),
		Source:   sourceWTS,
	}
	if a, ok := decodeClientAddress(addr); ok {
		s.Origin = a.String()
	}
	if t, ok := decodeLogonTime(info); ok {
		s.Started = t
	}
	return s, true
}
