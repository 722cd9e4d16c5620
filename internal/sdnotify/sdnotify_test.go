//go:build unix

package sdnotify

import (
	"github.com/storefence/storefence/internal/sdnotify/sdnotifytest"

	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func fakeSystemd(t *testing.T) *net.UnixConn { return sdnotifytest.FakeSystemd(t) }

// next reads one notification, with a deadline that only guards a hang.
func next(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

func TestReadyWatchdogStopping(t *testing.T) {
	conn := fakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "20000") // WatchdogSec=20ms: fed every 10ms
	t.Setenv("WATCHDOG_PID", "")
	n := New(zerolog.Nop())
	n.Ready()
	if got := next(t, conn); got != "READY=1" {
		t.Errorf("got %q, want READY=1", got)
	}
	stop := n.StartWatchdog(context.Background(), func() bool { return true })
	for range 3 {
		if got := next(t, conn); got != "WATCHDOG=1" {
			t.Errorf("got %q, want WATCHDOG=1", got)
		}
	}
	stop()
	// Drain a beat sent while stopping, then expect STOPPING.
	n.Stopping()
	for {
		got := next(t, conn)
		if got == "STOPPING=1" {
			break
		}
		if got != "WATCHDOG=1" {
			t.Fatalf("got %q, want STOPPING=1", got)
		}
	}
}

// TestWatchdogStarvedWhenUnhealthy: no WATCHDOG=1 while healthy says no.
func TestWatchdogStarvedWhenUnhealthy(t *testing.T) {
	conn := fakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "20000")
	asked := make(chan struct{}, 10)
	healthy := func() bool {
		select {
		case asked <- struct{}{}:
		default:
		}
		return false
	}
	stop := New(zerolog.Nop()).StartWatchdog(context.Background(), healthy)
	for range 3 {
		<-asked
	}
	stop()
	conn.SetReadDeadline(time.Now())
	if _, err := conn.Read(make([]byte, 64)); err == nil {
		t.Error("the watchdog was fed while unhealthy")
	}
}

func TestNothingWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	n := New(zerolog.Nop())
	n.Ready()
	n.Stopping()
	done := make(chan struct{})
	go func() { n.Watchdog(context.Background(), nil); close(done) }()
	<-done // returns at once: no watchdog
}

func TestWatchdogForAnotherProcess(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "20000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1)) // not us
	done := make(chan struct{})
	go func() { New(zerolog.Nop()).Watchdog(context.Background(), nil); close(done) }()
	<-done
}
