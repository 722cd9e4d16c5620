package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/collector"
	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/report"
)

// Sender delivers one report to the server; *Client is the real one. A
// *SendError whose Retry is false is final for that report; any other error
// may pass later.
type Sender interface {
	Send(ctx context.Context, r *report.Report) error
}

// Clock is the daemon's time: the system clock, or a fake in tests.
type Clock interface {
	Now() time.Time
	// At returns a channel that receives once the clock has reached t.
	// (A deadline rather than a duration: a fake clock that moves between
	// reading Now and arming the timer cannot then push the deadline.)
	At(t time.Time) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                  { return time.Now() }
func (systemClock) At(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

// DaemonOptions configure a Daemon. Config, Spool and Log are required.
type DaemonOptions struct {
	Config     *config.Agent
	Collectors []collector.Collector
	Spool      *Spool
	Sender     Sender // nil: no server is configured, reports are only spooled
	Log        zerolog.Logger
	Version    string // the agent build, stamped in every report
	// Schedule replaces Config.Schedule when set (robfig/cron rounds
	// "@every" up to whole seconds; tests tick faster).
	Schedule cron.Schedule
	Clock    Clock   // nil: the system clock
	Backoff  Backoff // zero: DefaultBackoff
	// Rand draws jitter and backoff in [0, n); nil: math/rand/v2.
	Rand func(n int64) int64
	// StopTimeout bounds how long Run waits for a running job when its
	// context ends; 0: 30s.
	StopTimeout time.Duration
	// StuckAfter is how long a run or a delivery may go without progress
	// before Healthy turns false (and the systemd watchdog stops being
	// fed); 0: 10m.
	StuckAfter time.Duration
	// OnReady is called once the schedule is armed, OnStopping when the
	// context ends (systemd READY=1 and STOPPING=1).
	OnReady, OnStopping func()
}

// Daemon collects on a schedule, spools every report and delivers the spool
// in order. Runs never overlap; a panic in one is logged and the next runs.
// After a delivery fails for a reason that may pass, it retries on a capped,
// jittered exponential backoff (never before the server's Retry-After)
// between the ticks of the schedule too.
type Daemon struct {
	cfg         *config.Agent
	cs          []collector.Collector
	spool       *Spool
	sender      Sender
	log         zerolog.Logger
	version     string
	sched       cron.Schedule
	clock       Clock
	backoff     Backoff
	rand        func(int64) int64
	jitter      time.Duration
	stopTimeout time.Duration
	stuckAfter  time.Duration
	onReady     func()
	onStopping  func()

	drainMu sync.Mutex // one delivery pass at a time

	mu       sync.Mutex
	failures int       // retryable delivery failures in a row
	retryAt  time.Time // no delivery before; zero: none pending
	lastErr  string    // the kind of the last failure, to log changes only
	rearm    chan struct{}

	busy     atomic.Int32              // runs and delivery passes under way
	lastBeat atomic.Pointer[time.Time] // the last progress (monotonic reading kept)

	// Test hooks, called after every run and every delivery pass.
	afterRun   func(RunResult)
	afterDrain func(DrainResult)
}

// RunResult is what one run did.
type RunResult struct {
	Report    *report.Report // nil when the run stopped before it collected
	Collected bool           // some collector saw something (see Collect)
	Spooled   bool
	Delivered bool // the run's own report reached the server
	DrainResult
}

// DrainResult is what one delivery pass over the spool did.
type DrainResult struct {
	Sent     []string // ids the server took, in order
	Rejected []string // ids (or file names, when corrupt) moved to rejected/
	Queued   int      // reports left in the spool
	Deferred bool     // nothing was tried: a retry is pending
	Err      error    // what stopped the pass: a retryable failure, the context, or nil
}

// NewDaemon checks opt and builds a daemon.
func NewDaemon(opt DaemonOptions) (*Daemon, error) {
	if opt.Config == nil || opt.Spool == nil {
		return nil, errors.New("agent: a daemon needs a configuration and a spool")
	}
	d := &Daemon{
		cfg: opt.Config, cs: opt.Collectors, spool: opt.Spool, sender: opt.Sender, log: opt.Log,
		version: opt.Version, sched: opt.Schedule, clock: opt.Clock, backoff: opt.Backoff, rand: opt.Rand,
		jitter: opt.Config.JitterMax(), stopTimeout: opt.StopTimeout, stuckAfter: opt.StuckAfter,
		onReady: opt.OnReady, onStopping: opt.OnStopping, rearm: make(chan struct{}, 1),
	}
	if d.sched == nil {
		s, err := cron.ParseStandard(opt.Config.Schedule)
		if err != nil {
			return nil, fmt.Errorf("agent: schedule %q: %w", opt.Config.Schedule, err)
		}
		d.sched = s
	}
	if d.clock == nil {
		d.clock = systemClock{}
	}
	if d.backoff == (Backoff{}) {
		d.backoff = DefaultBackoff
	}
	if d.rand == nil {
		d.rand = rand.Int64N
	}
	if d.stopTimeout <= 0 {
		d.stopTimeout = 30 * time.Second
	}
	if d.stuckAfter <= 0 {
		d.stuckAfter = 10 * time.Minute
	}
	d.beat()
	return d, nil
}

// Run runs the schedule until ctx ends, then waits for the running job,
// at most StopTimeout. Every job works under ctx, so that a stop cuts its
// collection or delivery short; what is spooled stays for the next start.
func (d *Daemon) Run(ctx context.Context) error {
	cl := cronLog{d.log}
	// Recover must sit inside SkipIfStillRunning: robfig/cron's skipper
	// hands its token back after the job without a defer, so a panic
	// passing through it would make every later tick a skip.
	c := cron.New(cron.WithLogger(cl), cron.WithChain(cron.SkipIfStillRunning(cl), cron.Recover(cl)))
	c.Schedule(d.sched, cron.FuncJob(func() { d.job(ctx) }))
	// What a previous process left in the spool goes out at once, not at
	// the first tick.
	st, _ := d.spool.Stats()
	retryDone := make(chan struct{})
	go func() {
		defer close(retryDone)
		d.retryLoop(ctx, st.Queued > 0)
	}()
	c.Start()
	ev := d.log.Info().Str("agent", AgentID(d.cfg)).Strs("stores", d.cfg.Stores).Str("schedule", d.cfg.Schedule).
		Dur("jitter", d.jitter).Str("spool", d.spool.Dir()).Int64("queued", st.Queued).Int64("dropped", st.Dropped)
	if h, ok := d.sender.(interface{ Host() string }); ok {
		ev = ev.Str("server", h.Host())
	} else if d.sender == nil {
		ev = ev.Str("server", "none: reports are only spooled")
	}
	ev.Msg("agent running")
	if d.onReady != nil {
		d.onReady()
	}
	<-ctx.Done()
	if d.onStopping != nil {
		d.onStopping()
	}
	d.log.Info().Msg("agent stopping")
	stopped := c.Stop()
	deadline := time.NewTimer(d.stopTimeout)
	defer deadline.Stop()
	for _, done := range []<-chan struct{}{stopped.Done(), retryDone} {
		select {
		case <-done:
		case <-deadline.C:
			d.log.Warn().Dur("timeout", d.stopTimeout).Msg("agent stopped with a run still going; its report stays spooled")
			return nil
		}
	}
	return nil
}

// RunOnce collects, spools and delivers the spool once (agent --once).
func (d *Daemon) RunOnce(ctx context.Context) RunResult { return d.cycle(ctx) }

// Healthy reports whether the daemon is making progress: false when a run
// or delivery has gone StuckAfter without any.
func (d *Daemon) Healthy() bool {
	if d.busy.Load() == 0 {
		return true
	}
	return d.clock.Now().Sub(*d.lastBeat.Load()) < d.stuckAfter
}

func (d *Daemon) beat() {
	now := d.clock.Now()
	d.lastBeat.Store(&now)
}

// job is one tick of the schedule: a random delay, then a run.
func (d *Daemon) job(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	if d.jitter > 0 {
		select {
		case <-d.clock.At(d.clock.Now().Add(time.Duration(d.rand(int64(d.jitter) + 1)))):
		case <-ctx.Done():
			return
		}
	}
	res := d.cycle(ctx)
	if d.afterRun != nil {
		d.afterRun(res)
	}
}

// cycle collects a report, spools it and delivers the spool.
func (d *Daemon) cycle(ctx context.Context) (res RunResult) {
	d.busy.Add(1)
	defer d.busy.Add(-1)
	d.beat()
	st, err := d.spool.Stats()
	if err != nil {
		d.log.Error().Err(err).Msg("spool unreadable")
	}
	start := d.clock.Now()
	r, ok := Collect(ctx, d.cfg, d.cs, start, d.version, d.log)
	if ctx.Err() != nil {
		res.Err = ctx.Err() // stopping: a collection cut short is not reported
		return res
	}
	d.beat()
	r.Spool = &report.SpoolStats{Queued: st.Queued, Dropped: st.Dropped}
	res.Report, res.Collected = r, ok
	if err := d.spool.Put(r); err != nil {
		// A full or read-only disk must not silence the agent: send this
		// report directly, once.
		d.log.Error().Err(err).Str("report", r.ID).Msg("spooling the report failed; sending it directly")
		if d.sender != nil && !d.backingOff() {
			if res.Err = d.sender.Send(ctx, r); res.Err == nil {
				res.Delivered = true
				res.Sent = []string{r.ID}
				d.reachable()
			} else if ctx.Err() == nil {
				d.failed(res.Err)
			}
		}
		return res
	}
	res.Spooled = true
	res.DrainResult = d.drain(ctx)
	res.Delivered = slices.Contains(res.Sent, r.ID)
	ev := d.log.Info()
	if !ok {
		ev = d.log.Warn()
	}
	ev.Str("report", r.ID).Bool("facts", ok).Int("collector_errors", len(r.Errors)).
		Dur("duration", d.clock.Now().Sub(start)).Int("sent", len(res.Sent)).Int("queued", res.Queued).
		Msg("run done")
	return res
}

// drain sends the spooled reports oldest first until one fails for a reason
// that may pass; that one and the younger stay for the retry.
func (d *Daemon) drain(ctx context.Context) (res DrainResult) {
	if d.sender == nil {
		st, _ := d.spool.Stats()
		res.Queued = int(st.Queued)
		return res
	}
	d.busy.Add(1)
	defer d.busy.Add(-1)
	d.drainMu.Lock()
	defer d.drainMu.Unlock()
	if d.backingOff() {
		st, _ := d.spool.Stats()
		res.Queued, res.Deferred = int(st.Queued), true
		return res
	}
	es, err := d.spool.Entries()
	if err != nil {
		d.log.Error().Err(err).Msg("spool unreadable")
		res.Err = err
		return res
	}
	res.Queued = len(es)
	for _, e := range es {
		if ctx.Err() != nil {
			res.Err = ctx.Err()
			return res
		}
		d.beat()
		r, err := d.spool.Read(e)
		switch {
		case errors.Is(err, fs.ErrNotExist): // dropped, or sent by another process
			res.Queued--
			continue
		case err != nil:
			d.log.Error().Err(err).Msg("a spooled report is unreadable; moved to rejected")
			d.reject(e)
			res.Rejected = append(res.Rejected, e.Name)
			res.Queued--
			continue
		}
		err = d.sender.Send(ctx, r)
		var se *SendError
		switch {
		case err == nil:
			if err := d.spool.Remove(e); err != nil {
				d.log.Error().Err(err).Msg("removing a delivered report failed; it will be sent again, and counted once")
			}
			res.Sent = append(res.Sent, r.ID)
			res.Queued--
			d.reachable()
		case ctx.Err() != nil:
			res.Err = ctx.Err()
			return res
		case errors.As(err, &se) && !se.Retry:
			d.log.Error().Str("report", r.ID).Int("status", se.Status).Str("reason", se.Msg).
				Msg("the server refused the report for good; moved to rejected")
			d.reject(e)
			res.Rejected = append(res.Rejected, r.ID)
			res.Queued--
			d.reachable()
		default:
			d.failed(err)
			res.Err = err
			return res
		}
	}
	return res
}

func (d *Daemon) reject(e SpoolEntry) {
	if err := d.spool.Reject(e); err != nil {
		d.log.Error().Err(err).Msg("moving a report to rejected failed")
	}
}

// backingOff reports whether a retry is pending and not yet due.
func (d *Daemon) backingOff() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.retryAt.IsZero() && d.clock.Now().Before(d.retryAt)
}

// failed schedules the next delivery after a retryable failure.
func (d *Daemon) failed(err error) {
	var after time.Duration
	var se *SendError
	if errors.As(err, &se) {
		after = se.After
	}
	kind := failureKind(err)
	d.mu.Lock()
	d.failures++
	n := d.failures
	delay := d.backoff.Delay(n, after, d.rand)
	d.retryAt = d.clock.Now().Add(delay)
	changed := kind != d.lastErr
	d.lastErr = kind
	d.mu.Unlock()
	ev := d.log.Debug()
	if changed { // in a retry loop, say it when it changes
		ev = d.log.Warn()
	}
	ev.Err(err).Int("attempt", n).Dur("retry_in", delay).Dur("retry_after", after).
		Msg("delivery failed; the reports stay spooled")
	d.poke()
}

// failureKind groups failures for logging: one line when the server stops
// answering, one when it answers 503, not one per attempt.
func failureKind(err error) string {
	var se *SendError
	switch {
	case errors.As(err, &se) && se.Status != 0:
		return "status " + strconv.Itoa(se.Status)
	case errors.As(err, &se):
		return "unreachable"
	}
	return err.Error()
}

// reachable clears the backoff after the server answered.
func (d *Daemon) reachable() {
	d.mu.Lock()
	was := d.failures > 0
	d.failures, d.retryAt, d.lastErr = 0, time.Time{}, ""
	d.mu.Unlock()
	if was {
		d.log.Info().Msg("the server answers again; delivering the spooled reports")
		d.poke()
	}
}

// poke tells the retry loop that the retry time changed.
func (d *Daemon) poke() {
	select {
	case d.rearm <- struct{}{}:
	default:
	}
}

// retryLoop delivers the spool at once when leftover is set, then runs a
// delivery pass whenever a pending retry falls due, between the ticks of
// the schedule.
func (d *Daemon) retryLoop(ctx context.Context, leftover bool) {
	if leftover {
		d.safeDrain(ctx)
	}
	for {
		d.mu.Lock()
		at := d.retryAt
		d.mu.Unlock()
		var due <-chan time.Time
		if !at.IsZero() {
			due = d.clock.At(at)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.rearm:
		case <-due:
			d.safeDrain(ctx)
		}
	}
}

// safeDrain is drain with panics recovered and counted as failures, so that
// the retry loop neither dies nor spins.
func (d *Daemon) safeDrain(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			d.log.Error().Interface("panic", p).Msg("delivery panicked")
			d.failed(fmt.Errorf("panic: %v", p))
		}
	}()
	if d.sender == nil {
		return
	}
	res := d.drain(ctx)
	if d.afterDrain != nil {
		d.afterDrain(res)
	}
}

// cronLog is robfig/cron's Logger on zerolog: its chatter at debug, a
// skipped run as a warning, a recovered panic as an error.
type cronLog struct{ log zerolog.Logger }

func (l cronLog) Info(msg string, kv ...any) {
	if msg == "skip" {
		l.log.Warn().Msg("run skipped: the previous run is still going")
		return
	}
	l.log.Debug().Fields(kv).Msg("cron: " + msg)
}

func (l cronLog) Error(err error, msg string, kv ...any) {
	l.log.Error().Err(err).Fields(kv).Msg("cron: " + msg)
}
