package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/agent"
	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/sqlite"
	"github.com/storefence/storefence/internal/dnstest"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
	"github.com/storefence/storefence/server"
)

// testServer is a real storefence server on SQLite, on loopback.
type testServer struct {
	url    string
	db     db.DB
	tokens map[string]string // agent → token file
}

func startServer(t *testing.T, agents ...string) *testServer {
	t.Helper()
	dir := t.TempDir()
	d, err := sqlite.Open(context.Background(), filepath.Join(dir, "sf.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	cfg := config.DefaultServer()
	cfg.AdminTokenFile = writeFile(t, "admin.token", "admin-token-0123456789abcdef\n")
	load := func() (*server.Inputs, error) {
		return &server.Inputs{Registry: &policy.Input{Stores: []policy.Store{{ID: "shop-a", Status: "active"}, {ID: "shop-b", Status: "active"}}}, Policy: policy.Default()}, nil
	}
	srv, err := server.New(server.Options{Config: &cfg, DB: d, Load: load, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{db: d, tokens: map[string]string{}}
	for _, a := range agents {
		tok, id, err := server.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.CreateToken(context.Background(), db.Token{ID: id, Agent: a, CreatedAt: time.Now()}, server.HashToken(tok)); err != nil {
			t.Fatal(err)
		}
		s.tokens[a] = writeFile(t, a+".token", tok+"\n")
	}
	h := httptest.NewServer(srv.Handler())
	t.Cleanup(h.Close)
	s.url = h.URL
	return s
}

// agentYAML is an agent.yaml for agent id, its public IP seen through the
// loopback echo server dns; server and token may be empty.
func agentYAML(t *testing.T, id, store, server, token, spool, dns string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "agent_id: %s\nstores: [%s]\ncollectors: [publicip]\nschedule: \"@every 1h\"\nspool_dir: %q\n", id, store, spool)
	if server != "" {
		fmt.Fprintf(&b, "server: %s\ntoken_file: %q\n", server, token)
	}
	fmt.Fprintf(&b, "public_ip:\n  timeout: 2s\n  resolver_egress: {disabled: true}\n  providers:\n")
	fmt.Fprintf(&b, "    - {name: echo, kind: dns, server: %q, query: myip.test., type: A}\n", dns)
	return writeFile(t, "agent.yaml", b.String())
}

func spooled(t *testing.T, dir string) (queued, rejected []string) {
	t.Helper()
	s, err := agent.OpenSpool(dir, agent.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	es, _ := s.Entries()
	for _, e := range es {
		queued = append(queued, e.ID)
	}
	rejected, _ = s.Rejected()
	return queued, rejected
}

func TestAgentOnce(t *testing.T) {
	dns := dnstest.Start(t, dnstest.Echo(dnstest.Fixed("203.0.113.7")))
	srv := startServer(t, "vps-a")
	fake := func(status int) string {
		h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":"status %d"}`, status)
		}))
		t.Cleanup(h.Close)
		return h.URL
	}
	tests := []struct {
		name           string
		server, token  string
		code           int
		stderr         string
		queued, reject int
	}{
		{"delivered", srv.url, srv.tokens["vps-a"], 0, "", 0, 0},
		{"server unavailable: stays spooled", fake(503), srv.tokens["vps-a"], 1, "stays spooled", 1, 0},
		{"refused: moved to rejected", fake(400), srv.tokens["vps-a"], 1, "rejected", 0, 1},
		{"no server: spooled", "", "", 0, "", 1, 0},
		{"no token file", srv.url, "/nonexistent/token", 2, "token_file", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spool := t.TempDir()
			code, out, stderr := runCmd(t, "agent", "--once", "--config", agentYAML(t, "vps-a", "shop-a", tt.server, tt.token, spool, dns))
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.stderr)
			}
			queued, rejected := spooled(t, spool)
			if len(queued) != tt.queued || len(rejected) != tt.reject {
				t.Errorf("spool: %d queued, %d rejected; want %d, %d", len(queued), len(rejected), tt.queued, tt.reject)
			}
			if tt.code == 2 {
				return
			}
			r, err := report.Decode([]byte(out))
			if err != nil {
				t.Fatalf("stdout is not a report: %v\n%s", err, out)
			}
			if r.PublicIP == nil || r.PublicIP.V4 != "203.0.113.7" || r.Spool == nil {
				t.Errorf("report: public_ip %+v, spool %+v", r.PublicIP, r.Spool)
			}
			if tt.queued == 1 && queued[0] != r.ID {
				t.Errorf("spooled %v, want the printed report %s", queued, r.ID)
			}
		})
	}
	if n, _ := srv.db.ReportCount(context.Background()); n != 1 {
		t.Errorf("server stored %d reports, want 1", n)
	}
}

