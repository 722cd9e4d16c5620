package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/dbtest"
	"github.com/storefence/storefence/db/postgres"
	"github.com/storefence/storefence/db/sqlite"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

// The HTTP ingest benchmark's fleet and load.
const (
	benchAgents  = 1000 // agents that send reports, one token each
	benchWorkers = 32   // concurrent keep-alive clients
	benchRate    = 1000 // reports/s of the paced run
)

// BenchmarkIngestHTTP measures POST /api/v1/reports end to end: Server.Run
// on 127.0.0.1:0 (its production timeouts, evaluator and all), bearer-token
// lookup, JSON decoding and validation, policy.Observe and the database's
// group commit, driven over loopback TCP by benchWorkers keep-alive clients
// sending reports of dbtest.Workload (ten observations each) as
// benchAgents agents.
//
// Before timing, the database gets STOREFENCE_BENCH_PRELOAD sightings
// (100,000 by default; the target is stated at 1,000,000) of the 10,000
// agents of dbtest.DefaultWorkload, stored through PutReport ten
// observations a report. Sub-benchmarks, per backend:
//
//	max     closed loop, as fast as the workers go
//	1000ps  open loop at 1,000 reports/s in all; latency counts from each
//	        request's scheduled time, so a stall is not hidden
//
// Both report reports/s, p50-ms, p99-ms, the policy evaluations the
// evaluator ran meanwhile (evals, eval-ms: mean duration) and the TCP
// connections dialled (conns: keep-alive keeps it at most benchWorkers).
// Every answer must be 202, and ReportCount must grow by exactly the
// reports sent. SQLite (a file in b.TempDir) always runs; PostgreSQL runs in
// a fresh schema, dropped afterwards, when STOREFENCE_TEST_POSTGRES_DSN is
// set. STOREFENCE_BENCH_CPUPROFILE=path writes a CPU profile of the last
// round of each max run only (preload excluded) to path.<backend>.
// STOREFENCE_BENCH_NO_EVALUATOR=1 serves Server.Handler with httptest
// instead of Server.Run, so without the evaluator that Run starts: the
// difference is what the post-ingest evaluations cost the ingest.
//
//	STOREFENCE_BENCH_PRELOAD=1000000 go test -run='^$' -bench=IngestHTTP -benchtime=20s ./server/
func BenchmarkIngestHTTP(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(b *testing.B) (db.DB, func() error)
	}{
		{"sqlite", openBenchSQLite},
		{"postgres", openBenchPostgres},
	} {
		b.Run(be.name, func(b *testing.B) {
			d, analyze := be.open(b)
			w := dbtest.DefaultWorkload()
			preloadReports(b, d, w, benchPreloadSize(b))
			if analyze != nil {
				if err := analyze(); err != nil {
					b.Fatal(err)
				}
			}
			e := startIngestBench(b, be.name, d, w)
			b.Run("max", func(b *testing.B) { e.run(b, 0) })
			b.Run(fmt.Sprintf("%dps", benchRate), func(b *testing.B) { e.run(b, benchRate) })
		})
	}
}

// benchPreloadSize is STOREFENCE_BENCH_PRELOAD, 100,000 by default, as in
// the db backends' benchmarks.
func benchPreloadSize(tb testing.TB) int {
	s := os.Getenv("STOREFENCE_BENCH_PRELOAD")
	if s == "" {
		return 100_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		tb.Fatalf("STOREFENCE_BENCH_PRELOAD=%q: want a count", s)
	}
	return n
}

func openBenchSQLite(b *testing.B) (db.DB, func() error) {
	d, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "sf.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d, nil
}

// openBenchPostgres opens a fresh schema of STOREFENCE_TEST_POSTGRES_DSN,
// dropped when b ends, as db/postgres's tests do. The returned func
// analyzes its tables.
func openBenchPostgres(b *testing.B) (db.DB, func() error) {
	dsn := os.Getenv("STOREFENCE_TEST_POSTGRES_DSN")
	if dsn == "" {
		b.Skip("set STOREFENCE_TEST_POSTGRES_DSN to run the PostgreSQL benchmark")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatalf("connect to STOREFENCE_TEST_POSTGRES_DSN: %v", err)
	}
	defer conn.Close(ctx)
	rnd := make([]byte, 6)
	rand.Read(rnd)
	schema := "storefence_bench_" + hex.EncodeToString(rnd)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
		}
	})
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			b.Fatal("STOREFENCE_TEST_POSTGRES_DSN is not a URL")
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		dsn = u.String()
	} else {
		dsn += " search_path=" + schema
	}
	d, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { d.Close() }) // before the schema is dropped
	analyze := func() error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "ANALYZE sightings, agents, reports, tokens")
		return err
	}
	return d, analyze
}

