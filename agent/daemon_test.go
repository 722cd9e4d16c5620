package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/collector"
	"github.com/storefence/storefence/report"
)

// newTestDaemon builds a daemon on a fresh spool with a fake clock at t0.
func newTestDaemon(t *testing.T, opt DaemonOptions) (*Daemon, *fakeClock) {
	t.Helper()
	clk, _ := opt.Clock.(*fakeClock)
	if opt.Clock == nil {
		clk = newFakeClock(t0)
		opt.Clock = clk
	}
	if opt.Config == nil {
		opt.Config = testConfig()
	}
	if opt.Spool == nil {
		opt.Spool = openSpool(t, t.TempDir(), SpoolOptions{RejectedMax: 10, Now: opt.Clock.Now})
	}
	if opt.Collectors == nil {
		opt.Collectors = []collector.Collector{sees}
	}
	d, err := NewDaemon(opt)
	if err != nil {
		t.Fatal(err)
	}
	return d, clk
}

// runDaemon runs d until the test ends, returning once its schedule is
// armed.
func runDaemon(t *testing.T, d *Daemon) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	onReady := d.onReady
	d.onReady = func() {
		if onReady != nil {
			onReady()
		}
		close(ready)
	}
	go func() { done <- d.Run(ctx) }()
	waitFor(t, ready, "the daemon to be ready")
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := waitFor(t, done, "Run to return"); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestRunOnceDeliversInOrder(t *testing.T) {
	var got []string
	send := senderFunc(func(_ context.Context, r *report.Report) error {
		got = append(got, r.ID)
		return nil
	})
	d, _ := newTestDaemon(t, DaemonOptions{Sender: send})
	old1, old2 := testReport(t0.Add(-2*time.Hour)), testReport(t0.Add(-time.Hour))
	d.spool.Put(old2)
	d.spool.Put(old1)
	res := d.RunOnce(context.Background())
	if !res.Delivered || !res.Collected || res.Err != nil || res.Queued != 0 {
		t.Errorf("RunOnce = %+v", res)
	}
	if diff := cmp.Diff([]string{old1.ID, old2.ID, res.Report.ID}, got); diff != "" {
		t.Errorf("delivery order (-want +got):\n%s", diff)
	}
	if res.Report.Spool == nil || *res.Report.Spool != (report.SpoolStats{Queued: 2}) {
		t.Errorf("the report's spool field = %+v, want the 2 queued before it", res.Report.Spool)
	}
}

func TestNoServerSpoolsOnly(t *testing.T) {
	d, _ := newTestDaemon(t, DaemonOptions{})
	for i := range 3 {
		res := d.RunOnce(context.Background())
		if !res.Spooled || res.Delivered || res.Queued != i+1 {
			t.Errorf("run %d: %+v", i, res)
		}
	}
}

// TestDropsAreReportedUpstream: reports dropped while the server was away
// are counted in the spool field of every later report, across restarts.
func TestDropsAreReportedUpstream(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock(t0)
	opt := SpoolOptions{MaxBytes: 1500, Now: clk.Now} // room for a few small reports
	down := errors.New("down")
	var up atomic.Bool
	var delivered []*report.Report
	send := senderFunc(func(_ context.Context, r *report.Report) error {
		if !up.Load() {
			return &SendError{Retry: true, Msg: down.Error()}
		}
		delivered = append(delivered, r)
		return nil
	})
	d, _ := newTestDaemon(t, DaemonOptions{Sender: send, Clock: clk, Spool: openSpool(t, dir, opt)})
	for range 10 {
		d.RunOnce(context.Background())
		clk.Advance(time.Minute)
	}
	st, _ := d.spool.Stats()
	if st.Dropped == 0 || st.Queued+st.Dropped != 10 {
		t.Fatalf("stats %+v: want drops, and every report either queued or dropped", st)
	}
	// A restart: a new spool and daemon on the same directory.
	up.Store(true)
	clk.Advance(time.Hour)
	d2, _ := newTestDaemon(t, DaemonOptions{Sender: send, Clock: clk, Spool: openSpool(t, dir, opt)})
	res := d2.RunOnce(context.Background())
	if !res.Delivered {
		t.Fatalf("RunOnce after the restart: %+v", res)
	}
	last := delivered[len(delivered)-1]
	if want := (report.SpoolStats{Queued: st.Queued, Dropped: st.Dropped}); last.Spool == nil || *last.Spool != want {
		t.Errorf("spool field %+v, want %+v", last.Spool, want)
	}
	st2, _ := d2.spool.Stats()
	if extra := st2.Dropped - st.Dropped; len(delivered) != int(st.Queued+1-extra) || st2.Queued != 0 {
		t.Errorf("delivered %d, want the %d queued and the new one, less %d dropped to make room", len(delivered), st.Queued, extra)
	}
}

