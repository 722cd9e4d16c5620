// Package dispatch is the notification lifecycle of the server: after each
// evaluation it works out which findings opened, grew, escalated or
// resolved (and which critical ones are due a reminder), groups one
// evaluation's changes into one message per channel, routed by severity and
// store, and queues them in the database's durable outbox; one sender per
// channel drains the outbox at the vendor's rate limit, retrying with
// backoff for up to 72 hours, and turns what cannot be delivered into dead
// letters. It also sends the daily digest and `storefence notify test`.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/policy"
)

// Defaults of Options.
const (
	DefaultMaxAge = 72 * time.Hour   // a message undelivered this long becomes a dead letter
	DefaultPoll   = 2 * time.Second  // how often an idle sender looks at the outbox (other replicas' messages)
	DefaultLease  = 2 * time.Minute  // how long a claimed message is a sender's
	sendTimeout   = 30 * time.Second // at most; never more than half the lease
	maxBackoff    = 15 * time.Minute
	keepFinished  = 7 * 24 * time.Hour // sent and dead messages kept for inspection
)

// Clock is the dispatcher's time; tests simulate it.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Channel is one configured chat destination, ready to send.
type Channel struct {
	Name        string
	Kind        string
	Language    string          // en or zh-CN
	Keyword     string          // added to every message when missing (DingTalk, Feishu)
	MinSeverity policy.Severity // findings below it are not sent here
	Stores      []string        // only findings touching one of these; empty: all
	Template    *template.Template
	Notifier    notify.Notifier
	Limits      []Window
}

// wants reports whether c routes to this channel.
func (ch *Channel) wants(c Change) bool {
	if severityOf(c.State.Severity) < ch.MinSeverity {
		return false
	}
	return ch.touches(c.State.Stores)
}

func (ch *Channel) touches(stores []string) bool {
	if len(ch.Stores) == 0 {
		return true
	}
	for _, s := range stores {
		if slices.Contains(ch.Stores, s) {
			return true
		}
	}
	return false
}

// Options configure a Dispatcher.
type Options struct {
	DB             db.Notifications
	Channels       []Channel
	RepeatInterval time.Duration // reminders of open critical findings; 0: none
	Digest         string        // cron schedule of the daily digest; "": none
	Clock          Clock         // real time when nil
	Log            zerolog.Logger
	Reg            prometheus.Registerer // nil: no metrics registered
	Owner          string                // this replica's name for outbox leases
	MaxAge         time.Duration         // DefaultMaxAge when 0
	Poll           time.Duration         // DefaultPoll when 0
	// Lease is how long a claimed message is this replica's (DefaultLease
	// when 0): after a crash, its messages wait this long before another
	// sender (or this one, restarted) takes them.
	Lease time.Duration
}

// Dispatcher runs the lifecycle. Create it with New, feed it audits with
// OnEvaluate, and Run it.
type Dispatcher struct {
	opt      Options
	clock    Clock
	log      zerolog.Logger
	channels []*sender
	digest   cron.Schedule
	last     atomic.Pointer[policy.Audit]
	m        *metrics
}

// sender is one channel's delivery state.
type sender struct {
	Channel
	limiter *limiter
	kick    chan struct{}
	backoff time.Duration
	lastErr string // the last error logged, to log only changes
}

// New checks opt and builds a Dispatcher.
func New(opt Options) (*Dispatcher, error) {
	d := &Dispatcher{opt: opt, clock: opt.Clock, log: opt.Log}
	if d.clock == nil {
		d.clock = realClock{}
	}
	if d.opt.MaxAge == 0 {
		d.opt.MaxAge = DefaultMaxAge
	}
	if d.opt.Poll == 0 {
		d.opt.Poll = DefaultPoll
	}
	if d.opt.Lease == 0 {
		d.opt.Lease = DefaultLease
	}
	if d.opt.Owner == "" {
		return nil, errors.New("dispatch: an owner name for outbox leases is required")
	}
	if opt.Digest != "" {
		s, err := cron.ParseStandard(opt.Digest)
		if err != nil {
			return nil, fmt.Errorf("dispatch: digest schedule: %w", err)
		}
		d.digest = s
	}
	for _, ch := range opt.Channels {
		if ch.Notifier == nil {
			return nil, fmt.Errorf("dispatch: channel %s has no notifier", ch.Name)
		}
		d.channels = append(d.channels, &sender{Channel: ch, limiter: newLimiter(ch.Limits), kick: make(chan struct{}, 1)})
	}
	var err error
	if d.m, err = newMetrics(opt.Reg); err != nil {
		return nil, err
	}
	return d, nil
}