// preloadReports stores about n sightings of w's history (dbtest's
// Preload) through d.PutReport, as reports of ten observations of one
// agent each, so that it works on any backend from outside its package.
func preloadReports(b *testing.B, d db.DB, w dbtest.Workload, n int) {
	b.Helper()
	start := time.Now()
	ctx := context.Background()
	ins := make(chan *db.Ingest, 1024)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 512 { // enough callers to fill the group commit's batches
		wg.Go(func() {
			for in := range ins {
				if _, err := d.PutReport(ctx, in); err != nil && failed.Add(1) == 1 {
					b.Errorf("preload: %v", err)
				}
			}
		})
	}
	raw := []byte(strings.Repeat("x", 1024)) // a report's size, as the db benchmarks' preload
	received := time.Now()                   // not past the retention: the evaluator's prune leaves them
	var cur *db.Ingest
	sightings, reports := 0, 0
	for s := range w.Preload(n) {
		if cur != nil && (cur.Report.Agent != s.Agent || len(cur.Observed) == 10) {
			ins <- cur
			cur = nil
		}
		if cur == nil {
			reports++
			cur = &db.Ingest{Raw: raw, ReceivedAt: received, Report: &report.Report{
				Schema: report.Schema, ID: fmt.Sprintf("preload-%d", reports), Agent: s.Agent,
				Stores: s.Stores, CollectedAt: s.FirstSeen, Version: "1.0.0",
			}}
		}
		cur.Observed = append(cur.Observed, policy.Observed{Signal: s.Signal, Value: s.Value})
		sightings++
	}
	if cur != nil {
		ins <- cur
	}
	close(ins)
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("preload: %d of %d reports failed", failed.Load(), reports)
	}
	b.Logf("preloaded %d sightings as %d reports in %v", sightings, reports, time.Since(start).Round(time.Millisecond))
}

// ingestBench is a running server with its agents' tokens and a client.
type ingestBench struct {
	backend string
	srv     *Server
	db      db.DB
	w       dbtest.Workload
	url     string
	client  *http.Client
	dials   atomic.Int64
	agents  []benchAgent
	stamp   int64 // makes report ids unique across runs
	runs    int
}

type benchAgent struct {
	index int    // in the workload
	auth  string // Authorization header
}