func TestPermanentErrorRejects(t *testing.T) {
	var bad string
	var sent []string
	send := senderFunc(func(_ context.Context, r *report.Report) error {
		if r.ID == bad {
			return &SendError{Status: 400, Msg: "public_ip.v4: not an IPv4 address"}
		}
		sent = append(sent, r.ID)
		return nil
	})
	sink := newLogSink()
	d, _ := newTestDaemon(t, DaemonOptions{Sender: send, Log: sink.logger()})
	a, b := testReport(t0.Add(-2*time.Minute)), testReport(t0.Add(-time.Minute))
	bad = a.ID
	d.spool.Put(a)
	d.spool.Put(b)
	res := d.RunOnce(context.Background())
	if diff := cmp.Diff([]string{b.ID, res.Report.ID}, sent); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{a.ID}, res.Rejected); diff != "" {
		t.Errorf("rejected (-want +got):\n%s", diff)
	}
	if rej, _ := d.spool.Rejected(); len(rej) != 1 || !strings.Contains(rej[0], a.ID) {
		t.Errorf("rejected/ = %v", rej)
	}
	if !d.nextRetry().IsZero() {
		t.Error("a permanent error scheduled a retry")
	}
	if !strings.Contains(sink.String(), `"status":400`) {
		t.Errorf("the rejection is not logged with its status:\n%s", sink)
	}
}

func TestCorruptFilesAreRejected(t *testing.T) {
	var sent []string
	send := senderFunc(func(_ context.Context, r *report.Report) error {
		sent = append(sent, r.ID)
		return nil
	})
	d, _ := newTestDaemon(t, DaemonOptions{Sender: send})
	dir := d.spool.Dir()
	good := testReport(t0.Add(-time.Minute))
	d.spool.Put(good)
	trunc, bad := testReport(t0.Add(-3*time.Minute)), testReport(t0.Add(-2*time.Minute))
	for _, c := range []struct {
		r    *report.Report
		data string
	}{{trunc, `{"schema":"storefence.report/v1","id":"` + trunc.ID}, {bad, "\x00not json"}} {
		name, _ := entryName(c.r)
		os.WriteFile(filepath.Join(dir, name), []byte(c.data), 0o600)
	}
	res := d.RunOnce(context.Background())
	if diff := cmp.Diff([]string{good.ID, res.Report.ID}, sent); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	if len(res.Rejected) != 2 {
		t.Errorf("rejected %v, want the 2 corrupt files", res.Rejected)
	}
	if rej, _ := d.spool.Rejected(); len(rej) != 2 {
		t.Errorf("rejected/ = %v", rej)
	}
}

// TestRetryBackoffBetweenTicks: after retryable failures the retry loop
// delivers on the backoff timer, with no tick of the schedule, and every
// wait is within the capped exponential ceiling.
func TestRetryBackoffBetweenTicks(t *testing.T) {
	var calls atomic.Int32
	send := senderFunc(func(context.Context, *report.Report) error {
		if calls.Add(1) <= 4 {
			return &SendError{Retry: true, Msg: "connection refused"}
		}
		return nil
	})
	b := Backoff{Base: time.Second, Cap: 4 * time.Second}
	d, clk := newTestDaemon(t, DaemonOptions{Sender: send, Schedule: never{}, Backoff: b,
		Rand: func(n int64) int64 { return n - 1 }}) // always the ceiling
	drains := make(chan DrainResult, 10)
	d.afterDrain = func(r DrainResult) { drains <- r }
	r := testReport(t0)
	d.spool.Put(r)
	runDaemon(t, d)
	// The first pass runs at start, for what the spool holds.
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	for i := range 5 {
		res := waitFor(t, drains, fmt.Sprintf("delivery pass %d", i))
		if i == 4 {
			if diff := cmp.Diff([]string{r.ID}, res.Sent); diff != "" || res.Err != nil {
				t.Fatalf("last pass: %+v", res)
			}
			break
		}
		if res.Err == nil {
			t.Fatalf("pass %d succeeded early: %+v", i, res)
		}
		at := d.nextRetry()
		if got := at.Sub(clk.Now()); got != want[i] {
			t.Errorf("retry %d in %v, want %v", i+1, got, want[i])
		}
		clk.AdvanceTo(at)
	}
	if !d.nextRetry().IsZero() {
		t.Error("a retry is still pending after the delivery")
	}
}

