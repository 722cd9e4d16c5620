package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/dbtest"
	"github.com/storefence/storefence/db/internal/groupcommit"
	"github.com/storefence/storefence/db/internal/migrate"
)

func openTemp(t testing.TB, opt Options) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "storefence.db")
	d, err := Open(context.Background(), path, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return d, path
}

func TestConformance(t *testing.T) {
	dbtest.Run(t, func(t *testing.T) db.DB {
		d, _ := openTemp(t, Options{})
		return d
	})
}

// TestConformanceSmallBatches runs the suite with batches of at most two,
// so that batch boundaries fall inside the concurrent test's bursts.
func TestConformanceSmallBatches(t *testing.T) {
	dbtest.Run(t, func(t *testing.T) db.DB {
		d, _ := openTemp(t, Options{MaxBatch: 2, SyncFull: true})
		return d
	})
}

func TestOpenRejects(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if d, err := Open(context.Background(), path, Options{}); err == nil {
			d.Close()
			t.Errorf("Open(%q) = nil error, want one", path)
		}
	}
}

func pragma(t *testing.T, c *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := c.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestPragmas(t *testing.T) {
	for _, tt := range []struct {
		opt  Options
		sync string
	}{{Options{}, "1"}, {Options{SyncFull: true}, "2"}} {
		d, _ := openTemp(t, tt.opt)
		want := map[string]string{"journal_mode": "wal", "synchronous": tt.sync, "foreign_keys": "1", "busy_timeout": "10000", "query_only": "0"}
		for name, w := range want {
			if got := pragma(t, d.w, name); got != w {
				t.Errorf("writer (%+v): PRAGMA %s = %s, want %s", tt.opt, name, got, w)
			}
		}
		for name, w := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000", "query_only": "1"} {
			if got := pragma(t, d.r, name); got != w {
				t.Errorf("reader: PRAGMA %s = %s, want %s", name, got, w)
			}
		}
		if _, err := d.r.Exec("DELETE FROM reports"); err == nil {
			t.Error("a reader connection could write")
		}
		d.Close()
	}
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	d, path := openTemp(t, Options{})
	r := dbtest.Rep("r1", "vps-1", 0, []string{"shop-a"}, "203.0.113.7", "h1", "")
	dbtest.Put(t, d, r)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // opening again migrates nothing and keeps the data
		d, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("Open again: %v", err)
		}
		dbtest.CheckAgainst(t, d, r)
		if dbtest.Put(t, d, r) {
			t.Error("PutReport after reopening: inserted = true")
		}
		var n int
		if err := d.r.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) {
			t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewerSchema(t *testing.T) {
	d, path := openTemp(t, Options{})
	if _, err := d.w.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, '0099_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if d, err := Open(context.Background(), path, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		if err == nil {
			d.Close()
		}
		t.Errorf("Open of a newer schema: error = %v, want one about a newer schema", err)
	}
}

// TestNoBusy mixes every kind of write and read at once, through two DB
// values on one file (as an operator's second process would): no call may
// fail, SQLITE_BUSY in particular.
func TestNoBusy(t *testing.T) {
	ctx := context.Background()
	d1, path := openTemp(t, Options{})
	defer d1.Close()
	d2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := range 8 {
		d := []*DB{d1, d2}[w%2]
		wg.Go(func() {
			for i := range 60 {
				r := dbtest.Rep(fmt.Sprintf("b-%d-%d", w, i), fmt.Sprintf("vps-%d", i%4), i, []string{"shop-a"},
					fmt.Sprintf("203.0.113.%d", i%9), "h1", "")
				_, err := d.PutReport(ctx, dbtest.Ingest(r))
				if err != nil {
					errs <- err
				}
				switch i % 9 {
				case 0:
					_, err = d.Sightings(ctx)
				case 1:
					_, err = d.Agents(ctx)
				case 2:
					err = d.CreateToken(ctx, db.Token{ID: fmt.Sprintf("t-%d-%d", w, i), Agent: "vps-1"}, []byte(fmt.Sprintf("h-%d-%d", w, i)))
				case 3:
					err = d.RevokeToken(ctx, fmt.Sprintf("t-%d-%d", w, i-1), time.Now())
				case 4:
					_, err = d.PruneReports(ctx, dbtest.T0().Add(time.Duration(i)*time.Second))
				case 5:
					_, err = d.ReportCount(ctx)
				case 6:
					err = d.NotifyTransition(ctx, func([]db.FindingState, []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
						return nil, []db.OutboxMessage{dbtest.Msg(fmt.Sprintf("k-%d-%d", w, i), "chat", i)}, nil
					})
				case 7:
					var ms []db.OutboxMessage
					ms, err = d.ClaimOutbox(ctx, "chat", fmt.Sprintf("o-%d", w), dbtest.T0().Add(time.Hour), time.Hour, 2)
					for _, m := range ms {
						if err == nil {
							err = d.FinishOutbox(ctx, m.ID, fmt.Sprintf("o-%d", w), db.Outcome{State: db.OutboxSent, At: time.Now(), Attempts: 1})
						}
					}
				case 8:
					err = d.PutAck(ctx, db.Ack{Finding: fmt.Sprintf("f-%d", i), Until: time.Now()})
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestBatchDuplicate commits one batch holding the same id twice, as
// concurrent resends of one report can: the first is inserted, the second
// not, and the report counts once.
func TestBatchDuplicate(t *testing.T) {
	d, _ := openTemp(t, Options{})
	defer d.Close()
	a := dbtest.Rep("a", "vps-1", 0, nil, "203.0.113.7", "h1", "")
	a2 := dbtest.Rep("a", "vps-1", 5, nil, "203.0.113.8", "h1", "")
	b := dbtest.Rep("b", "vps-1", 1, nil, "203.0.113.7", "h1", "")
	batch := []*groupcommit.Request{{In: dbtest.Ingest(a)}, {In: dbtest.Ingest(a2)}, {In: dbtest.Ingest(b)}}
	if err := d.commit(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true} {
		if batch[i].Inserted != want {
			t.Errorf("request %d: Inserted = %v, want %v", i, batch[i].Inserted, want)
		}
	}
	dbtest.CheckAgainst(t, d, a, b)
}

// TestNotifyReplicas runs the notifier's concurrency check through two DB
// values on one file, as two processes would.
func TestNotifyReplicas(t *testing.T) {
	d1, path := openTemp(t, Options{})
	defer d1.Close()
	d2, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	dbtest.NotifyConcurrent(t, d1, d2)
}