// OnEvaluate takes one evaluation's audit, computed from a history last
// read whole from the database at asOf: in one transaction with the stored
// finding states it queues the messages the changes call for. It returns
// true when a finding may have resolved but the history is older than the
// finding's last change: the caller should re-read it and evaluate again.
// It is the server's OnEvaluate hook; errors are logged (the next
// evaluation computes the same changes again, so nothing is lost).
func (d *Dispatcher) OnEvaluate(ctx context.Context, a *policy.Audit, asOf time.Time) (stale bool) {
	d.last.Store(a)
	n, stale, err := d.enqueueChanges(ctx, a, asOf)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error().Err(err).Msg("queueing notifications failed; the next evaluation retries")
		}
		return false
	}
	if n > 0 {
		d.kickAll()
	}
	return stale
}

func (d *Dispatcher) enqueueChanges(ctx context.Context, a *policy.Audit, asOf time.Time) (queued int, stale bool, err error) {
	now := d.clock.Now()
	err = d.opt.DB.NotifyTransition(ctx, func(prev []db.FindingState, acks []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
		next, changes, st := transition(prev, acks, a, now, asOf, d.opt.RepeatInterval)
		stale = st
		var msgs []db.OutboxMessage
		for _, ch := range d.channels {
			var mine []Change
			for _, c := range changes {
				if !c.Acked && ch.wants(c) {
					mine = append(mine, c)
				}
			}
			if len(mine) == 0 {
				continue
			}
			m, err := changesMessage(ch.Language, mine, now, ch.Template)
			if err != nil { // a broken template must not silence the channel
				d.log.Error().Err(err).Str("channel", ch.Name).Msg("channel template failed; using the built-in layout")
				if m, err = changesMessage(ch.Language, mine, now, nil); err != nil {
					return nil, nil, err
				}
			}
			om, err := outboxMessage(ch.Name, dedupKey(ch.Name, m.Kind, mine), m, now)
			if err != nil {
				return nil, nil, err
			}
			msgs = append(msgs, om)
		}
		queued = len(msgs)
		return next, msgs, nil
	})
	return queued, stale, err
}

func outboxMessage(channel, key string, m *notify.Message, now time.Time) (db.OutboxMessage, error) {
	m.ID = key
	payload, err := json.Marshal(m)
	if err != nil {
		return db.OutboxMessage{}, fmt.Errorf("dispatch: encode message: %w", err)
	}
	return db.OutboxMessage{Key: key, Channel: channel, Payload: payload, CreatedAt: now, NextAt: now}, nil
}

