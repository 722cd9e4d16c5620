// Package postgres is the PostgreSQL db backend, through
// github.com/jackc/pgx/v5 and its pool.
//
// Several server processes may share one database. PutReport calls are
// queued and committed in batches by one writer goroutine per process (group
// commit); each batch is three set-based statements whose upserts compute
// first and last seen, counts and the latest agent state atomically in the
// database, and which lock rows in one global order so that concurrent
// writers do not deadlock (a deadlock or serialization failure is retried
// all the same).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/internal/groupcommit"
	"github.com/storefence/storefence/db/internal/migrate"
	"github.com/storefence/storefence/policy"
)

//go:embed migrations/*.sql
var migrations embed.FS

const (
	// migrateLock is the advisory lock that serialises migrations of
	// processes opening the database at once ("storefen").
	migrateLock = 0x73746f726566656e
	pruneChunk  = 5000 // reports deleted per transaction
	maxAttempts = 5    // of a batch that hit a deadlock or serialization failure
)

// Options tunes Open. The zero value is the default.
type Options struct {
	// Now is the clock, for reports and tokens without a time and for the
	// migration log; time.Now when nil.
	Now func() time.Time
	// MaxBatch is the most PutReport calls committed in one transaction;
	// 0 means 256.
	MaxBatch int
}

// DB is a PostgreSQL database. It is safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool
	now  func() time.Time
	q    *groupcommit.Queue
}

var _ db.DB = (*DB)(nil)

