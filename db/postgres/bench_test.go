package postgres

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// preload copies n sightings of w into d, with one agent row per agent and
// one raw report per ten sightings, then analyzes the tables.
func preload(tb testing.TB, d *DB, w dbtest.Workload, n int) {
	tb.Helper()
	start := time.Now()
	ctx := context.Background()
	var sightings, agents, reports [][]any
	raw := []byte(strings.Repeat("x", 1024))
	for s := range w.Preload(n) {
		stores := groupcommit.StoresKey(s.Stores)
		t := s.FirstSeen.UnixNano()
		sightings = append(sightings, []any{s.Agent, s.Signal, s.Value, stores, t, t, s.Count})
		if s.Signal == policy.SameMachine {
			agents = append(agents, []any{s.Agent, t, stores, false, "[]", "1.0.0"})
		}
		if len(sightings)%10 == 1 {
			reports = append(reports, []any{fmt.Sprintf("preload-%d", len(sightings)), s.Agent, t, t, raw})
		}
	}
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		for _, c := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"sightings", []string{"agent", "signal", "value", "stores", "first_seen", "last_seen", "count"}, sightings},
			{"agents", []string{"agent", "collected_at", "stores", "conflict", "errors", "version"}, agents},
			{"reports", []string{"id", "agent", "collected_at", "received_at", "raw"}, reports},
		} {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
				return fmt.Errorf("copy %s: %w", c.table, err)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := d.pool.Exec(ctx, "ANALYZE"); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("preloaded %d sightings in %v", len(sightings), time.Since(start).Round(time.Millisecond))
}

// BenchmarkPutReport measures PutReport throughput (closed loop, 32
// goroutines per core) and latency at 1,000 reports/s (paced), on a fresh
// schema preloaded with STOREFENCE_BENCH_PRELOAD sightings. It needs
// STOREFENCE_TEST_POSTGRES_DSN.
func BenchmarkPutReport(b *testing.B) {
	d, _ := openFresh(b, Options{})
	defer d.Close()
	w := dbtest.DefaultWorkload()
	preload(b, d, w, preloadSize(b))
	b.Run("max", func(b *testing.B) { dbtest.BenchPutReport(b, d, w, 32, 0) })
	b.Run("rate=1000", func(b *testing.B) { dbtest.BenchPutReport(b, d, w, 32, 1000) })
}
