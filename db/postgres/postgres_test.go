package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/dbtest"
	"github.com/storefence/storefence/db/internal/groupcommit"
	"github.com/storefence/storefence/db/internal/migrate"
	"github.com/storefence/storefence/report"
)

// dsnEnv names the database the tests may use; they skip without it. Each
// test works in a schema of its own, dropped afterwards.
const dsnEnv = "STOREFENCE_TEST_POSTGRES_DSN"

func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		tb.Skipf("set %s to run the PostgreSQL tests", dsnEnv)
	}
	return dsn
}

// freshSchema creates an empty schema, dropped when tb ends, and returns a
// DSN whose search path is that schema.
func freshSchema(tb testing.TB) string {
	tb.Helper()
	dsn := testDSN(tb)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect to %s: %v", dsnEnv, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "storefence_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(tb, dsn, schema)
}

func withSearchPath(tb testing.TB, dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			tb.Fatalf("%s is not a URL", dsnEnv)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

func openFresh(tb testing.TB, opt Options) (*DB, string) {
	tb.Helper()
	dsn := freshSchema(tb)
	d, err := Open(context.Background(), dsn, opt)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return d, dsn
}

func TestConformance(t *testing.T) {
	testDSN(t)
	dbtest.Run(t, func(t *testing.T) db.DB {
		d, _ := openFresh(t, Options{})
		return d
	})
}

func TestConformanceSmallBatches(t *testing.T) {
	testDSN(t)
	dbtest.Run(t, func(t *testing.T) db.DB {
		d, _ := openFresh(t, Options{MaxBatch: 2})
		return d
	})
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	d, dsn := openFresh(t, Options{})
	r := dbtest.Rep("r1", "vps-1", 0, []string{"shop-a"}, "203.0.113.7", "h1", "")
	dbtest.Put(t, d, r)
	d.Close()
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		d, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatalf("Open again: %v", err)
		}
		dbtest.CheckAgainst(t, d, r)
		var n int
		if err := d.pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) {
			t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
		}
		d.Close()
	}
}

// TestReplicas runs four DB values on one schema, as four server processes
// would: they migrate at once, then store overlapping reports at once; the
// result must be exact.
func TestReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	const replicas, workers, perWorker = 4, 4, 30
	dbs := make([]*DB, replicas)
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Go(func() {
			d, err := Open(ctx, dsn, Options{MaxBatch: 1 + i*8})
			if err != nil {
				t.Errorf("Open replica %d: %v", i, err)
				return
			}
			dbs[i] = d
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	defer func() {
		for _, d := range dbs {
			d.Close()
		}
	}()
	// Every report is sent to two replicas; the agents, stores and values
	// overlap across all of them.
	var all []*report.Report
	for k := range replicas * workers * perWorker {
		all = append(all, dbtest.Rep(fmt.Sprintf("rep-%d", k), fmt.Sprintf("vps-%d", k%6), k, []string{fmt.Sprintf("shop-%d", k%2)},
			fmt.Sprintf("203.0.113.%d", k%5), fmt.Sprintf("h%d", k%3), fmt.Sprintf("198.51.100.%d", k%4)))
	}
	var mu sync.Mutex
	inserted := map[string]int{}
	for i, d := range dbs {
		for w := range workers {
			wg.Go(func() {
				for k := w; k < len(all); k += workers {
					if k%replicas != i && (k+1)%replicas != i {
						continue
					}
					ins, err := d.PutReport(ctx, dbtest.Ingest(all[k]))
					if err != nil {
						t.Errorf("replica %d: PutReport: %v", i, err)
						return
					}
					if ins {
						mu.Lock()
						inserted[all[k].ID]++
						mu.Unlock()
					}
				}
			})
		}
	}
	wg.Wait()
	for _, r := range all {
		if inserted[r.ID] != 1 {
			t.Errorf("%s inserted %d times, want 1", r.ID, inserted[r.ID])
		}
	}
	dbtest.CheckAgainst(t, dbs[0], all...)
}

func TestOpenErrorsHidePassword(t *testing.T) {
	const secret = "s3cr3t-pa55"
	for _, dsn := range []string{
		"postgres://storefence:" + secret + "@127.0.0.1:1/storefence?sslmode=disable&connect_timeout=2",
		"postgres://storefence:" + secret + "@127.0.0.1:1/storefence?sslmode=bogus",
		"postgres://storefence:" + secret + "@[::1/x",
		"host=127.0.0.1 port=1 user=storefence password=" + secret + " sslmode=disable connect_timeout=2",
		"host=127.0.0.1 port=x password=" + secret,
	} {
		d, err := Open(context.Background(), dsn, Options{})
		if err == nil {
			d.Close()
			t.Errorf("Open(%s) = nil error", dsn)
			continue
		}
		t.Logf("Open: %v", err)
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Open error shows the password: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "postgres: ") {
			t.Errorf("Open error %q: want the prefix \"postgres: \"", err)
		}
	}
}

// TestBatchDuplicate commits one batch holding the same id twice, as
// concurrent resends of one report can: the first is inserted, the second
// not, and the report counts once.
func TestBatchDuplicate(t *testing.T) {
	d, _ := openFresh(t, Options{})
	defer d.Close()
	a := dbtest.Rep("a", "vps-1", 0, nil, "203.0.113.7", "h1", "")
	a2 := dbtest.Rep("a", "vps-1", 5, nil, "203.0.113.8", "h1", "")
	b := dbtest.Rep("b", "vps-1", 1, nil, "203.0.113.7", "h1", "")
	batch := []*groupcommit.Request{{In: dbtest.Ingest(b)}, {In: dbtest.Ingest(a)}, {In: dbtest.Ingest(a2)}}
	if err := d.commit(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false} {
		if batch[i].Inserted != want {
			t.Errorf("request %d: Inserted = %v, want %v", i, batch[i].Inserted, want)
		}
	}
	dbtest.CheckAgainst(t, d, a, b)
}

// TestNotifyReplicas runs the notifier's concurrency check through three
// DB values on one schema, as three server processes would.
func TestNotifyReplicas(t *testing.T) {
	dsn := freshSchema(t)
	var ds []db.Notifications
	for range 3 {
		d, err := Open(context.Background(), dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		ds = append(ds, d)
	}
	dbtest.NotifyConcurrent(t, ds...)
}