// Open connects to the database dsn names (a postgres:// URL or key=value
// pairs, with pgx's and pgxpool's parameters) and brings its schema, in the
// first schema of the search path, up to date. Errors never contain the
// password.
func Open(ctx context.Context, dsn string, opt Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN: say nothing of it.
		return nil, errors.New("postgres: open: cannot parse the dsn (want postgres://user:password@host:port/database?param=value… or key=value pairs)")
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "storefence"
	}
	d := &DB{now: opt.Now}
	if d.now == nil {
		d.now = time.Now
	}
	d.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := d.pool.Ping(ctx); err != nil {
		d.pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := d.migrate(ctx); err != nil {
		d.pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	d.q = groupcommit.New(d.commit, groupcommit.Config{Name: "postgres", MaxBatch: opt.MaxBatch})
	return d, nil
}

// migrate applies the embedded migrations the database lacks, all in one
// transaction, under an advisory lock.
func (d *DB) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    bigint PRIMARY KEY,
			name       text   NOT NULL,
			applied_at bigint NOT NULL
		)`); err != nil {
			return err
		}
		var have int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&have); err != nil {
			return err
		}
		if latest := ms[len(ms)-1].Version; have > latest {
			return fmt.Errorf("database schema version %d is newer than this program's %d", have, latest)
		}
		for _, m := range ms[have:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				m.Version, m.Name, d.now().UnixNano()); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// PutReport implements db.DB. Calls are committed in batches; it returns once
// the batch holding in committed.
func (d *DB) PutReport(ctx context.Context, in *db.Ingest) (bool, error) {
	return d.q.Put(ctx, in)
}

// The statements; TestQueryPlans checks that an index serves each.
const (
	insertReports = `INSERT INTO reports (id, agent, collected_at, received_at, raw)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bytea[])
		ON CONFLICT (id) DO NOTHING
		RETURNING id`
	upsertSightings = `INSERT INTO sightings (agent, signal, value, stores, first_seen, last_seen, count)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])
		ON CONFLICT (agent, signal, value, stores) DO UPDATE SET
			first_seen = least(sightings.first_seen, EXCLUDED.first_seen),
			last_seen = greatest(sightings.last_seen, EXCLUDED.last_seen),
			count = sightings.count + EXCLUDED.count`
	upsertAgents = `INSERT INTO agents (agent, collected_at, stores, conflict, errors, version)
		SELECT a, c, s, f, e::jsonb, v
		FROM unnest($1::text[], $2::bigint[], $3::text[], $4::boolean[], $5::text[], $6::text[]) AS u (a, c, s, f, e, v)
		ON CONFLICT (agent) DO UPDATE SET
			collected_at = EXCLUDED.collected_at, stores = EXCLUDED.stores, conflict = EXCLUDED.conflict,
			errors = EXCLUDED.errors, version = EXCLUDED.version
		WHERE EXCLUDED.collected_at >= agents.collected_at`
	qSightings = `SELECT agent, signal, value, stores, first_seen, last_seen, count
		FROM sightings ORDER BY agent, signal, value, stores`
	qAgents = `SELECT agent, collected_at, stores, conflict, errors::text, version
		FROM agents ORDER BY agent`
	qCreateToken = "INSERT INTO tokens (id, agent, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)"
	qTokenAgent  = "SELECT agent FROM tokens WHERE hash = $1 AND revoked_at IS NULL"
	qTokens      = "SELECT id, agent, created_at, revoked_at FROM tokens ORDER BY created_at, id"
	qRevoke      = "UPDATE tokens SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2"
	qPrune       = `DELETE FROM reports WHERE id IN
		(SELECT id FROM reports WHERE received_at < $1 ORDER BY received_at LIMIT $2)`
	qCount = "SELECT count(*) FROM reports"
)

// commit stores a batch of PutReport calls in one transaction of three
// statements. Rows are locked in key order (reports by id, sightings by key,
// agents by id), the same in every process.
func (d *DB) commit(ctx context.Context, batch []*groupcommit.Request) error {
	first := make(map[string]*groupcommit.Request, len(batch)) // a resend within the batch is not inserted
	var ids, agents []string
	var collected, received []int64
	var raws [][]byte
	for _, r := range batch {
		rep := r.In.Report
		if first[rep.ID] != nil {
			continue
		}
		first[rep.ID] = r
		recv := r.In.ReceivedAt
		if recv.IsZero() {
			recv = d.now()
		}
		raw := r.In.Raw
		if raw == nil {
			raw = []byte{}
		}
		ids = append(ids, rep.ID)
		agents = append(agents, rep.Agent)
		collected = append(collected, rep.CollectedAt.UnixNano())
		received = append(received, recv.UnixNano())
		raws = append(raws, raw)
	}
	sortByID(ids, agents, collected, received, raws)

	var err error
	for attempt := 1; ; attempt++ {
		err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, insertReports, ids, agents, collected, received, raws)
			if err != nil {
				return fmt.Errorf("insert reports: %w", err)
			}
			inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("insert reports: %w", err)
			}
			for _, id := range inserted {
				first[id].Inserted = true
			}
			ins := make([]*db.Ingest, 0, len(inserted))
			for _, r := range batch {
				if r.Inserted {
					ins = append(ins, r.In)
				}
			}
			return upsert(ctx, tx, ins)
		})
		if err == nil || attempt == maxAttempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
		for _, r := range batch {
			r.Inserted = false
		}
	}
}

// upsert folds the inserted reports into sightings and agent states.
func upsert(ctx context.Context, tx pgx.Tx, ins []*db.Ingest) error {
	deltas, states, err := groupcommit.Fold(ins)
	if err != nil {
		return err
	}
	if len(deltas) > 0 {
		n := len(deltas)
		agent, signal, value, stores := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		first, last, count := make([]int64, n), make([]int64, n), make([]int64, n)
		for i, s := range deltas {
			agent[i], signal[i], value[i], stores[i] = s.Agent, s.Signal, s.Value, s.Stores
			first[i], last[i], count[i] = s.First, s.Last, s.Count
		}
		if _, err := tx.Exec(ctx, upsertSightings, agent, signal, value, stores, first, last, count); err != nil {
			return fmt.Errorf("upsert sightings: %w", err)
		}
	}
	if len(states) > 0 {
		n := len(states)
		agent, stores, errs, version := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		at, conflict := make([]int64, n), make([]bool, n)
		for i, a := range states {
			agent[i], at[i], stores[i], conflict[i], errs[i], version[i] = a.Agent, a.CollectedAt, a.Stores, a.Conflict, string(a.Errors), a.Version
		}
		if _, err := tx.Exec(ctx, upsertAgents, agent, at, stores, conflict, errs, version); err != nil {
			return fmt.Errorf("upsert agents: %w", err)
		}
	}
	return nil
}

// retryable reports whether a transaction failed only for running beside
// another one.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") // deadlock_detected, serialization_failure
}

// Sightings implements db.DB.
func (d *DB) Sightings(ctx context.Context) ([]policy.Sighting, error) {
	rows, err := d.pool.Query(ctx, qSightings)
	if err != nil {
		return nil, fmt.Errorf("postgres: sightings: %w", err)
	}
	defer rows.Close()
	out, err := groupcommit.ScanSightings(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: sightings: %w", err)
	}
	return out, nil
}

// Agents implements db.DB.
func (d *DB) Agents(ctx context.Context) ([]policy.AgentState, error) {
	rows, err := d.pool.Query(ctx, qAgents)
	if err != nil {
		return nil, fmt.Errorf("postgres: agents: %w", err)
	}
	defer rows.Close()
	out, err := groupcommit.ScanAgents(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: agents: %w", err)
	}
	return out, nil
}

// CreateToken implements db.DB. A zero t.CreatedAt is now.
func (d *DB) CreateToken(ctx context.Context, t db.Token, hash []byte) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = d.now()
	}
	if err := groupcommit.CheckToken(t, hash); err != nil {
		return fmt.Errorf("postgres: create token: %w", err)
	}
	var revoked *int64
	if !t.RevokedAt.IsZero() {
		ns := t.RevokedAt.UnixNano()
		revoked = &ns
	}
	if _, err := d.pool.Exec(ctx, qCreateToken,
		t.ID, t.Agent, hash, t.CreatedAt.UnixNano(), revoked); err != nil {
		return fmt.Errorf("postgres: create token %q: %w", t.ID, err)
	}
	return nil
}

// TokenAgent implements db.DB.
func (d *DB) TokenAgent(ctx context.Context, hash []byte) (string, error) {
	var agent string
	err := d.pool.QueryRow(ctx, qTokenAgent, hash).Scan(&agent)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("postgres: token: %w", db.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("postgres: token: %w", err)
	}
	return agent, nil
}

// Tokens implements db.DB.
func (d *DB) Tokens(ctx context.Context) ([]db.Token, error) {
	rows, err := d.pool.Query(ctx, qTokens)
	if err != nil {
		return nil, fmt.Errorf("postgres: tokens: %w", err)
	}
	defer rows.Close()
	var out []db.Token
	for rows.Next() {
		var t db.Token
		var created int64
		var revoked *int64
		if err := rows.Scan(&t.ID, &t.Agent, &created, &revoked); err != nil {
			return nil, fmt.Errorf("postgres: tokens: %w", err)
		}
		t.CreatedAt = groupcommit.Time(created)
		if revoked != nil {
			t.RevokedAt = groupcommit.Time(*revoked)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: tokens: %w", err)
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
		return fmt.Errorf("postgres: revoke token %q: time %s out of range", id, now)
	}
	tag, err := d.pool.Exec(ctx, qRevoke, now.UnixNano(), id)
	if err != nil {
		return fmt.Errorf("postgres: revoke token %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: revoke token %q: %w", id, db.ErrNotFound)
	}
	return nil
}

// PruneReports implements db.DB. It deletes in short transactions, so that
// a large prune does not hold up PutReport.
func (d *DB) PruneReports(ctx context.Context, cutoff time.Time) (int64, error) {
	if !groupcommit.Representable(cutoff) {
		return 0, fmt.Errorf("postgres: prune reports: cutoff %s out of range", cutoff)
	}
	var total int64
	for {
		tag, err := d.pool.Exec(ctx, qPrune, cutoff.UnixNano(), pruneChunk)
		if err != nil {
			return total, fmt.Errorf("postgres: prune reports: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneChunk {
			return total, nil
		}
	}
}

// ReportCount implements db.DB.
func (d *DB) ReportCount(ctx context.Context) (int64, error) {
	var n int64
	if err := d.pool.QueryRow(ctx, qCount).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: report count: %w", err)
	}
	return n, nil
}

// Ping implements db.DB.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close commits the PutReport calls already queued and closes the pool.
// Calls after Close fail.
func (d *DB) Close() error {
	d.q.Close()
	d.pool.Close()
	return nil
}

// sortByID sorts the columns of a batch of reports by id.
func sortByID(ids, agents []string, collected, received []int64, raws [][]byte) {
	perm := make([]int, len(ids))
	for i := range perm {
		perm[i] = i
	}
	slices.SortFunc(perm, func(a, b int) int { return strings.Compare(ids[a], ids[b]) })
	ids2, agents2 := slices.Clone(ids), slices.Clone(agents)
	collected2, received2, raws2 := slices.Clone(collected), slices.Clone(received), slices.Clone(raws)
	for to, from := range perm {
		ids[to], agents[to], collected[to], received[to], raws[to] = ids2[from], agents2[from], collected2[from], received2[from], raws2[from]
	}
}