// TestBackingOffDefersRuns: while a retry is pending, runs spool their
// report without trying the server.
func TestBackingOffDefersRuns(t *testing.T) {
	var calls atomic.Int32
	send := senderFunc(func(context.Context, *report.Report) error {
		calls.Add(1)
		return &SendError{Status: 503, Retry: true, Msg: "database unavailable"}
	})
	d, _ := newTestDaemon(t, DaemonOptions{Sender: send})
	first := d.RunOnce(context.Background())
	if first.Err == nil || first.Delivered {
		t.Fatalf("first run: %+v", first)
	}
	for i := range 3 {
		res := d.RunOnce(context.Background())
		if !res.Deferred || res.Queued != i+2 || res.Report.Spool.Queued != int64(i+1) {
			t.Errorf("run %d: %+v (spool field %+v)", i+2, res.DrainResult, res.Report.Spool)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("%d sends while backing off, want 1", calls.Load())
	}
}

// TestFailureLoggedOnChange: a retry loop logs a failure when it changes,
// not at every attempt.
func TestFailureLoggedOnChange(t *testing.T) {
	sink := newLogSink()
	var status atomic.Int32
	status.Store(0)
	send := senderFunc(func(context.Context, *report.Report) error {
		return &SendError{Status: int(status.Load()), Retry: true, Msg: fmt.Sprint("attempt at ", time.Now().UnixNano())}
	})
	d, clk := newTestDaemon(t, DaemonOptions{Sender: send, Log: sink.logger().Level(zerolog.InfoLevel)})
	for i := range 6 {
		if i == 3 {
			status.Store(503)
		}
		d.RunOnce(context.Background())
		clk.AdvanceTo(d.nextRetry())
	}
	if n := strings.Count(sink.String(), "delivery failed"); n != 2 {
		t.Errorf("%d failure lines for 2 kinds of failure:\n%s", n, sink)
	}
}

// TestDaemonNoOverlapAndRecovers runs the real cron on a fast schedule: a
// slow run makes ticks skip rather than overlap, a panicking collector and
// a panicking sender are recovered, and the daemon runs on.
func TestDaemonNoOverlapAndRecovers(t *testing.T) {
	sink := newLogSink()
	var inFlight, overlaps, runs atomic.Int32
	release := make(chan struct{})
	slow := collectorFunc(func(_ context.Context, r *report.Report) error {
		defer inFlight.Add(-1)
		if inFlight.Add(1) > 1 {
			overlaps.Add(1)
		}
		switch runs.Add(1) {
		case 2:
			<-release // held until a tick has been skipped
		case 3:
			panic("collector bug")
		}
		r.PublicIP = &report.PublicIP{V4: "203.0.113.7"}
		return nil
	})
	var sends atomic.Int32
	send := senderFunc(func(context.Context, *report.Report) error {
		if sends.Add(1) == 4 {
			panic("sender bug")
		}
		return nil
	})
	ran := make(chan RunResult, 100)
	d, _ := newTestDaemon(t, DaemonOptions{Sender: send, Collectors: []collector.Collector{slow},
		Schedule: every(10 * time.Millisecond), Clock: systemClock{}, Log: sink.logger()})
	d.afterRun = func(r RunResult) {
		select {
		case ran <- r:
		default:
		}
	}
	stop := runDaemon(t, d)
	waitFor(t, sink.seen("run skipped"), "a skipped tick")
	close(release)
	waitFor(t, sink.seen("cron: panic"), "the sender's panic to be recovered")
	for runs.Load() < 8 {
		waitFor(t, ran, "more runs")
	}
	stop()
	if overlaps.Load() != 0 {
		t.Errorf("%d overlapping runs", overlaps.Load())
	}
	n := runs.Load()
	if n < 8 {
		t.Errorf("%d runs", n)
	}
	// The collector's panic became a collector error in its report.
	if !strings.Contains(sink.String(), "panic: collector bug") {
		t.Errorf("the collector's panic is not recorded:\n%s", sink)
	}
	// Nothing runs after Run returned.
	if runs.Load() != n {
		t.Errorf("runs after stop")
	}
}

// TestStopWaitsForTheRunningJob: at stop, Run waits for the running job
// (which sees its context end), and no longer than StopTimeout for a job
// that ignores it.
func TestStopWaitsForTheRunningJob(t *testing.T) {
	t.Run("job honours ctx", func(t *testing.T) {
		started, finished := make(chan struct{}), make(chan struct{})
		c := collectorFunc(func(ctx context.Context, r *report.Report) error {
			close(started)
			<-ctx.Done()
			close(finished)
			return ctx.Err()
		})
		d, _ := newTestDaemon(t, DaemonOptions{Collectors: []collector.Collector{c}, Schedule: every(time.Millisecond), Clock: systemClock{}})
		stop := runDaemon(t, d)
		<-started
		stop()
		select {
		case <-finished:
		default:
			t.Error("Run returned before the running job finished")
		}
		if st, _ := d.spool.Stats(); st.Queued != 0 {
			t.Errorf("a collection cut short by the stop was spooled")
		}
	})
	t.Run("job ignores ctx", func(t *testing.T) {
		started, hold := make(chan struct{}), make(chan struct{})
		defer close(hold)
		var once sync.Once
		c := collectorFunc(func(context.Context, *report.Report) error {
			once.Do(func() { close(started) })
			<-hold
			return nil
		})
		sink := newLogSink()
		d, _ := newTestDaemon(t, DaemonOptions{Collectors: []collector.Collector{c}, Schedule: every(time.Millisecond),
			Clock: systemClock{}, StopTimeout: 50 * time.Millisecond, Log: sink.logger()})
		stop := runDaemon(t, d)
		<-started
		stop()
		if !strings.Contains(sink.String(), "run still going") {
			t.Errorf("no warning about the unfinished run:\n%s", sink)
		}
	})
}

func TestReadyAndStoppingHooks(t *testing.T) {
	var events []string
	var mu sync.Mutex
	add := func(s string) func() {
		return func() { mu.Lock(); events = append(events, s); mu.Unlock() }
	}
	ready := make(chan struct{})
	d, _ := newTestDaemon(t, DaemonOptions{Schedule: never{},
		OnReady: func() { add("ready")(); close(ready) }, OnStopping: add("stopping")})
	stop := runDaemon(t, d)
	<-ready
	stop()
	if !slices.Equal(events, []string{"ready", "stopping"}) {
		t.Errorf("events %v", events)
	}
}

func TestHealthy(t *testing.T) {
	block := make(chan struct{})
	entered := make(chan struct{})
	c := collectorFunc(func(context.Context, *report.Report) error {
		close(entered)
		<-block
		return nil
	})
	d, clk := newTestDaemon(t, DaemonOptions{Collectors: []collector.Collector{c}, StuckAfter: time.Minute})
	if !d.Healthy() {
		t.Error("idle daemon unhealthy")
	}
	done := make(chan struct{})
	go func() { d.RunOnce(context.Background()); close(done) }()
	<-entered
	if !d.Healthy() {
		t.Error("unhealthy at the start of a run")
	}
	clk.Advance(2 * time.Minute)
	if d.Healthy() {
		t.Error("healthy while a run is stuck")
	}
	close(block)
	<-done
	if !d.Healthy() {
		t.Error("unhealthy after the run")
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Base: time.Second, Cap: 5 * time.Minute}
	var got []time.Duration
	for n := 1; n <= 11; n++ {
		got = append(got, b.Ceiling(n))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300}
	for i := range want {
		want[i] *= time.Second
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ceilings (-want +got):\n%s", diff)
	}
	top := func(n int64) int64 { return n - 1 }
	zero := func(int64) int64 { return 0 }
	if d := b.Delay(3, 0, top); d != 4*time.Second {
		t.Errorf("Delay(3) at the top = %v", d)
	}
	if d := b.Delay(3, 0, zero); d != 0 {
		t.Errorf("Delay(3) at the bottom = %v (full jitter starts at 0)", d)
	}
	if d := b.Delay(1, 30*time.Second, top); d != 30*time.Second {
		t.Errorf("Retry-After 30s: Delay = %v", d)
	}
	for range 1000 {
		if d := b.Delay(20, 0, nil); d < 0 || d > 5*time.Minute {
			t.Fatalf("Delay out of [0, cap]: %v", d)
		}
	}
}
