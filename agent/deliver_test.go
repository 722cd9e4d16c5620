package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/collector"
	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/sqlite"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
	"github.com/storefence/storefence/server"
)

// testServer is a real storefence server on SQLite behind a gate that can
// take it off the network and that records what it answered.
type testServer struct {
	db     db.DB
	http   *httptest.Server
	tokens map[string]string // agent → token file

	down     atomic.Int32 // 0 up; 1 drops connections; 2 answers 503
	mu       sync.Mutex
	accepted []string // report ids answered 202, in order
	dups     []string // report ids answered 200 (already had it)
}

func newTestServer(t testing.TB, now func() time.Time, edit func(*config.Server), agents ...string) *testServer {
	t.Helper()
	dir := t.TempDir()
	d, err := sqlite.Open(context.Background(), filepath.Join(dir, "sf.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	cfg := config.DefaultServer()
	cfg.AdminTokenFile = filepath.Join(dir, "admin.token")
	os.WriteFile(cfg.AdminTokenFile, []byte("admin-token-0123456789abcdef\n"), 0o600)
	if edit != nil {
		edit(&cfg)
	}
	load := func() (*server.Inputs, error) {
		return &server.Inputs{Registry: &policy.Input{Stores: []policy.Store{{ID: "shop-a", Status: "active"}, {ID: "shop-b", Status: "active"}}}, Policy: policy.Default()}, nil
	}
	srv, err := server.New(server.Options{Config: &cfg, DB: d, Load: load, Log: zerolog.Nop(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{db: d, tokens: map[string]string{}}
	for _, a := range agents {
		tok, id, err := server.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.CreateToken(context.Background(), db.Token{ID: id, Agent: a, CreatedAt: now()}, server.HashToken(tok)); err != nil {
			t.Fatal(err)
		}
		s.tokens[a] = filepath.Join(dir, a+".token")
		os.WriteFile(s.tokens[a], []byte(tok+"\n"), 0o600)
	}
	h := srv.Handler()
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch s.down.Load() {
		case 1: // unreachable: the connection drops without an answer
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		case 2:
			http.Error(w, `{"error":"database unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var answer struct{ ID string }
		json.Unmarshal(rec.Body.Bytes(), &answer)
		s.mu.Lock()
		switch rec.Code {
		case http.StatusAccepted:
			s.accepted = append(s.accepted, answer.ID)
		case http.StatusOK:
			s.dups = append(s.dups, answer.ID)
		}
		s.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(s.http.Close)
	return s
}

func (s *testServer) client(t testing.TB, agent string) *Client {
	t.Helper()
	c, err := NewClient(s.http.URL, s.tokens[agent], "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDeliveryExactlyOnceInOrder: the server goes away for several runs
// and several retries (dropped connections, then 503s); the reports pile
// up in the spool; when it is back, every report arrives once, in the
// order collected, with the spool's state in each.
func TestDeliveryExactlyOnceInOrder(t *testing.T) {
	clk := newFakeClock(time.Now().UTC().Truncate(time.Second))
	srv := newTestServer(t, clk.Now, nil, "vps-a")
	top := func(n int64) int64 { return n - 1 }
	d, _ := newTestDaemon(t, DaemonOptions{Sender: srv.client(t, "vps-a"), Clock: clk, Schedule: never{},
		Backoff: Backoff{Base: time.Hour, Cap: time.Hour}, Rand: top})
	drains := make(chan DrainResult, 10)
	d.afterDrain = func(r DrainResult) { drains <- r }
	runDaemon(t, d)

	var ids []string
	run := func() RunResult {
		t.Helper()
		res := d.RunOnce(context.Background())
		if res.Report == nil {
			t.Fatalf("run: %+v", res)
		}
		ids = append(ids, res.Report.ID)
		clk.Advance(time.Minute) // the schedule
		return res
	}
	if res := run(); !res.Delivered {
		t.Fatalf("server up: %+v", res)
	}
	srv.down.Store(1)
	for i := range 5 {
		if i == 3 {
			srv.down.Store(2)
		}
		res := run()
		if res.Delivered || res.Queued != i+1 || res.Report.Spool.Queued != int64(i) {
			t.Errorf("down, run %d: %+v, spool field %+v", i, res.DrainResult, res.Report.Spool)
		}
		if i > 0 && !res.Deferred {
			t.Errorf("down, run %d tried the server while backing off", i)
		}
	}
	for range 2 { // retries between ticks, still down
		clk.AdvanceTo(d.nextRetry())
		if res := waitFor(t, drains, "a retry"); res.Err == nil || res.Queued != 5 {
			t.Errorf("retry while down: %+v", res)
		}
	}
	srv.down.Store(0)
	clk.AdvanceTo(d.nextRetry())
	res := waitFor(t, drains, "the retry after the server came back")
	if diff := cmp.Diff(ids[1:], res.Sent); diff != "" || res.Err != nil || res.Queued != 0 {
		t.Errorf("retry after recovery: err %v, queued %d, sent (-want +got):\n%s", res.Err, res.Queued, diff)
	}
	if res := run(); !res.Delivered || res.Report.Spool.Queued != 0 {
		t.Errorf("run after recovery: %+v", res)
	}

	n, err := srv.db.ReportCount(context.Background())
	if err != nil || n != int64(len(ids)) {
		t.Errorf("server stored %d reports (%v), want %d", n, err, len(ids))
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if diff := cmp.Diff(ids, srv.accepted); diff != "" {
		t.Errorf("arrival order (-collected +arrived):\n%s", diff)
	}
	if len(srv.dups) != 0 {
		t.Errorf("reports sent twice: %v", srv.dups)
	}
}

// TestSameIDOnRetry: a report whose answer was lost is sent again with the
// same id, and the server keeps it once.
func TestSameIDOnRetry(t *testing.T) {
	clk := newFakeClock(time.Now().UTC().Truncate(time.Second))
	srv := newTestServer(t, clk.Now, nil, "vps-a")
	c := srv.client(t, "vps-a")
	var lose atomic.Bool
	lose.Store(true)
	send := senderFunc(func(ctx context.Context, r *report.Report) error {
		err := c.Send(ctx, r)
		if err == nil && lose.Swap(false) {
			return &SendError{Retry: true, Msg: "connection reset before the answer"}
		}
		return err
	})
	d, _ := newTestDaemon(t, DaemonOptions{Sender: send, Clock: clk})
	first := d.RunOnce(context.Background())
	if first.Delivered {
		t.Fatal("the lost answer counted as delivered")
	}
	clk.AdvanceTo(d.nextRetry())
	res := d.RunOnce(context.Background())
	if diff := cmp.Diff([]string{first.Report.ID, res.Report.ID}, res.Sent); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	if n, _ := srv.db.ReportCount(context.Background()); n != 2 {
		t.Errorf("server stored %d, want 2", n)
	}
	if diff := cmp.Diff([]string{first.Report.ID}, srv.dups); diff != "" {
		t.Errorf("the retry was not recognised as the same report (-want +got):\n%s", diff)
	}
}

// TestRetryAfterHonoured: after 429 or 503 with Retry-After, nothing is
// sent before the time the server gave, neither by the retry loop nor by
// a tick of the schedule.
func TestRetryAfterHonoured(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header func() string
		min    time.Duration
	}{
		{"429 seconds", 429, func() string { return "7" }, 7 * time.Second},
		{"503 seconds", 503, func() string { return "5" }, 5 * time.Second},
		{"503 date", 503, func() string { return time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat) }, 8 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock(t0)
			var mu sync.Mutex
			var at []time.Time
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				at = append(at, clk.Now())
				first := len(at) == 1
				mu.Unlock()
				if first {
					w.Header().Set("Retry-After", tt.header())
					w.WriteHeader(tt.status)
					return
				}
				w.WriteHeader(http.StatusAccepted)
			}))
			defer fake.Close()
			tok := filepath.Join(t.TempDir(), "token")
			os.WriteFile(tok, []byte("sft_x\n"), 0o600)
			c, err := NewClient(fake.URL, tok, "")
			if err != nil {
				t.Fatal(err)
			}
			d, _ := newTestDaemon(t, DaemonOptions{Sender: c, Clock: clk, Schedule: never{},
				Backoff: Backoff{Base: time.Millisecond, Cap: time.Millisecond}})
			drains := make(chan DrainResult, 10)
			d.afterDrain = func(r DrainResult) { drains <- r }
			r := testReport(t0.Add(-time.Minute))
			d.spool.Put(r)
			runDaemon(t, d) // delivers the spool at start: 429/503
			if res := waitFor(t, drains, "the first pass"); res.Err == nil {
				t.Fatalf("first pass: %+v", res)
			}
			retryAt := d.nextRetry()
			if wait := retryAt.Sub(t0); wait < tt.min {
				t.Fatalf("retry in %v, want at least %v", wait, tt.min)
			}
			// A tick just before: spooled, not sent.
			clk.AdvanceTo(retryAt.Add(-time.Millisecond))
			if res := d.RunOnce(context.Background()); !res.Deferred {
				t.Errorf("a tick before Retry-After tried the server: %+v", res.DrainResult)
			}
			clk.AdvanceTo(retryAt)
			res := waitFor(t, drains, "the retry")
			if len(res.Sent) != 2 || res.Sent[0] != r.ID {
				t.Errorf("retry: %+v", res)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(at) != 3 || at[1].Before(retryAt) {
				t.Errorf("requests at %v, want the second at or after %v", at, retryAt)
			}
		})
	}
}

// TestPermanentRefusalsAgainstServer: 400 (a clock far ahead) moves the
// report to rejected/ and does not hold the queue; 401 (a wrong token)
// keeps the backlog spooled and backs off until the token is fixed.
func TestPermanentRefusalsAgainstServer(t *testing.T) {
	clk := newFakeClock(time.Now().UTC().Truncate(time.Second))
	srv := newTestServer(t, clk.Now, nil, "vps-a")
	d, _ := newTestDaemon(t, DaemonOptions{Sender: srv.client(t, "vps-a"), Clock: clk})
	future := testReport(clk.Now().Add(time.Hour))
	d.spool.Put(future)
	res := d.RunOnce(context.Background())
	if diff := cmp.Diff([]string{future.ID}, res.Rejected); diff != "" || !res.Delivered {
		t.Errorf("400: rejected (-want +got):\n%s; result %+v", diff, res)
	}
	if !d.nextRetry().IsZero() {
		t.Error("a 400 scheduled a retry")
	}

	wrong := filepath.Join(t.TempDir(), "token")
	os.WriteFile(wrong, []byte("sft_not_a_token\n"), 0o600)
	c, _ := NewClient(srv.http.URL, wrong, "")
	d2, _ := newTestDaemon(t, DaemonOptions{Sender: c, Clock: clk})
	res = d2.RunOnce(context.Background())
	if res.Delivered || len(res.Rejected) != 0 || res.Queued != 1 {
		t.Errorf("401: %+v, want the report kept queued", res)
	}
	if rej, _ := d2.spool.Rejected(); len(rej) != 0 {
		t.Errorf("rejected/ = %v, want nothing", rej)
	}
	if d2.nextRetry().IsZero() {
		t.Error("a 401 scheduled no retry")
	}
}

// TestLogsHoldNoSecrets: neither the token, nor the credentials of the
// server URL, nor session user names reach the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	var hits atomic.Int32
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		http.Error(w, `{"error":"bad"}`, http.StatusBadRequest)
	}))
	defer fake.Close()
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("sft_supersecret\n"), 0o600)
	u := strings.Replace(fake.URL, "http://", "http://operator:hunter2@", 1)
	c, err := NewClient(u, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	sink := newLogSink()
	withUser := collectorFunc(func(_ context.Context, r *report.Report) error {
		r.Sessions = []report.Session{{User: "alice-admin", Terminal: "pts/0", Started: t0}}
		return nil
	})
	clk := newFakeClock(t0)
	d, _ := newTestDaemon(t, DaemonOptions{Sender: c, Clock: clk, Log: sink.logger(), Collectors: []collector.Collector{withUser}})
	ready := make(chan struct{})
	d.onReady = func() { close(ready) }
	if res := d.RunOnce(context.Background()); res.Err == nil { // 503
		t.Fatalf("first run: %+v", res)
	}
	clk.AdvanceTo(d.nextRetry())
	if res := d.RunOnce(context.Background()); len(res.Rejected) != 2 { // 400
		t.Fatalf("second run: %+v", res)
	}
	stop := runDaemon(t, d) // logs where it sends
	<-ready
	stop()
	logs := sink.String()
	for _, secret := range []string{"supersecret", "hunter2", "operator", "alice-admin"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "delivery failed") || !strings.Contains(logs, "refused the report") ||
		!strings.Contains(logs, `"server":"`+strings.Replace(u, "operator:hunter2@", "", 1)+`"`) {
		t.Errorf("the log lacks the failures:\n%s", logs)
	}
}

// BenchmarkDrain measures one delivery pass of 100 spooled reports to a
// real server on loopback.
func BenchmarkDrain(b *testing.B) {
	srv := newTestServer(b, time.Now, func(c *config.Server) { c.AgentRate, c.AgentBurst = 1e6, 1e6 }, "vps-a")
	d, err := NewDaemon(DaemonOptions{Config: testConfig(), Spool: openSpool(b, b.TempDir(), SpoolOptions{}), Sender: srv.client(b, "vps-a")})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		for range 100 {
			d.spool.Put(testReport(time.Now()))
		}
		b.StartTimer()
		if res := d.drain(context.Background()); len(res.Sent) != 100 {
			b.Fatalf("sent %d", len(res.Sent))
		}
	}
}
