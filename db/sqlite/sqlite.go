// Package sqlite is the embedded db backend: one SQLite file in WAL mode,
// through the pure-Go driver modernc.org/sqlite (no cgo).
//
// Writes go through one connection with BEGIN IMMEDIATE, so that within a
// process no SQLITE_BUSY ever reaches a caller (another process writing the
// same file is waited for, up to a 10 s busy timeout); PutReport calls are
// queued and committed in batches by one writer goroutine (group commit),
// each caller answered once its batch committed. Reads use a pool of query-only connections,
// which WAL lets run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/internal/groupcommit"
	"github.com/storefence/storefence/db/internal/migrate"
	"github.com/storefence/storefence/policy"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Tuning. The page caches are per connection.
const (
	busyTimeout      = 10 * time.Second
	writerCacheKiB   = 64 << 10
	readerCacheKiB   = 16 << 10
	journalSizeLimit = 64 << 20 // bytes the WAL is truncated to after a checkpoint
	pruneChunk       = 5000     // reports deleted per transaction
)

// The statements; TestQueryPlans checks that an index serves each.
const (
	qPutReport = `INSERT INTO reports (id, agent, collected_at, received_at, raw) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`
	qPutSighting = `INSERT INTO sightings (agent, signal, value, stores, first_seen, last_seen, count)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (agent, signal, value, stores) DO UPDATE SET
			first_seen = min(first_seen, excluded.first_seen),
			last_seen = max(last_seen, excluded.last_seen),
			count = count + excluded.count`
	qPutAgent = `INSERT INTO agents (agent, collected_at, stores, conflict, errors, version)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (agent) DO UPDATE SET
			collected_at = excluded.collected_at, stores = excluded.stores, conflict = excluded.conflict,
			errors = excluded.errors, version = excluded.version
		WHERE excluded.collected_at >= agents.collected_at`
	qSightings = `SELECT agent, signal, value, stores, first_seen, last_seen, count
		FROM sightings ORDER BY agent, signal, value, stores`
	qAgents = `SELECT agent, collected_at, stores, conflict, errors, version
		FROM agents ORDER BY agent`
	qTokenAgent = "SELECT agent FROM tokens WHERE hash = ? AND revoked_at IS NULL"
	qTokens     = "SELECT id, agent, created_at, revoked_at FROM tokens ORDER BY created_at, id"
	qRevoke     = "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?"
	qPrune      = `DELETE FROM reports WHERE seq IN
		(SELECT seq FROM reports WHERE received_at < ? ORDER BY received_at LIMIT ?)`
	qCount       = "SELECT count(*) FROM reports"
	qCreateToken = "INSERT INTO tokens (id, agent, hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)"
)

// Options tunes Open. The zero value is the default.
type Options struct {
	// Now is the clock, for reports and tokens without a time and for the
	// migration log; time.Now when nil.
	Now func() time.Time
	// SyncFull makes every commit durable against power loss
	// (synchronous=FULL). The default, synchronous=NORMAL, is durable
	// against a crash of the process and may lose the last commits when
	// the machine loses power; it never corrupts the file.
	SyncFull bool
	// MaxBatch is the most PutReport calls committed in one transaction;
	// 0 means 256.
	MaxBatch int
}

// DB is a SQLite database. It is safe for concurrent use.
type DB struct {
	w   *sql.DB // the writer: one connection, BEGIN IMMEDIATE
	r   *sql.DB // readers: query-only connections
	now func() time.Time
	q   *groupcommit.Queue

	putReport, putSighting, putAgent *sql.Stmt // prepared on w
	putState, enqueue, claim, finish *sql.Stmt // prepared on w
}

var _ db.DB = (*DB)(nil)

// Open opens the database file at path, creating it if needed, and brings
// its schema up to date. path is a plain file name: an in-memory database
// cannot be shared between the writer and the readers.
func Open(ctx context.Context, path string, opt Options) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return nil, fmt.Errorf("sqlite: open %q: want a plain file name", path)
	}
	d := &DB{now: opt.Now}
	if d.now == nil {
		d.now = time.Now
	}
	var err error
	d.w, err = sql.Open("sqlite", dsn(path, true, opt.SyncFull))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	d.w.SetMaxOpenConns(1)
	d.w.SetMaxIdleConns(1)
	d.w.SetConnMaxLifetime(0)
	d.w.SetConnMaxIdleTime(0)
	if err := d.init(ctx, path); err != nil {
		d.w.Close()
		if d.r != nil {
			d.r.Close()
		}
		return nil, err
	}
	d.q = groupcommit.New(d.commit, groupcommit.Config{Name: "sqlite", MaxBatch: opt.MaxBatch})
	return d, nil
}

