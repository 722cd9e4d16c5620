package server

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	_ "modernc.org/sqlite"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/sqlite"
	"github.com/storefence/storefence/policy"
)

// TestMain lets this test binary double as a server process for the crash
// test: with STOREFENCE_CRASH_SERVER set it serves until killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv("STOREFENCE_CRASH_SERVER"); dir != "" {
		crashServer(dir)
		return
	}
	os.Exit(m.Run())
}

func crashServer(dir string) {
	ctx := context.Background()
	d, err := sqlite.Open(ctx, filepath.Join(dir, "sf.db"), sqlite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg := config.DefaultServer()
	cfg.Listen = "127.0.0.1:0"
	cfg.AgentRate, cfg.AgentBurst = 1e6, 1e6
	load := func() (*Inputs, error) { return &Inputs{Registry: &policy.Input{}, Policy: policy.Default()}, nil }
	s, err := New(Options{Config: &cfg, DB: d, Load: load, Log: zerolog.Nop()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s.Run(ctx, func(addr string) { fmt.Println(addr) })
}

// startCrashServer runs the server in a child process and returns its
// address and the process.
func startCrashServer(t *testing.T, dir string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STOREFENCE_CRASH_SERVER="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type result struct {
		line string
		err  error
	}
	started := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		started <- result{line, err}
	}()
	select {
	case r := <-started:
		if r.err != nil {
			cmd.Process.Kill()
			t.Fatalf("crash server did not start: %v", r.err)
		}
		return strings.TrimSpace(r.line), cmd
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("crash server did not start within 30 s")
	}
	return "", nil
}

// TestKill9DuringIngest kills the server with SIGKILL while eight agents
// send reports, restarts it, and checks that every report acknowledged with
// 2xx is stored (the server says "duplicate" when it comes again) and that
// the database file is intact.
func TestKill9DuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	d, err := sqlite.Open(context.Background(), filepath.Join(dir, "sf.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for i := range 8 {
		a := fmt.Sprintf("vps-%d", i)
		tok, id, _ := NewToken()
		if err := d.CreateToken(context.Background(), db.Token{ID: id, Agent: a, CreatedAt: time.Now()}, HashToken(tok)); err != nil {
			t.Fatal(err)
		}
		tokens[a] = tok
	}
	d.Close()

	addr, cmd := startCrashServer(t, dir)
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for a, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				r := rep(fmt.Sprintf("%s-%d", a, j), a, []string{"shop-a"}, fmt.Sprintf("203.0.113.%d", j%250))
				r.CollectedAt = time.Now().Add(-time.Minute)
				status, err := postTo(addr, tok, mustJSON(r))
				if err != nil {
					return // the server is gone
				}
				if status == 202 || status == 200 {
					mu.Lock()
					acked = append(acked, a+"\x00"+r.ID)
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once a good number of reports are in.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 400 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	close(stop)
	wg.Wait()
	if len(acked) < 100 {
		t.Fatalf("only %d reports acknowledged before the kill", len(acked))
	}

	// The database file is intact.
	raw, err := sql.Open("sqlite", filepath.Join(dir, "sf.db"))
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	raw.Close()

	// Every acknowledged report is known to the restarted server.
	addr, cmd = startCrashServer(t, dir)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	missing := 0
	for _, k := range acked {
		a, id, _ := strings.Cut(k, "\x00")
		r := rep(id, a, []string{"shop-a"}, "203.0.113.1")
		r.CollectedAt = time.Now().Add(-time.Minute)
		status, err := postTo(addr, tokens[a], mustJSON(r))
		if err != nil {
			t.Fatal(err)
		}
		if status != 200 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged reports were lost", missing, len(acked))
	}
	t.Logf("%d reports acknowledged before SIGKILL, all found after restart", len(acked))
}

func postTo(addr, token string, body []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/reports", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