func TestAgentOnceNothingSeen(t *testing.T) {
	dead := dnstest.Start(t, dnstest.Echo(dnstest.Fixed("")))
	cfg := strings.Replace(readFile(t, agentYAML(t, "vps-a", "shop-a", "", "", t.TempDir(), dead)), "timeout: 2s", "timeout: 200ms", 1)
	code, _, stderr := runCmd(t, "agent", "--once", "--config", writeFile(t, "a.yaml", cfg))
	if code != 1 || !strings.Contains(stderr, "no collector could see anything") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestAgentCheckConfig(t *testing.T) {
	p := agentYAML(t, "vps-a", "shop-a", "", "", t.TempDir(), "127.0.0.1:53")
	if code, out, _ := runCmd(t, "agent", "--check-config", "--config", p); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("check-config: exit %d %q", code, out)
	}
	bad := writeFile(t, "bad.yaml", "spool_max_bytes: 1KiB\n")
	if code, _, stderr := runCmd(t, "agent", "--check-config", "--config", bad); code != 2 || !strings.Contains(stderr, "spool_max_bytes") {
		t.Errorf("bad config: exit %d %q", code, stderr)
	}
}

// TestAgentDaemonStops runs the daemon, not under systemd, until its
// context ends.
func TestAgentDaemonStops(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	dns := dnstest.Start(t, dnstest.Echo(dnstest.Fixed("203.0.113.7")))
	p := agentYAML(t, "vps-a", "shop-a", "", "", t.TempDir(), dns)
	ctx, cancel := context.WithCancel(context.Background())
	logs := newWatchBuffer()
	done := make(chan int, 1)
	go func() {
		done <- runAgent(ctx, &env{stdout: io.Discard, stderr: logs, now: time.Now}, []string{"--config", p})
	}()
	<-logs.seen("agent running")
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon did not stop")
	}
	if !strings.Contains(logs.String(), "agent stopping") {
		t.Errorf("log:\n%s", logs)
	}
}

// watchBuffer is a concurrency-safe buffer that tells when a string shows.
type watchBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	waiters map[string]chan struct{}
}

func newWatchBuffer() *watchBuffer { return &watchBuffer{waiters: map[string]chan struct{}{}} }

func (w *watchBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for s, ch := range w.waiters {
		if strings.Contains(w.buf.String(), s) {
			close(ch)
			delete(w.waiters, s)
		}
	}
	return len(p), nil
}

func (w *watchBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// seen returns a channel closed once the buffer holds s.
func (w *watchBuffer) seen(s string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if strings.Contains(w.buf.String(), s) {
		close(ch)
	} else {
		w.waiters[s] = ch
	}
	return ch
}

func TestAgentInstallIsForWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("installs a real service")
	}
	for _, verb := range []string{"install", "uninstall"} {
		if code, _, stderr := runCmd(t, "agent", verb); code != 2 || !strings.Contains(stderr, "is for Windows") {
			t.Errorf("agent %s: exit %d %q, want 2 and a pointer to systemd", verb, code, stderr)
		}
	}
}