// dsn is the data source name of the writer or of a reader. Every setting
// is in it, so that each new connection of the pool gets it.
func dsn(path string, writer, syncFull bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(busyTimeout.Milliseconds(), 10))
	q.Set("_foreign_keys", "1")
	if writer {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "NORMAL")
		if syncFull {
			q.Set("_synchronous", "FULL")
		}
		q.Set("_txlock", "immediate")
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", writerCacheKiB))
		q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", journalSizeLimit))
	} else {
		q.Set("_query_only", "1")
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", readerCacheKiB))
	}
	q.Add("_pragma", "temp_store(MEMORY)")
	return path + "?" + q.Encode()
}

func (d *DB) init(ctx context.Context, path string) error {
	var mode string
	if err := d.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: open %s: journal mode is %q, not wal", path, mode)
	}
	if err := d.migrate(ctx); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	var err error
	d.r, err = sql.Open("sqlite", dsn(path, false, false))
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	d.r.SetMaxOpenConns(n)
	d.r.SetMaxIdleConns(n)
	if err := d.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	for _, s := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&d.putReport, qPutReport},
		{&d.putSighting, qPutSighting},
		{&d.putAgent, qPutAgent},
		{&d.putState, qPutState},
		{&d.enqueue, qEnqueue},
		{&d.claim, qClaim},
		{&d.finish, qFinish},
	} {
		if *s.stmt, err = d.w.PrepareContext(ctx, s.sql); err != nil {
			return fmt.Errorf("sqlite: open %s: prepare: %w", path, err)
		}
	}
	return nil
}

// migrate applies the embedded migrations the database lacks, all in one
// transaction.
func (d *DB) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return err
	}
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var have int64
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&have); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if latest := ms[len(ms)-1].Version; have > latest {
		return fmt.Errorf("migrate: database schema version %d is newer than this program's %d", have, latest)
	}
	for _, m := range ms[have:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.Version, m.Name, d.now().UnixNano()); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// PutReport implements db.DB. Calls are committed in batches; it returns once
// the batch holding in committed.
func (d *DB) PutReport(ctx context.Context, in *db.Ingest) (bool, error) {
	return d.q.Put(ctx, in)
}

// commit stores a batch of PutReport calls in one transaction.
func (d *DB) commit(ctx context.Context, batch []*groupcommit.Request) error {
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	putReport := tx.StmtContext(ctx, d.putReport)
	ins := make([]*db.Ingest, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for _, r := range batch {
		rep := r.In.Report
		if seen[rep.ID] {
			continue // a resend within the batch
		}
		seen[rep.ID] = true
		recv := r.In.ReceivedAt
		if recv.IsZero() {
			recv = d.now()
		}
		raw := r.In.Raw
		if raw == nil {
			raw = []byte{}
		}
		res, err := putReport.ExecContext(ctx, rep.ID, rep.Agent, rep.CollectedAt.UnixNano(), recv.UnixNano(), raw)
		if err != nil {
			return fmt.Errorf("insert report: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("insert report: %w", err)
		}
		if n == 1 {
			r.Inserted = true
			ins = append(ins, r.In)
		}
	}
	deltas, agents, err := groupcommit.Fold(ins)
	if err != nil {
		return err
	}
	putSighting := tx.StmtContext(ctx, d.putSighting)
	for _, s := range deltas {
		if _, err := putSighting.ExecContext(ctx, s.Agent, s.Signal, s.Value, s.Stores, s.First, s.Last, s.Count); err != nil {
			return fmt.Errorf("upsert sighting: %w", err)
		}
	}
	putAgent := tx.StmtContext(ctx, d.putAgent)
	for _, a := range agents {
		if _, err := putAgent.ExecContext(ctx, a.Agent, a.CollectedAt, a.Stores, a.Conflict, string(a.Errors), a.Version); err != nil {
			return fmt.Errorf("upsert agent: %w", err)
		}
	}
	return tx.Commit()
}

// Sightings implements db.DB.
func (d *DB) Sightings(ctx context.Context) ([]policy.Sighting, error) {
	rows, err := d.r.QueryContext(ctx, qSightings)
	if err != nil {
		return nil, fmt.Errorf("sqlite: sightings: %w", err)
	}
	defer rows.Close()
	out, err := groupcommit.ScanSightings(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: sightings: %w", err)
	}
	return out, nil
}

// Agents implements db.DB.
func (d *DB) Agents(ctx context.Context) ([]policy.AgentState, error) {
	rows, err := d.r.QueryContext(ctx, qAgents)
	if err != nil {
		return nil, fmt.Errorf("sqlite: agents: %w", err)
	}
	defer rows.Close()
	out, err := groupcommit.ScanAgents(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: agents: %w", err)
	}
	return out, nil
}

// CreateToken implements db.DB. A zero t.CreatedAt is now.
func (d *DB) CreateToken(ctx context.Context, t db.Token, hash []byte) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = d.now()
	}
	if err := groupcommit.CheckToken(t, hash); err != nil {
		return fmt.Errorf("sqlite: create token: %w", err)
	}
	var revoked sql.NullInt64
	if !t.RevokedAt.IsZero() {
		revoked = sql.NullInt64{Int64: t.RevokedAt.UnixNano(), Valid: true}
	}
	if _, err := d.w.ExecContext(ctx, qCreateToken,
		t.ID, t.Agent, hash, t.CreatedAt.UnixNano(), revoked); err != nil {
		return fmt.Errorf("sqlite: create token %q: %w", t.ID, err)
	}
	return nil
}

