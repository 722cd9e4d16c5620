//go:build unix && !agentonly

package main

import (
	"github.com/storefence/storefence/internal/sdnotify/sdnotifytest"

	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/storefence/storefence/internal/dnstest"
)

func fakeSystemd(t *testing.T) *net.UnixConn { return sdnotifytest.FakeSystemd(t) }

// expect reads notifications until want, failing on anything but watchdog
// beats; the deadline only guards a hang.
func expect(t *testing.T, conn *net.UnixConn, want string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 256)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		switch got := string(buf[:n]); got {
		case want:
			return
		case "WATCHDOG=1":
		default:
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// runUntilReady runs a daemon command, waits for READY=1 (and a watchdog
// beat when asked), stops it and waits for STOPPING=1 and exit 0.
func runUntilReady(t *testing.T, conn *net.UnixConn, watchdog bool, run func(context.Context, *env, []string) int, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := newWatchBuffer()
	done := make(chan int, 1)
	go func() { done <- run(ctx, &env{stdout: io.Discard, stderr: logs, now: time.Now}, args) }()
	expect(t, conn, "READY=1")
	if watchdog {
		expect(t, conn, "WATCHDOG=1")
	}
	cancel()
	expect(t, conn, "STOPPING=1")
	if code := <-done; code != 0 {
		t.Errorf("exit %d:\n%s", code, logs)
	}
}

func TestAgentNotifiesSystemd(t *testing.T) {
	conn := fakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "40000")
	dns := dnstest.Start(t, dnstest.Echo(dnstest.Fixed("203.0.113.7")))
	p := agentYAML(t, "vps-a", "shop-a", "", "", t.TempDir(), dns)
	runUntilReady(t, conn, true, runAgent, "--config", p)
}

func TestServerNotifiesSystemd(t *testing.T) {
	conn := fakeSystemd(t)
	dir := t.TempDir()
	stores := writeFile(t, "stores.yaml", "stores:\n  - id: shop-a\n")
	admin := writeFile(t, "admin.token", "admin-token-0123456789abcdef\n")
	cfg := writeFile(t, "server.yaml", fmt.Sprintf("listen: 127.0.0.1:0\ndatabase: %q\nstores_file: %q\nadmin_token_file: %q\n",
		filepath.Join(dir, "sf.db"), stores, admin))
	runUntilReady(t, conn, false, runServer, "--config", cfg)
}
