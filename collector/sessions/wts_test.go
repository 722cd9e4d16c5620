package sessions

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
	"unicode/utf16"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/report"
)

// clientAddress builds a WTS_CLIENT_ADDRESS.
func clientAddress(family uint32, addr ...byte) []byte {
	b := make([]byte, wtsClientAddressSize)
	binary.LittleEndian.PutUint32(b, family)
	copy(b[4:], addr)
	return b
}

func TestDecodeClientAddress(t *testing.T) {
	v6b := netip.MustParseAddr("2001:db8::5").As16()
	mapped := netip.MustParseAddr("::ffff:192.0.2.9").As16()
	tests := []struct {
		name string
		in   []byte
		want string // "" for false
	}{
		{"AF_INET, address at Address[2:6]", clientAddress(afInet, 0, 0, 192, 168, 0, 1), "192.168.0.1"},
		{"AF_INET with port bytes", clientAddress(afInet, 0x0d, 0x3d, 198, 51, 100, 4, 0xff), "198.51.100.4"},
		{"AF_INET6", clientAddress(afInet6, v6b[:]...), "2001:db8::5"},
		{"AF_INET6 documentation example FFFF::1", clientAddress(afInet6, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), "ffff::1"},
		{"AF_INET6 mapped IPv4", clientAddress(afInet6, mapped[:]...), "192.0.2.9"},
		{"AF_UNSPEC console", clientAddress(0), ""},
		{"AF_INET unspecified", clientAddress(afInet), ""},
		{"AF_INET6 unspecified", clientAddress(afInet6), ""},
		{"AF_NETBIOS", clientAddress(17, 'P', 'C'), ""},
		{"short", clientAddress(afInet, 0, 0, 192, 0, 2, 1)[:23], ""},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := decodeClientAddress(tt.in)
			got := ""
			if ok {
				got = a.String()
			}
			if got != tt.want {
				t.Errorf("decodeClientAddress(% x) = %q, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}

// wtsInfoW mirrors WTSINFOW (wtsapi32.h) to check the offsets used by
// decodeLogonTime.
type wtsInfoW struct {
	State, SessionID                                uint32
	IncomingBytes, OutgoingBytes                    uint32
	IncomingFrames, OutgoingFrames                  uint32
	IncomingCompressedBytes, OutgoingCompressedByte uint32
	WinStationName                                  [32]uint16 // WINSTATIONNAME_LENGTH
	Domain                                          [17]uint16 // DOMAIN_LENGTH
	UserName                                        [21]uint16 // USERNAME_LENGTH + 1
	ConnectTime, DisconnectTime, LastInputTime      int64
	LogonTime, CurrentTime                          int64
}

func TestWTSInfoLayout(t *testing.T) {
	if unsafe.Alignof(int64(0)) != 8 {
		t.Skip("int64 is not 8-byte aligned on this GOARCH, unlike LARGE_INTEGER in C")
	}
	var w wtsInfoW
	if got := unsafe.Offsetof(w.LogonTime); got != wtsInfoLogonTime {
		t.Errorf("LogonTime offset = %d, want %d", got, wtsInfoLogonTime)
	}
	if got := unsafe.Sizeof(w); got != wtsInfoSize {
		t.Errorf("sizeof WTSINFOW = %d, want %d", got, wtsInfoSize)
	}
}

// filetime returns t as a FILETIME.
func filetime(t time.Time) int64 { return t.UnixNano()/100 + filetimeUnixEpoch }

func wtsInfo(logon int64) []byte {
	b := make([]byte, wtsInfoSize)
	binary.LittleEndian.PutUint64(b[wtsInfoLogonTime:], uint64(logon))
	binary.LittleEndian.PutUint64(b[wtsInfoLogonTime-8:], 1) // LastInputTime
	binary.LittleEndian.PutUint64(b[wtsInfoLogonTime+8:], 2) // CurrentTime
	return b
}

func TestDecodeLogonTime(t *testing.T) {
	logon := at("2026-11-22T09:58:00.1234567Z")
	tests := []struct {
		name string
		in   []byte
		want time.Time
		ok   bool
	}{
		{"logon time", wtsInfo(filetime(logon)), logon, true},
		{"unix epoch", wtsInfo(filetimeUnixEpoch), time.Unix(0, 0).UTC(), true},
		{"1601", wtsInfo(1), time.Date(1601, 1, 1, 0, 0, 0, 100, time.UTC), true},
		{"unset", wtsInfo(0), time.Time{}, false},
		{"negative", wtsInfo(-5), time.Time{}, false},
		{"short", wtsInfo(filetime(logon))[:207], time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeLogonTime(tt.in)
			if !got.Equal(tt.want) || ok != tt.ok {
				t.Errorf("decodeLogonTime = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// utf16le encodes s as NUL-terminated UTF-16LE.
func utf16le(s string) []byte {
	var b []byte
	for _, c := range append(utf16.Encode([]rune(s)), 0) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

func TestUTF16z(t *testing.T) {
	for _, tt := range []struct {
		in   []byte
		want string
	}{
		{utf16le("Administrator"), "Administrator"},
		{utf16le("Zoë 😀"), "Zoë 😀"},
		{append(utf16le("a"), 'b', 0), "a"},     // stops at the NUL
		{[]byte{'a', 0, 'b', 0, 'c'}, "ab"},     // no NUL, odd length
		{[]byte{0x00, 0xd8, 'x', 0}, "\ufffdx"}, // lone surrogate
		{nil, ""},
	} {
		if got := utf16z(tt.in); got != tt.want {
			t.Errorf("utf16z(% x) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWTSSession(t *testing.T) {
	logon := at("2026-11-22T09:58:00Z")
	rdp := clientAddress(afInet, 0, 0, 198, 51, 100, 4)
	tests := []struct {
		name    string
		state   uint32
		user    string
		station string
		addr    []byte
		info    []byte
		want    report.Session
		ok      bool
	}{
		{"RDP", wtsActive, "zoe", "RDP-Tcp#3", rdp, wtsInfo(filetime(logon)),
			report.Session{User: "zoe", Terminal: "RDP-Tcp#3", Origin: "198.51.100.4", Started: logon, Source: "wts"}, true},
		{"console", wtsActive, "zoe", "Console", clientAddress(0), wtsInfo(filetime(logon)),
			report.Session{User: "zoe", Terminal: "Console", Started: logon, Source: "wts"}, true},
		{"disconnected, queries failed", wtsDisconnected, "zoe", "", nil, nil,
			report.Session{User: "zoe", Source: "wts"}, true},
		{"listener", 6, "", "RDP-Tcp", nil, nil, report.Session{}, false},
		{"services session", 4, "", "Services", nil, nil, report.Session{}, false},
		{"connected, not logged on", 1, "zoe", "RDP-Tcp#4", rdp, nil, report.Session{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := wtsSession(tt.state, tt.user, tt.station, tt.addr, tt.info)
			if ok != tt.ok {
				t.Errorf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("wtsSession mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzDecodeClientAddress(f *testing.F) {
	f.Add(clientAddress(afInet, 0, 0, 192, 168, 0, 1))
	f.Add(clientAddress(afInet6, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1))
	f.Add(clientAddress(0))
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := decodeClientAddress(b)
		if !ok {
			return
		}
		if !a.IsValid() || a.IsUnspecified() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("decodeClientAddress(% x) = %v", b, a)
		}
		if _, err := netip.ParseAddr(a.String()); err != nil {
			t.Fatalf("origin %q does not parse: %v", a, err)
		}
		if a.Is4() && binary.LittleEndian.Uint32(b) == afInet && a.As4() != [4]byte(b[6:10]) {
			t.Fatalf("IPv4 %v not from Address[2:6] of % x", a, b)
		}
	})
}

func FuzzDecodeLogonTime(f *testing.F) {
	f.Add(wtsInfo(filetime(at("2026-11-22T09:58:00Z"))))
	f.Add(wtsInfo(-1))
	f.Add(wtsInfo(1<<63 - 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		tm, ok := decodeLogonTime(b)
		if ok && (tm.IsZero() || tm.Location() != time.UTC) {
			t.Fatalf("decodeLogonTime = %v, %v", tm, ok)
		}
		if ok && filetime(tm) != int64(binary.LittleEndian.Uint64(b[wtsInfoLogonTime:])) && tm.Year() < 2200 && tm.Year() > 1700 {
			t.Fatalf("decodeLogonTime(%d) = %v does not round-trip", binary.LittleEndian.Uint64(b[wtsInfoLogonTime:]), tm)
		}
	})
}