// TokenAgent implements db.DB.
func (d *DB) TokenAgent(ctx context.Context, hash []byte) (string, error) {
	var agent string
	err := d.r.QueryRowContext(ctx, qTokenAgent, hash).Scan(&agent)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sqlite: token: %w", db.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: token: %w", err)
	}
	return agent, nil
}

// Tokens implements db.DB.
func (d *DB) Tokens(ctx context.Context) ([]db.Token, error) {
	rows, err := d.r.QueryContext(ctx, qTokens)
	if err != nil {
		return nil, fmt.Errorf("sqlite: tokens: %w", err)
	}
	defer rows.Close()
	var out []db.Token
	for rows.Next() {
		var t db.Token
		var created int64
		var revoked sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Agent, &created, &revoked); err != nil {
			return nil, fmt.Errorf("sqlite: tokens: %w", err)
		}
		t.CreatedAt = groupcommit.Time(created)
		if revoked.Valid {
			t.RevokedAt = groupcommit.Time(revoked.Int64)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: tokens: %w", err)
	}
	return out, nil
}

// RevokeToken implements db.DB. Revoking a revoked token keeps the first
// revocation time.
func (d *DB) RevokeToken(ctx context.Context, id string, now time.Time) error {
	if now.IsZero() {
		now = d.now()
	}
	if !groupcommit.Representable(now) {
		return fmt.Errorf("sqlite: revoke token %q: time %s out of range", id, now)
	}
	res, err := d.w.ExecContext(ctx, qRevoke, now.UnixNano(), id)
	if err != nil {
		return fmt.Errorf("sqlite: revoke token %q: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: revoke token %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: revoke token %q: %w", id, db.ErrNotFound)
	}
	return nil
}

// PruneReports implements db.DB. It deletes in short transactions, so that
// a large prune does not hold up PutReport.
func (d *DB) PruneReports(ctx context.Context, cutoff time.Time) (int64, error) {
	if !groupcommit.Representable(cutoff) {
		return 0, fmt.Errorf("sqlite: prune reports: cutoff %s out of range", cutoff)
	}
	var total int64
	for {
		res, err := d.w.ExecContext(ctx, qPrune, cutoff.UnixNano(), pruneChunk)
		if err != nil {
			return total, fmt.Errorf("sqlite: prune reports: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlite: prune reports: %w", err)
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}

// ReportCount implements db.DB.
func (d *DB) ReportCount(ctx context.Context) (int64, error) {
	var n int64
	if err := d.r.QueryRowContext(ctx, qCount).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: report count: %w", err)
	}
	return n, nil
}

// Ping implements db.DB: both the readers and the writer answer.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := d.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close commits the PutReport calls already queued and closes the database.
// Calls after Close fail.
func (d *DB) Close() error {
	d.q.Close()
	var errs []error
	for _, s := range []*sql.Stmt{d.putReport, d.putSighting, d.putAgent, d.putState, d.enqueue, d.claim, d.finish} {
		errs = append(errs, s.Close())
	}
	errs = append(errs, d.r.Close(), d.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}