// startIngestBench creates benchAgents tokens, starts srv.Run on
// 127.0.0.1:0 and a keep-alive client; b's cleanup stops them.
func startIngestBench(b *testing.B, backend string, d db.DB, w dbtest.Workload) *ingestBench {
	b.Helper()
	ctx := context.Background()
	e := &ingestBench{backend: backend, db: d, w: w, stamp: time.Now().UnixNano()}

	// The agents, spread over the workload, each with a token.
	e.agents = make([]benchAgent, min(benchAgents, w.Agents))
	var stores []policy.Store
	for i := 0; i < w.Agents; i += 2 {
		stores = append(stores, policy.Store{ID: w.Report("", i, 0, time.Time{}).Stores[0], Status: "active"})
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	next := atomic.Int64{}
	for range 16 {
		wg.Go(func() {
			for j := int(next.Add(1)) - 1; j < len(e.agents); j = int(next.Add(1)) - 1 {
				i := j * (w.Agents / len(e.agents))
				tok, id, err := NewToken()
				if err == nil {
					err = d.CreateToken(ctx, db.Token{ID: id, Agent: w.Report("", i, 0, time.Time{}).Agent, CreatedAt: time.Now()}, HashToken(tok))
				}
				if err != nil && failed.Add(1) == 1 {
					b.Errorf("token: %v", err)
				}
				e.agents[j] = benchAgent{index: i, auth: "Bearer " + tok}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.FailNow()
	}

	cfg := config.DefaultServer()
	cfg.Listen = "127.0.0.1:0"
	cfg.AgentRate, cfg.AgentBurst = 1e6, 1e6 // never the bottleneck
	load := func() (*Inputs, error) {
		return &Inputs{Registry: &policy.Input{Stores: stores}, Policy: policy.Default()}, nil
	}
	var err error
	e.srv, err = New(Options{Config: &cfg, DB: d, Load: load, Log: zerolog.Nop(), Reg: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	var stop func()
	if os.Getenv("STOREFENCE_BENCH_NO_EVALUATOR") != "" {
		// The handler alone, without Run's evaluator: what ingest costs
		// when no evaluation competes with it.
		ts := httptest.NewServer(e.srv.Handler())
		e.url, stop = ts.URL+"/api/v1/reports", ts.Close
	} else {
		runCtx, cancel := context.WithCancel(context.Background())
		addrc := make(chan string, 1)
		done := make(chan error, 1)
		go func() { done <- e.srv.Run(runCtx, func(a string) { addrc <- a }) }()
		select {
		case addr := <-addrc:
			e.url = "http://" + addr + "/api/v1/reports"
		case err := <-done:
			cancel()
			b.Fatalf("Run: %v", err)
		}
		stop = func() {
			cancel()
			if err := <-done; err != nil {
				b.Errorf("Run: %v", err)
			}
		}
	}

	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			e.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        2 * benchWorkers,
		MaxIdleConnsPerHost: 2 * benchWorkers,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	e.client = &http.Client{Transport: tr, Timeout: time.Minute}
	b.Cleanup(func() {
		tr.CloseIdleConnections()
		stop()
	})
	return e
}

// benchRequest is one report ready to send.
type benchRequest struct {
	auth string
	body []byte
}

// run sends b.N reports from benchWorkers clients: as fast as they go when
// rate is 0, else paced at rate per second in all (open loop).
func (e *ingestBench) run(b *testing.B, rate float64) {
	e.runs++
	ctx := context.Background()
	// The reports are encoded before the clock starts: the load generator
	// shares the machine, and its JSON encoding is not what is measured.
	rng := mrand.New(mrand.NewPCG(uint64(e.stamp), uint64(e.runs)))
	base := time.Now().Add(-time.Second)
	reqs := make([]benchRequest, b.N)
	for k := range reqs {
		a := e.agents[rng.IntN(len(e.agents))]
		r := e.w.Report(fmt.Sprintf("http-%d-%d-%d", e.stamp, e.runs, k), a.index, rng.IntN(e.w.Origins),
			base.Add(time.Duration(k)*time.Microsecond))
		body, err := json.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		reqs[k] = benchRequest{auth: a.auth, body: body}
	}
	before, err := e.db.ReportCount(ctx)
	if err != nil {
		b.Fatal(err)
	}
	evals0, evalSum0 := e.evaluations()
	dials0 := e.dials.Load()
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	stopProfile := e.profile(b, rate)

	lats := make([]time.Duration, b.N) // each index written by one worker
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range benchWorkers {
		wg.Go(func() {
			for k := int(next.Add(1)) - 1; k < b.N; k = int(next.Add(1)) - 1 {
				due := time.Now()
				if interval > 0 {
					due = start.Add(time.Duration(k) * interval)
					time.Sleep(time.Until(due))
				}
				code, msg, err := e.post(ctx, reqs[k])
				lats[k] = time.Since(due)
				if err != nil || code != http.StatusAccepted {
					if failed.Add(1) == 1 {
						b.Errorf("report %d: status %d %s %v", k, code, msg, err)
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	stopProfile()

	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d reports were not answered 202", n, b.N)
	}
	after, err := e.db.ReportCount(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if after-before != int64(b.N) {
		b.Fatalf("ReportCount grew by %d, want %d (the reports sent)", after-before, b.N)
	}
	slices.Sort(lats)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "reports/s")
	b.ReportMetric(ms(lats[len(lats)/2]), "p50-ms")
	b.ReportMetric(ms(lats[min(len(lats)-1, len(lats)*99/100)]), "p99-ms")
	evals, evalSum := e.evaluations()
	b.ReportMetric(float64(evals-evals0), "evals")
	if evals > evals0 {
		b.ReportMetric(1000*(evalSum-evalSum0)/float64(evals-evals0), "eval-ms")
	}
	b.ReportMetric(float64(e.dials.Load()-dials0), "conns")
	if hwm := peakRSS(); hwm > 0 {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MiB") // the whole process: server, database and load generator
	}
}

// peakRSS is the process's peak resident set (VmHWM) in bytes, 0 where
// /proc is not there.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// post sends one report and drains the answer, so that the connection is
// reused.
func (e *ingestBench) post(ctx context.Context, r benchRequest) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(r.body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", r.auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body)), err
}

// evaluations returns how many policy evaluations the server ran and their
// total seconds, from its metrics.
func (e *ingestBench) evaluations() (uint64, float64) {
	mfs, err := e.srv.gather.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "storefence_evaluation_duration_seconds" && len(mf.GetMetric()) > 0 {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	return 0, 0
}

// profile starts a CPU profile of a max run when
// STOREFENCE_BENCH_CPUPROFILE is set; each round overwrites the last, so
// the file holds the longest. It returns the func that stops it.
func (e *ingestBench) profile(b *testing.B, rate float64) func() {
	path := os.Getenv("STOREFENCE_BENCH_CPUPROFILE")
	if path == "" || rate > 0 {
		return func() {}
	}
	f, err := os.Create(path + "." + e.backend)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatalf("STOREFENCE_BENCH_CPUPROFILE: %v (not with -cpuprofile)", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}
