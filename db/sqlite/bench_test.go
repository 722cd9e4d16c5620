package sqlite

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storefence/storefence/db/dbtest"
	"github.com/storefence/storefence/db/internal/groupcommit"
	"github.com/storefence/storefence/policy"
)

// preloadSize is how many sightings the benchmarks start with:
// STOREFENCE_BENCH_PRELOAD, 100,000 by default.
func preloadSize(tb testing.TB) int {
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

// preload bulk-inserts n sightings of w in one transaction, with one agent
// row per agent and one raw report per ten sightings.
func preload(tb testing.TB, d *DB, w dbtest.Workload, n int) {
	tb.Helper()
	start := time.Now()
	ctx := context.Background()
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	sight, err := tx.PrepareContext(ctx, `INSERT INTO sightings (agent, signal, value, stores, first_seen, last_seen, count) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		tb.Fatal(err)
	}
	agent, err := tx.PrepareContext(ctx, `INSERT INTO agents (agent, collected_at, stores, conflict, errors, version) VALUES (?, ?, ?, 0, '[]', '1.0.0')`)
	if err != nil {
		tb.Fatal(err)
	}
	rep, err := tx.PrepareContext(ctx, `INSERT INTO reports (id, agent, collected_at, received_at, raw) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		tb.Fatal(err)
	}
	raw := []byte(strings.Repeat("x", 1024))
	count := 0
	for s := range w.Preload(n) {
		stores := groupcommit.StoresKey(s.Stores)
		t := s.FirstSeen.UnixNano()
		if _, err := sight.ExecContext(ctx, s.Agent, s.Signal, s.Value, stores, t, t, s.Count); err != nil {
			tb.Fatal(err)
		}
		if s.Signal == policy.SameMachine {
			if _, err := agent.ExecContext(ctx, s.Agent, t, stores); err != nil {
				tb.Fatal(err)
			}
		}
		if count%10 == 0 {
			if _, err := rep.ExecContext(ctx, fmt.Sprintf("preload-%d", count), s.Agent, t, t, raw); err != nil {
				tb.Fatal(err)
			}
		}
		count++
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("preloaded %d sightings in %v", count, time.Since(start).Round(time.Millisecond))
}

// BenchmarkPutReport measures PutReport throughput (closed loop, 32
// goroutines per core) and latency at 1,000 reports/s (paced), on a
// database preloaded with STOREFENCE_BENCH_PRELOAD sightings, with
// synchronous=NORMAL (the default) and FULL.
func BenchmarkPutReport(b *testing.B) {
	for _, sync := range []struct {
		name string
		full bool
	}{{"sync=normal", false}, {"sync=full", true}} {
		b.Run(sync.name, func(b *testing.B) {
			d, _ := openTemp(b, Options{SyncFull: sync.full})
			defer d.Close()
			w := dbtest.DefaultWorkload()
			preload(b, d, w, preloadSize(b))
			b.Run("max", func(b *testing.B) { dbtest.BenchPutReport(b, d, w, 32, 0) })
			b.Run("rate=1000", func(b *testing.B) { dbtest.BenchPutReport(b, d, w, 32, 1000) })
		})
	}
}
