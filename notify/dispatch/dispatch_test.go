package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/sqlite"
	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/policy"
)

// simClock is simulated time: After jumps the clock forward at once, so a
// 24 h outage takes no real time. Each test drives one sender, so the jumps
// of one goroutine are the only ones.
type simClock struct {
	mu     sync.Mutex
	t      time.Time
	onTick func(time.Time)
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *simClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.t = c.t.Add(max(d, 0))
	now, tick := c.t, c.onTick
	c.mu.Unlock()
	if tick != nil {
		tick(now)
	}
	ch := make(chan time.Time, 1)
	ch <- now
	return ch
}

func openDB(t testing.TB) *sqlite.DB {
	t.Helper()
	d, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sf.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// recorder is a notifier that records what it was sent and fails as its
// script says.
type recorder struct {
	mu     sync.Mutex
	script []error // consumed one per call; nil entries succeed
	got    []*notify.Message
	calls  []time.Time
	clock  Clock
}

func (r *recorder) Notify(_ context.Context, m *notify.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clock != nil {
		r.calls = append(r.calls, r.clock.Now())
	}
	if len(r.script) > 0 {
		err := r.script[0]
		r.script = r.script[1:]
		if err != nil {
			return err
		}
	}
	r.got = append(r.got, m)
	return nil
}

func (r *recorder) messages() []*notify.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*notify.Message(nil), r.got...)
}

