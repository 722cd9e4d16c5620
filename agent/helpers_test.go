package agent

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/report"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// testReport is a valid report collected at at, with a time-ordered id.
func testReport(at time.Time) *report.Report {
	return &report.Report{Schema: report.Schema, ID: newID(), Agent: "vps-a", Stores: []string{"shop-a"},
		CollectedAt: at.UTC().Truncate(time.Millisecond), PublicIP: &report.PublicIP{V4: "203.0.113.7"}}
}

func openSpool(t testing.TB, dir string, opt SpoolOptions) *Spool {
	t.Helper()
	s, err := OpenSpool(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeClock is a Clock that moves only when told. At fires when the clock
// reaches its time, at once when it is there already, so that advancing to
// a retry time fires the retry however the race between the test and the
// retry loop goes.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock { return &fakeClock{now: now} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) At(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, fakeTimer{t, ch})
	return ch
}

// AdvanceTo moves the clock to t (never back) and fires the timers due.
func (c *fakeClock) AdvanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if !tm.at.After(c.now) {
			tm.ch <- c.now
		} else {
			kept = append(kept, tm)
		}
	}
	c.timers = kept
}

func (c *fakeClock) Advance(d time.Duration) { c.AdvanceTo(c.Now().Add(d)) }

// nextRetry is when the daemon will next try to deliver (zero: no retry).
func (d *Daemon) nextRetry() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.retryAt
}

// senderFunc adapts a function to Sender.
type senderFunc func(context.Context, *report.Report) error

func (f senderFunc) Send(ctx context.Context, r *report.Report) error { return f(ctx, r) }

// collectorFunc is a collector made of a function.
type collectorFunc func(context.Context, *report.Report) error

func (collectorFunc) Name() string                                          { return "test" }
func (f collectorFunc) Collect(ctx context.Context, r *report.Report) error { return f(ctx, r) }

// sees is a collector that sees a public IP.
var sees = collectorFunc(func(_ context.Context, r *report.Report) error {
	r.PublicIP = &report.PublicIP{V4: "203.0.113.7"}
	return nil
})

// testConfig is an agent configuration without jitter.
func testConfig() *config.Agent {
	cfg := config.DefaultAgent()
	cfg.AgentID, cfg.Stores = "vps-a", []string{"shop-a"}
	zero := config.Duration(0)
	cfg.Jitter = &zero
	return &cfg
}

// logSink collects log lines and tells when one contains a string.
type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	waiters map[string]chan struct{}
}

func newLogSink() *logSink { return &logSink{waiters: map[string]chan struct{}{}} }

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for s, ch := range l.waiters {
		if strings.Contains(l.buf.String(), s) {
			close(ch)
			delete(l.waiters, s)
		}
	}
	return len(p), nil
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// seen returns a channel closed once a log line contains s.
func (l *logSink) seen(s string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan struct{})
	if strings.Contains(l.buf.String(), s) {
		close(ch)
	} else {
		l.waiters[s] = ch
	}
	return ch
}

func (l *logSink) logger() zerolog.Logger { return zerolog.New(l) }

// every is a schedule faster than robfig/cron's "@every", which rounds to
// whole seconds.
type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

// never is a schedule whose first tick is far beyond any test.
type never struct{}

func (never) Next(t time.Time) time.Time { return t.Add(1000 * time.Hour) }

// waitFor receives from ch or fails the test after a generous deadline
// (a hang guard, not a synchronisation).
func waitFor[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
