//go:build unix

// Package sdnotifytest stands in for systemd in tests: a unixgram socket
// that NOTIFY_SOCKET points at, as systemd sets up for a Type=notify unit.
package sdnotifytest

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// FakeSystemd listens where NOTIFY_SOCKET points for the rest of the test,
// with no watchdog set.
func FakeSystemd(tb testing.TB) *net.UnixConn {
	tb.Helper()
	dir := tb.TempDir()
	if len(dir) > 80 { // sun_path holds 108 bytes
		d, err := os.MkdirTemp("", "sd")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	tb.Setenv("NOTIFY_SOCKET", path)
	tb.Setenv("WATCHDOG_USEC", "")
	return conn
}