func newDispatcher(t testing.TB, d db.Notifications, clk Clock, chans ...Channel) *Dispatcher {
	t.Helper()
	disp, err := New(Options{DB: d, Channels: chans, RepeatInterval: 24 * time.Hour, Clock: clk, Log: zerolog.Nop(), Owner: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return disp
}

// drain runs each channel's sender, as sendLoop does (rate limit, waits
// on the clock), until its outbox has nothing pending.
func drain(t testing.TB, disp *Dispatcher) {
	t.Helper()
	ctx := context.Background()
	for _, s := range disp.channels {
		for {
			pending, err := disp.opt.DB.OutboxMessages(ctx, s.Name, db.OutboxPending, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) == 0 {
				break
			}
			if w := s.limiter.wait(disp.clock.Now()); w > 0 {
				<-disp.clock.After(w)
				continue
			}
			wait, err := disp.sendOne(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if wait > 0 {
				<-disp.clock.After(wait)
			}
		}
	}
}

func titles(ms []*notify.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Title)
	}
	return out
}

// TestLifecycle: a finding opening and resolving produces exactly one
// message each per channel, routed by severity and store; an unchanged
// audit produces none.
func TestLifecycle(t *testing.T) {
	d := openDB(t)
	clk := &simClock{t: t0}
	all, crit, storeC := &recorder{}, &recorder{}, &recorder{}
	disp := newDispatcher(t, d, clk,
		Channel{Name: "all", Kind: "webhook", Language: "en", Notifier: all, MinSeverity: policy.Low},
		Channel{Name: "crit", Kind: "webhook", Language: "en", Notifier: crit, MinSeverity: policy.Critical},
		Channel{Name: "store-c", Kind: "webhook", Language: "zh-CN", Notifier: storeC, MinSeverity: policy.Low, Stores: []string{"c"}},
	)
	ctx := context.Background()
	a := audit(finding("f1", policy.High, "a", "b"), finding("f2", policy.Critical, "c", "d"))
	disp.OnEvaluate(ctx, a, fresh)
	disp.OnEvaluate(ctx, a, fresh) // nothing new
	drain(t, disp)
	if diff := cmp.Diff([]string{"storefence: OPENED 2"}, titles(all.messages())); diff != "" {
		t.Errorf("all (-want +got):\n%s", diff)
	}
	if got := all.messages(); len(got) == 1 && len(got[0].Sections) != 2 {
		t.Errorf("all: %d sections, want 2 (one message for the evaluation)", len(got[0].Sections))
	}
	for name, r := range map[string]*recorder{"crit": crit, "store-c": storeC} {
		ms := r.messages()
		if len(ms) != 1 || len(ms[0].Sections) != 1 || !strings.Contains(ms[0].Plain(), "f2") || strings.Contains(ms[0].Plain(), "f1") {
			t.Errorf("%s: %d messages, want one about f2 only: %q", name, len(ms), titles(ms))
		}
	}
	if ms := storeC.messages(); len(ms) == 1 && !strings.Contains(ms[0].Title, "店铺关联预警") {
		t.Errorf("store-c is zh-CN, got %q", ms[0].Title)
	}

	disp.OnEvaluate(ctx, audit(finding("f2", policy.Critical, "c", "d")), fresh)
	disp.OnEvaluate(ctx, audit(finding("f2", policy.Critical, "c", "d")), fresh)
	drain(t, disp)
	if diff := cmp.Diff([]string{"storefence: OPENED 2", "storefence: RESOLVED 1"}, titles(all.messages())); diff != "" {
		t.Errorf("all after f1 resolved (-want +got):\n%s", diff)
	}
	if n := len(crit.messages()); n != 1 {
		t.Errorf("crit got %d messages, want still 1 (f1 is high)", n)
	}

	clk.After(24 * time.Hour)
	disp.OnEvaluate(ctx, audit(finding("f2", policy.Critical, "c", "d")), fresh)
	drain(t, disp)
	if ms := crit.messages(); len(ms) != 2 || ms[1].Kind != "reminder" {
		t.Errorf("crit after 24 h: %q, want a reminder", titles(ms))
	}
}

// TestAckMutes: an acked finding sends nothing until the ack expires.
func TestAckMutes(t *testing.T) {
	d := openDB(t)
	clk := &simClock{t: t0}
	r := &recorder{}
	disp := newDispatcher(t, d, clk, Channel{Name: "all", Kind: "webhook", Language: "en", Notifier: r, MinSeverity: policy.Low})
	ctx := context.Background()
	if err := d.PutAck(ctx, db.Ack{Finding: "f1", Until: t0.Add(time.Hour), By: "ops", Reason: "moving the VPS today", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	disp.OnEvaluate(ctx, audit(finding("f1", policy.High, "a", "b"), finding("f2", policy.High, "c", "d")), fresh)
	drain(t, disp)
	if ms := r.messages(); len(ms) != 1 || strings.Contains(ms[0].Plain(), "f1") {
		t.Errorf("with f1 acked: %q", titles(ms))
	}
}

// TestOutageScript plays the failures a receiver can answer on a simulated
// clock: 5xx, 429 with Retry-After, a timeout, a vendor error inside a 200
// that is retryable; the message arrives once, after waits that honour
// Retry-After. A permanent failure makes a dead letter at once.
func TestOutageScript(t *testing.T) {
	d := openDB(t)
	clk := &simClock{t: t0}
	r := &recorder{clock: clk, script: []error{
		notify.Retryable("slack", 503, 0, "down"),
		notify.Retryable("slack", 429, 90*time.Second, "rate limited"),
		context.DeadlineExceeded,
		notify.Retryable("dingtalk", 200, 10*time.Minute, "errcode 130101: send too fast"),
		nil,
		notify.Permanent("dingtalk", 200, "errcode 300005: token is not exist"),
	}}
	disp := newDispatcher(t, d, clk, Channel{Name: "c", Kind: "slack", Language: "en", Notifier: r, MinSeverity: policy.Low})
	ctx := context.Background()
	disp.OnEvaluate(ctx, audit(finding("f1", policy.High, "a", "b")), fresh)
	drain(t, disp)
	if n := len(r.messages()); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
	if len(r.calls) != 5 {
		t.Fatalf("%d attempts, want 5", len(r.calls))
	}
	if gap := r.calls[2].Sub(r.calls[1]); gap < 90*time.Second {
		t.Errorf("retried %s after a 429 asking for 90s", gap)
	}
	if gap := r.calls[4].Sub(r.calls[3]); gap < 10*time.Minute {
		t.Errorf("retried %s after errcode 130101 asking for 10m", gap)
	}
	sent, _ := d.OutboxMessages(ctx, "c", db.OutboxSent, 0)
	if len(sent) != 1 || sent[0].Attempts != 5 {
		t.Errorf("sent: %+v, want one after 5 attempts", sent)
	}

	disp.OnEvaluate(ctx, audit(), fresh) // f1 resolves; the receiver now refuses for good
	drain(t, disp)
	dead, _ := d.OutboxMessages(ctx, "c", db.OutboxDead, 0)
	if len(dead) != 1 || !strings.Contains(dead[0].LastError, "300005") {
		t.Errorf("dead letters: %+v", dead)
	}
}

// TestExpiry: a receiver down for longer than MaxAge turns the message into
// a dead letter, with no attempt after the deadline.
func TestExpiry(t *testing.T) {
	d := openDB(t)
	clk := &simClock{t: t0}
	down := notify.Retryable("webhook", 502, 0, "bad gateway")
	r := &recorder{clock: clk}
	for range 1000 {
		r.script = append(r.script, down)
	}
	disp := newDispatcher(t, d, clk, Channel{Name: "c", Kind: "webhook", Language: "en", Notifier: r, MinSeverity: policy.Low})
	ctx := context.Background()
	disp.OnEvaluate(ctx, audit(finding("f1", policy.High, "a", "b")), fresh)
	drain(t, disp)
	dead, _ := d.OutboxMessages(ctx, "c", db.OutboxDead, 0)
	if len(dead) != 1 {
		t.Fatalf("dead letters: %+v", dead)
	}
	last := r.calls[len(r.calls)-1]
	if last.Sub(t0) >= DefaultMaxAge || last.Sub(t0) < DefaultMaxAge-2*maxBackoff {
		t.Errorf("last attempt %s after queueing, want just under %s", last.Sub(t0), DefaultMaxAge)
	}
	// The backoff doubles from 1 s to maxBackoff; with half of each wait
	// jittered, a wait is never under maxBackoff/2 once it is capped.
	if n, most := len(r.calls), int(DefaultMaxAge/(maxBackoff/2))+20; n > most {
		t.Errorf("%d attempts in 72 h, want at most %d: the backoff does not grow", n, most)
	}
}

// TestNoSecretsInLogs: a failing channel's log lines carry the channel's
// name and the vendor's reason, never its URL or secret.
func TestNoSecretsInLogs(t *testing.T) {
	d := openDB(t)
	clk := &simClock{t: t0}
	var logs bytes.Buffer
	secretURL := "https://oapi.dingtalk.com/robot/send?access_token=SECRET-TOKEN-123"
	n := notify.NotifierFunc(func(ctx context.Context, m *notify.Message) error {
		_, err := notify.Post(ctx, &httpClientRefusing, "dingtalk", secretURL, "application/json", []byte("{}"), nil)
		return err
	})
	disp, err := New(Options{DB: d, Channels: []Channel{{Name: "ops", Kind: "dingtalk", Language: "en", Notifier: n}},
		Clock: clk, Log: zerolog.New(&logs), Owner: "test", MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	disp.OnEvaluate(context.Background(), audit(finding("f1", policy.High, "a", "b")), fresh)
	drain(t, disp)
	if logs.Len() == 0 || strings.Contains(logs.String(), "SECRET-TOKEN") || strings.Contains(logs.String(), "access_token") {
		t.Errorf("logs:\n%s", logs.String())
	}
	dead, _ := d.OutboxMessages(context.Background(), "ops", db.OutboxDead, 0)
	for _, m := range dead {
		if strings.Contains(m.LastError, "SECRET-TOKEN") {
			t.Errorf("dead letter error holds the token: %s", m.LastError)
		}
	}
}

// TestTemplate: a channel's template replaces the layout; a broken one
// falls back to the built-in layout instead of silencing the channel.
func TestTemplate(t *testing.T) {
	d := openDB(t)
	clk := &simClock{t: t0}
	good, bad := &recorder{}, &recorder{}
	disp := newDispatcher(t, d, clk,
		Channel{Name: "good", Kind: "webhook", Language: "en", Notifier: good, Template: mustTemplate(t, "{{len .Changes}} change(s)\n{{range .Changes}}{{.Signal}} {{.Value}} {{.Stores}}\n{{end}}")},
		Channel{Name: "bad", Kind: "webhook", Language: "en", Notifier: bad, Template: mustTemplate(t, "{{.Nope}}")},
	)
	disp.OnEvaluate(context.Background(), audit(finding("f1", policy.High, "a", "b")), fresh)
	drain(t, disp)
	if ms := good.messages(); len(ms) != 1 || ms[0].Title != "1 change(s)" || ms[0].Sections[0].Text != "public_ip 203.0.*.* [a b]" {
		b, _ := json.Marshal(ms)
		t.Errorf("templated: %s", b)
	}
	if ms := bad.messages(); len(ms) != 1 || ms[0].Title != "storefence: OPENED 1" {
		t.Errorf("broken template: %q", titles(ms))
	}
}

var errRefused = errors.New("connection refused")

// httpClientRefusing fails every request at the transport, as a dead
// host does, with an error that quotes the URL (as net/http's do).
var httpClientRefusing = http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errRefused })}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func mustTemplate(t *testing.T, s string) *template.Template {
	t.Helper()
	return template.Must(template.New("t").Option("missingkey=error").Parse(s))
}