func (d *Dispatcher) kickAll() {
	for _, s := range d.channels {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// Run sends until ctx ends: one sender per channel, the digest schedule,
// and the outbox's upkeep (gauges, pruning).
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range d.channels {
		wg.Add(1)
		go func() { defer wg.Done(); d.sendLoop(ctx, s) }()
	}
	if d.digest != nil {
		wg.Add(1)
		go func() { defer wg.Done(); d.digestLoop(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); d.upkeep(ctx) }()
	wg.Wait()
}

// sendLoop drains one channel's outbox, oldest first, at its rate limit.
// After a retryable failure the whole channel waits (the receiver is down
// or throttling), so messages keep their order and a down receiver gets one
// probe per backoff, not one per queued message.
func (d *Dispatcher) sendLoop(ctx context.Context, s *sender) {
	for ctx.Err() == nil {
		if w := s.limiter.wait(d.clock.Now()); w > 0 {
			if !d.sleep(ctx, w, nil) {
				return
			}
			continue
		}
		wait, err := d.sendOne(ctx, s)
		if ctx.Err() != nil {
			return
		}
		kick := s.kick // an idle sender wakes for new messages...
		if s.backoff > 0 {
			kick = nil // ...a backing-off one does not: the receiver asked for quiet
		}
		if err != nil {
			d.logOnce(s, err, "notification outbox unavailable")
			wait = max(wait, d.opt.Poll)
		}
		if wait > 0 && !d.sleep(ctx, wait, kick) {
			return
		}
	}
}

// sendOne claims and tries the channel's next message; it returns how long
// to wait before the next (0: go on at once).
func (d *Dispatcher) sendOne(ctx context.Context, s *sender) (time.Duration, error) {
	now := d.clock.Now()
	msgs, err := d.opt.DB.ClaimOutbox(ctx, s.Name, d.opt.Owner, now, d.opt.Lease, 1)
	if err != nil || len(msgs) == 0 {
		return d.opt.Poll, err
	}
	om := msgs[0]
	attempts := om.Attempts + 1
	if now.Sub(om.CreatedAt) >= d.opt.MaxAge {
		return 0, d.dead(ctx, s, om, attempts, fmt.Sprintf("undelivered for %s", d.opt.MaxAge))
	}
	var m notify.Message
	if err := json.Unmarshal(om.Payload, &m); err != nil {
		return 0, d.dead(ctx, s, om, attempts, "unreadable message: "+err.Error())
	}
	m.ID, m.Keyword = om.Key, s.Keyword
	// A send once started is finished and recorded even when the server is
	// shutting down (bounded by the send timeout): a message the receiver
	// took must not be sent again after the restart.
	ctx = context.WithoutCancel(ctx)
	sctx, cancel := context.WithTimeout(ctx, min(sendTimeout, d.opt.Lease/2))
	err = s.Notifier.Notify(sctx, &m)
	cancel()
	now = d.clock.Now()
	s.limiter.record(now)
	if err == nil {
		s.backoff, s.lastErr = 0, ""
		d.m.messages.WithLabelValues(s.Name, "sent").Inc()
		return 0, d.opt.DB.FinishOutbox(ctx, om.ID, d.opt.Owner, db.Outcome{State: db.OutboxSent, At: now, Attempts: attempts})
	}
	retry, after := notify.Classify(err)
	if !retry {
		s.backoff = 0 // the receiver answered: it is up
		return 0, d.dead(ctx, s, om, attempts, err.Error())
	}
	s.backoff = min(max(2*s.backoff, time.Second), maxBackoff)
	wait := max(after, s.backoff/2+mrand.N(s.backoff/2+1)) // half fixed, half jitter
	if now.Add(wait).Sub(om.CreatedAt) >= d.opt.MaxAge {
		return 0, d.dead(ctx, s, om, attempts, fmt.Sprintf("undelivered for %s: %v", d.opt.MaxAge, err))
	}
	d.m.messages.WithLabelValues(s.Name, "retry").Inc()
	d.logOnce(s, err, "notification failed; retrying")
	return wait, d.opt.DB.FinishOutbox(ctx, om.ID, d.opt.Owner, db.Outcome{State: db.OutboxPending, At: now.Add(wait), Attempts: attempts, Error: err.Error()})
}

// dead gives a message up: a metric and one log line, and the message
// stays in the outbox as a dead letter for inspection.
func (d *Dispatcher) dead(ctx context.Context, s *sender, om db.OutboxMessage, attempts int, why string) error {
	d.m.messages.WithLabelValues(s.Name, "dead").Inc()
	d.log.Error().Str("channel", s.Name).Str("message", om.Key).Int("attempts", attempts).Str("reason", why).
		Msg("notification given up: dead letter")
	return d.opt.DB.FinishOutbox(ctx, om.ID, d.opt.Owner, db.Outcome{State: db.OutboxDead, At: d.clock.Now(), Attempts: attempts, Error: why})
}

// logOnce logs err for s unless it is the error last logged for s
// (STYLE: in retry loops, log only when the error changes).
func (d *Dispatcher) logOnce(s *sender, err error, msg string) {
	if err.Error() == s.lastErr {
		return
	}
	s.lastErr = err.Error()
	d.log.Warn().Str("channel", s.Name).Err(err).Msg(msg)
}

// sleep waits d, or until kick (nil: no kick), or ctx ends (false).
func (d *Dispatcher) sleep(ctx context.Context, dur time.Duration, kick <-chan struct{}) bool {
	select {
	case <-ctx.Done():
		return false
	case <-kick:
	case <-d.clock.After(dur):
	}
	return true
}

// digestLoop queues the digest of the latest audit on the schedule. Each
// run's key is its scheduled time, so replicas queue it once.
func (d *Dispatcher) digestLoop(ctx context.Context) {
	for {
		next := d.digest.Next(d.clock.Now())
		if !d.sleep(ctx, next.Sub(d.clock.Now()), nil) {
			return
		}
		if d.clock.Now().Before(next) {
			continue
		}
		if err := d.enqueueDigest(ctx, next); err != nil && ctx.Err() == nil {
			d.log.Error().Err(err).Msg("queueing the digest failed")
		}
	}
}

func (d *Dispatcher) enqueueDigest(ctx context.Context, at time.Time) error {
	a := d.last.Load()
	if a == nil {
		return errors.New("dispatch: no evaluation yet to digest")
	}
	var msgs []db.OutboxMessage
	for _, ch := range d.channels {
		m := digestMessage(ch.Language, scoped(a, ch), at)
		om, err := outboxMessage(ch.Name, ch.Name+"/digest/"+at.UTC().Format(time.RFC3339), m, at)
		if err != nil {
			return err
		}
		msgs = append(msgs, om)
	}
	err := d.opt.DB.NotifyTransition(ctx, func([]db.FindingState, []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
		return nil, msgs, nil
	})
	if err == nil {
		d.kickAll()
	}
	return err
}

// scoped is a restricted to what channel ch may see: findings and clusters
// touching its stores, at or above its severity.
func scoped(a *policy.Audit, ch *sender) *policy.Audit {
	out := &policy.Audit{EvaluatedAt: a.EvaluatedAt}
	for _, f := range a.Findings {
		if f.Severity >= ch.MinSeverity && ch.touches(f.Stores) {
			out.Findings = append(out.Findings, f)
		}
	}
	for _, c := range a.Clusters {
		if ch.touches(c.Stores) {
			out.Clusters = append(out.Clusters, c)
		}
	}
	for _, w := range a.Warnings {
		if w.Kind == policy.StaleAgent {
			out.Warnings = append(out.Warnings, w)
		}
	}
	return out
}

// upkeep refreshes the outbox gauges every half minute and prunes finished
// messages hourly.
func (d *Dispatcher) upkeep(ctx context.Context) {
	var lastPrune time.Time
	for {
		if st, err := d.opt.DB.OutboxStats(ctx); err == nil {
			d.m.outbox.WithLabelValues(db.OutboxPending).Set(float64(st.Pending))
			d.m.outbox.WithLabelValues(db.OutboxSent).Set(float64(st.Sent))
			d.m.outbox.WithLabelValues(db.OutboxDead).Set(float64(st.Dead))
		}
		if now := d.clock.Now(); now.Sub(lastPrune) >= time.Hour {
			lastPrune = now
			if _, err := d.opt.DB.PruneOutbox(ctx, now.Add(-keepFinished)); err != nil && ctx.Err() == nil {
				d.log.Error().Err(err).Msg("pruning the notification outbox failed")
			}
		}
		if !d.sleep(ctx, 30*time.Second, nil) {
			return
		}
	}
}

// TestResult is one channel's answer to a test message.
type TestResult struct {
	Channel, Kind string
	Err           error
}

// Test sends a test message straight to each channel (only the one named,
// when name is not empty), bypassing the outbox, and reports each result.
func (d *Dispatcher) Test(ctx context.Context, name string) ([]TestResult, error) {
	var out []TestResult
	for _, s := range d.channels {
		if name != "" && s.Name != name {
			continue
		}
		m := testMessage(s.Language, s.Name, d.clock.Now())
		m.Keyword = s.Keyword
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		err := s.Notifier.Notify(sctx, m)
		cancel()
		out = append(out, TestResult{Channel: s.Name, Kind: s.Kind, Err: err})
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("dispatch: no channel named %q", name)
	}
	return out, nil
}

type metrics struct {
	messages *prometheus.CounterVec
	outbox   *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "storefence_notifications_total",
			Help: "Notification delivery attempts by channel and outcome (sent, retry, dead)."}, []string{"channel", "outcome"}),
		outbox: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "storefence_notification_outbox",
			Help: "Messages in the notification outbox by state (pending, sent, dead: the dead letters)."}, []string{"state"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.messages, m.outbox} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("dispatch: metrics: %w", err)
			}
		}
	}
	return m, nil
}
