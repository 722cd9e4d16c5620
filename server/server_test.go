package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/sqlite"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

const adminTok = "admin-token-0123456789abcdef"

type fixture struct {
	srv    *Server
	db     db.DB
	http   *httptest.Server
	tokens map[string]string // agent → token
	cfg    *config.Server
}

// newFixture starts a server on a fresh SQLite file with the given stores
// and one token per agent.
func newFixture(t testing.TB, edit func(*config.Server), agents ...string) *fixture {
	t.Helper()
	dir := t.TempDir()
	d, err := sqlite.Open(context.Background(), filepath.Join(dir, "sf.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	cfg := config.DefaultServer()
	cfg.AdminTokenFile = filepath.Join(dir, "admin.token")
	os.WriteFile(cfg.AdminTokenFile, []byte(adminTok+"\n"), 0o600)
	if edit != nil {
		edit(&cfg)
	}
	f := &fixture{db: d, tokens: map[string]string{}, cfg: &cfg}
	load := func() (*Inputs, error) {
		return &Inputs{Registry: &policy.Input{Stores: []policy.Store{{ID: "shop-a", Status: "active"}, {ID: "shop-b", Status: "active"}}}, Policy: policy.Default()}, nil
	}
	f.srv, err = New(Options{Config: &cfg, DB: d, Load: load, Log: zerolog.Nop(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents {
		tok, id, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.CreateToken(context.Background(), db.Token{ID: id, Agent: a, CreatedAt: now}, HashToken(tok)); err != nil {
			t.Fatal(err)
		}
		f.tokens[a] = tok
	}
	f.http = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.http.Close)
	return f
}

func rep(id, agent string, stores []string, v4 string) *report.Report {
	return &report.Report{Schema: report.Schema, ID: id, Agent: agent, Stores: stores, CollectedAt: now.Add(-time.Minute),
		PublicIP: &report.PublicIP{V4: v4}}
}

// post sends body as agent's report with extra headers; it returns the
// status and the decoded error field, if any.
func (f *fixture) post(t *testing.T, token string, body []byte, hdr map[string]string) (int, apiError, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.http.URL+"/api/v1/reports", bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ae apiError
	json.NewDecoder(resp.Body).Decode(&ae)
	return resp.StatusCode, ae, resp.Header
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestIngest(t *testing.T) {
	f := newFixture(t, nil, "vps-a", "vps-b")
	ok := mustJSON(rep("r1", "vps-a", []string{"shop-a"}, "203.0.113.7"))
	future := rep("r9", "vps-a", nil, "")
	future.CollectedAt = now.Add(time.Hour)
	tooOld := rep("r10", "vps-a", nil, "")
	tooOld.CollectedAt = now.Add(-200 * 24 * time.Hour)
	big := append([]byte(`{"schema":"storefence.report/v1","id":"x","agent":"vps-a","collected_at":"2026-11-22T09:00:00Z","version":"`), bytes.Repeat([]byte("a"), MaxBody)...)
	tests := []struct {
		name   string
		token  string
		body   []byte
		hdr    map[string]string
		status int
		field  string
	}{
		{"accepted", f.tokens["vps-a"], ok, nil, 202, ""},
		{"the same report again", f.tokens["vps-a"], ok, nil, 200, ""},
		{"gzip", f.tokens["vps-a"], gz(mustJSON(rep("r2", "vps-a", []string{"shop-a"}, "203.0.113.7"))), map[string]string{"Content-Encoding": "gzip"}, 202, ""},
		{"no token", "", ok, nil, 401, ""},
		{"unknown token", "sft_nope", ok, nil, 401, ""},
		{"another agent's report", f.tokens["vps-b"], mustJSON(rep("r3", "vps-a", nil, "")), nil, 403, "agent"},
		{"malformed", f.tokens["vps-a"], []byte(`{"schema":`), nil, 400, ""},
		{"wrong schema", f.tokens["vps-a"], []byte(`{"schema":"storefence.report/v9","id":"x","agent":"vps-a","collected_at":"2026-11-22T09:00:00Z"}`), nil, 400, "schema"},
		{"bad field", f.tokens["vps-a"], []byte(`{"schema":"storefence.report/v1","id":"x","agent":"vps-a","collected_at":"2026-11-22T09:00:00Z","public_ip":{"v4":"banana"}}`), nil, 400, "public_ip.v4"},
		{"far future", f.tokens["vps-a"], mustJSON(future), nil, 400, "collected_at"},
		{"too old", f.tokens["vps-a"], mustJSON(tooOld), nil, 400, "collected_at"},
		{"oversized", f.tokens["vps-a"], big, nil, 413, ""},
		{"gzip bomb", f.tokens["vps-a"], gz(big), map[string]string{"Content-Encoding": "gzip"}, 413, ""},
		{"not gzip", f.tokens["vps-a"], ok, map[string]string{"Content-Encoding": "gzip"}, 400, ""},
		{"unknown encoding", f.tokens["vps-a"], ok, map[string]string{"Content-Encoding": "br"}, 415, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, ae, _ := f.post(t, tt.token, tt.body, tt.hdr)
			if status != tt.status || ae.Field != tt.field {
				t.Errorf("status %d field %q (%s); want %d field %q", status, ae.Field, ae.Error, tt.status, tt.field)
			}
		})
	}
	if n, _ := f.db.ReportCount(context.Background()); n != 2 {
		t.Errorf("stored %d reports, want 2", n)
	}
}

func TestRevokedToken(t *testing.T) {
	f := newFixture(t, nil, "vps-a")
	toks, _ := f.db.Tokens(context.Background())
	f.db.RevokeToken(context.Background(), toks[0].ID, now)
	if status, _, _ := f.post(t, f.tokens["vps-a"], mustJSON(rep("r1", "vps-a", nil, "")), nil); status != 401 {
		t.Errorf("revoked token: status %d, want 401", status)
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, func(c *config.Server) { c.AgentRate, c.AgentBurst = 0.01, 3 }, "vps-a")
	var codes []int
	var retry string
	for i := range 5 {
		status, _, h := f.post(t, f.tokens["vps-a"], mustJSON(rep(fmt.Sprint("r", i), "vps-a", nil, "")), nil)
		codes = append(codes, status)
		if status == 429 {
			retry = h.Get("Retry-After")
		}
	}
	if diff := cmp.Diff([]int{202, 202, 202, 429, 429}, codes); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if retry == "" || retry == "0" {
		t.Errorf("429 without a Retry-After")
	}
}

func TestSourceAddressIsAnObservation(t *testing.T) {
	f := newFixture(t, func(c *config.Server) { c.TrustedProxies = []string{"127.0.0.1"} }, "vps-a")
	hdr := map[string]string{"X-Forwarded-For": "198.51.100.77, 10.0.0.1"}
	// 10.0.0.1 is not trusted, so it is the client, and it is private: nothing.
	f.post(t, f.tokens["vps-a"], mustJSON(rep("r1", "vps-a", []string{"shop-a"}, "")), hdr)
	hdr["X-Forwarded-For"] = "10.0.0.1, 198.51.100.77"
	f.post(t, f.tokens["vps-a"], mustJSON(rep("r2", "vps-a", []string{"shop-a"}, "")), hdr)
	ss, err := f.db.Sightings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, s := range ss {
		if s.Signal == policy.PublicIP {
			ips = append(ips, s.Value)
		}
	}
	if diff := cmp.Diff([]string{"198.51.100.77"}, ips); diff != "" {
		t.Errorf("public_ip sightings (-want +got):\n%s", diff)
	}
}

func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestAuditMatchesOffline checks that the server's audit over ingested
// reports is the offline audit over the same reports.
func TestAuditMatchesOffline(t *testing.T) {
	f := newFixture(t, nil, "vps-a", "vps-b")
	reports := []*report.Report{
		rep("r1", "vps-a", []string{"shop-a"}, "203.0.113.7"),
		rep("r2", "vps-b", []string{"shop-b"}, "203.0.113.7"),
		rep("r3", "vps-a", []string{"shop-b"}, "203.0.113.8"),
	}
	agg := policy.NewAggregator(now)
	for _, r := range reports {
		if status, ae, _ := f.post(t, f.tokens[r.Agent], mustJSON(r), nil); status != 202 {
			t.Fatalf("post %s: %d %s", r.ID, status, ae.Error)
		}
		agg.Add(r)
	}
	in := f.srv.inputs.Load().Registry
	offline := *in
	agg.Fill(&offline)
	want := policy.Evaluate(&offline, policy.Default(), now)

	if status, _ := get(t, f.http.URL+"/api/v1/audit", ""); status != 401 {
		t.Errorf("audit without the admin token: %d, want 401", status)
	}
	status, body := get(t, f.http.URL+"/api/v1/audit?now="+now.Format(time.RFC3339), adminTok)
	if status != 200 {
		t.Fatalf("audit: %d %s", status, body)
	}
	var got policy.Audit
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, &got); diff != "" {
		t.Errorf("server audit differs from offline (-offline +server):\n%s", diff)
	}
	if len(got.Findings) == 0 {
		t.Error("no findings: the comparison proves nothing")
	}
	status, body = get(t, f.http.URL+"/api/v1/agents", adminTok)
	if status != 200 || !strings.Contains(string(body), `"agent":"vps-a"`) {
		t.Errorf("agents: %d %s", status, body)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	f := newFixture(t, nil, "vps-a")
	f.post(t, f.tokens["vps-a"], mustJSON(rep("r1", "vps-a", nil, "")), nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _ := get(t, f.http.URL+path, ""); status != 200 {
			t.Errorf("%s: %d", path, status)
		}
	}
	status, body := get(t, f.http.URL+"/metrics", "")
	if status != 200 || !strings.Contains(string(body), `storefence_reports_total{code="202",reason="accepted"} 1`) {
		t.Errorf("metrics: %d\n%s", status, body)
	}
	f.db.Close()
	if status, _ := get(t, f.http.URL+"/readyz", ""); status != 503 {
		t.Errorf("/readyz with the database closed: %d, want 503", status)
	}
}

// panicDB panics on every report: the server must answer 500 and live on.
type panicDB struct{ db.DB }

func (panicDB) PutReport(context.Context, *db.Ingest) (bool, error) { panic("boom") }

func TestPanicIsA500(t *testing.T) {
	f := newFixture(t, nil, "vps-a")
	f.srv.db = panicDB{f.db}
	if status, _, _ := f.post(t, f.tokens["vps-a"], mustJSON(rep("r1", "vps-a", nil, "")), nil); status != 500 {
		t.Errorf("status %d, want 500", status)
	}
	if status, _ := get(t, f.http.URL+"/healthz", ""); status != 200 {
		t.Errorf("server died after a panic")
	}
}

func TestConcurrentAgentsOnOneSQLiteFile(t *testing.T) {
	var agents []string
	for i := range 16 {
		agents = append(agents, fmt.Sprintf("vps-%d", i))
	}
	f := newFixture(t, nil, agents...)
	var wg sync.WaitGroup
	errs := make(chan string, 16*30)
	for _, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 30 {
				r := rep(fmt.Sprintf("%s-%d", a, j), a, []string{"shop-a"}, "203.0.113.7")
				if status, ae, _ := f.post(t, f.tokens[a], mustJSON(r), nil); status != 202 {
					errs <- fmt.Sprintf("%s: %d %s", r.ID, status, ae.Error)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n, _ := f.db.ReportCount(context.Background()); n != 16*30 {
		t.Errorf("stored %d reports, want %d", n, 16*30)
	}
}

// TestSlowClientCannotPin opens a connection that sends its headers one
// byte at a time and never finishes: the server drops it after the header
// timeout, and serves others meanwhile.
func TestSlowClientCannotPin(t *testing.T) {
	f := newFixture(t, func(c *config.Server) {
		c.Listen = "127.0.0.1:0"
		c.Timeouts.ReadHeader = config.Duration(300 * time.Millisecond)
	}, "vps-a")
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(ctx, func(a string) { addrc <- a }) }()
	addr := <-addrc
	defer func() { cancel(); <-done }()

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("POST /api/v1/reports HTTP/1.1\r\nHost: x\r\n"))
	if status, _ := get(t, "http://"+addr+"/healthz", ""); status != 200 {
		t.Errorf("another client was not served while a slow one hung")
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	// The server answers 408 or just closes; either way the read ends well
	// before our own 5 s deadline.
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the slow connection was still open after 5 s (read %q)", buf[:n])
	}
}

func TestGracefulShutdownDrains(t *testing.T) {
	f := newFixture(t, func(c *config.Server) { c.Listen = "127.0.0.1:0" }, "vps-a")
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(ctx, func(a string) { addrc <- a }) }()
	addr := <-addrc

	// A request whose body arrives slowly is in flight when the stop comes.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/reports", pr)
	req.Header.Set("Authorization", "Bearer "+f.tokens["vps-a"])
	result := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			result <- 0
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	body := mustJSON(rep("r1", "vps-a", nil, ""))
	pw.Write(body[:10])
	time.Sleep(100 * time.Millisecond) // let the request reach the handler
	cancel()
	time.Sleep(100 * time.Millisecond)
	pw.Write(body[10:])
	pw.Close()
	if got := <-result; got != 202 {
		t.Errorf("in-flight request ended with %d, want 202", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestReloadKeepsOldOnError(t *testing.T) {
	f := newFixture(t, nil)
	calls := 0
	f.srv.load = func() (*Inputs, error) {
		calls++
		if calls == 1 {
			return &Inputs{Registry: &policy.Input{Stores: []policy.Store{{ID: "shop-z"}}}, Policy: policy.Default()}, nil
		}
		return nil, fmt.Errorf("stores.yaml:3: bad")
	}
	if err := f.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Reload(); err == nil {
		t.Fatal("a failing reload returned nil")
	}
	if got := f.srv.inputs.Load().Registry.Stores[0].ID; got != "shop-z" {
		t.Errorf("after a failed reload the registry is %q, want the last good one", got)
	}
}

func TestPreflight(t *testing.T) {
	f := newFixture(t, nil, "vps-a", "vps-b")
	// vps-b served shop-b from 203.0.113.7; vps-a asks about shop-a from the same line.
	f.post(t, f.tokens["vps-b"], mustJSON(rep("r1", "vps-b", []string{"shop-b"}, "203.0.113.7")), nil)
	ask := func(store, ip string) policy.Preflight {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, f.http.URL+"/api/v1/preflight?store="+store, bytes.NewReader(mustJSON(rep("p-"+ip, "vps-a", nil, ip))))
		req.Header.Set("Authorization", "Bearer "+f.tokens["vps-a"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p policy.Preflight
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&p) != nil {
			t.Fatalf("preflight: status %d", resp.StatusCode)
		}
		return p
	}
	p := ask("shop-a", "203.0.113.7")
	if !p.WouldLink || len(p.Findings) != 1 || p.Findings[0].Signal != "public_ip" || strings.Join(p.Findings[0].Stores, ",") != "shop-a,shop-b" {
		t.Errorf("preflight on a shared line = %+v, want a public_ip link to shop-b", p)
	}
	if p := ask("shop-a", "198.51.100.1"); p.WouldLink || len(p.Findings) != 0 {
		t.Errorf("preflight on a clean line = %+v, want nothing", p)
	}
	if n, _ := f.db.ReportCount(context.Background()); n != 1 {
		t.Errorf("preflight stored reports: %d, want 1", n)
	}
}
