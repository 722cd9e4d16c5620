package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/internal/groupcommit"
	"github.com/storefence/storefence/db/internal/notifyrows"
)

var _ db.Notifications = (*DB)(nil)

// notifyLock is the advisory lock that serialises NotifyTransition across
// the processes sharing the database ("sfnotify").
const notifyLock = 0x73666e6f74696679

// The notifier's statements; TestQueryPlans checks that an index serves
// each read.
const (
	qLockNotify  = "SELECT pg_advisory_xact_lock($1)"
	qStates      = "SELECT " + notifyrows.StateColumns + " FROM finding_states ORDER BY id"
	qAcks        = "SELECT " + notifyrows.AckColumns + " FROM acks ORDER BY finding"
	upsertStates = `INSERT INTO finding_states (` + notifyrows.StateColumns + `)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[],
			$7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])
		ON CONFLICT (id) DO UPDATE SET
			signal = EXCLUDED.signal, severity = EXCLUDED.severity, value = EXCLUDED.value,
			stores = EXCLUDED.stores, open = EXCLUDED.open, version = EXCLUDED.version,
			opened_at = EXCLUDED.opened_at, changed_at = EXCLUDED.changed_at, reminded_at = EXCLUDED.reminded_at`
	// Ids are drawn in the order the transition returned the messages.
	enqueue = `INSERT INTO outbox (key, channel, payload, created_at, next_at, attempts, state, last_error)
		SELECT k, c, p, ca, na, 0, 'pending', ''
		FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[], $5::bigint[]) WITH ORDINALITY AS u (k, c, p, ca, na, i)
		ORDER BY i
		ON CONFLICT (key) DO NOTHING`
	// The CTE is materialised so that the rows it locked are the rows
	// updated, however the planner joins; the literal 'pending' lets the
	// partial index outbox_claim serve.
	qClaim = `WITH c AS MATERIALIZED (
			SELECT id FROM outbox
			WHERE channel = $3 AND state = 'pending' AND next_at <= $4 AND (lease_until IS NULL OR lease_until <= $4)
			ORDER BY id LIMIT $5
			FOR UPDATE SKIP LOCKED)
		UPDATE outbox SET lease_owner = $1, lease_until = $2
		WHERE id IN (SELECT id FROM c)
		RETURNING ` + notifyrows.MessageColumns
	qFinish = `UPDATE outbox SET state = $1, attempts = $2, last_error = coalesce(nullif($3::text, ''), last_error),
			next_at = coalesce($4::bigint, next_at), done_at = $5::bigint, lease_owner = NULL, lease_until = NULL
		WHERE id = $6 AND lease_owner = $7 AND state = 'pending'`
	qOutbox = "SELECT " + notifyrows.MessageColumns + ` FROM outbox
		WHERE ($1::text = '' OR channel = $1) AND ($2::text = '' OR state = $2) ORDER BY id LIMIT $3`
	qOutboxStats = "SELECT " + notifyrows.StatsColumns + " FROM outbox GROUP BY state"
	qPruneOutbox = `DELETE FROM outbox WHERE id IN
		(SELECT id FROM outbox WHERE done_at < $1 AND state <> 'pending' ORDER BY done_at LIMIT $2)`
	qPutAck = `INSERT INTO acks (` + notifyrows.AckColumns + `) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (finding) DO UPDATE SET
			until = EXCLUDED.until, acked_by = EXCLUDED.acked_by, reason = EXCLUDED.reason, created_at = EXCLUDED.created_at`
)

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func query[T any](ctx context.Context, q querier, scan func(groupcommit.Rows) ([]T, error), sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scan(rows)
}

// NotifyTransition implements db.Notifications. The transaction first
// takes the advisory lock notifyLock, which serialises the calls of every
// process; as each statement of the (read committed) transaction sees what
// committed before it, fn sees what the previous call stored.
func (d *DB) NotifyTransition(ctx context.Context, fn db.Transition) error {
	var fnErr error
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, qLockNotify, int64(notifyLock)); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		prev, err := query(ctx, tx, notifyrows.ScanStates, qStates)
		if err != nil {
			return fmt.Errorf("finding states: %w", err)
		}
		acks, err := query(ctx, tx, notifyrows.ScanAcks, qAcks)
		if err != nil {
			return fmt.Errorf("acks: %w", err)
		}
		next, msgs, err := fn(prev, acks)
		if err != nil {
			fnErr = err
			return err
		}
		states, err := notifyrows.States(next)
		if err != nil {
			return err
		}
		ms, err := notifyrows.Messages(msgs, d.now())
		if err != nil {
			return err
		}
		if n := len(states); n > 0 {
			id, signal, severity, value, stores := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			open, version, opened, changed, reminded := make([]bool, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]*int64, n)
			for i, s := range states {
				id[i], signal[i], severity[i], value[i], stores[i] = s.ID, s.Signal, s.Severity, s.Value, s.Stores
				open[i], version[i], opened[i], changed[i], reminded[i] = s.Open, s.Version, s.OpenedAt, s.ChangedAt, s.RemindedAt
			}
			if _, err := tx.Exec(ctx, upsertStates, id, signal, severity, value, stores, open, version, opened, changed, reminded); err != nil {
				return fmt.Errorf("upsert finding states: %w", err)
			}
		}
		if n := len(ms); n > 0 {
			key, channel, payload, created, next := make([]string, n), make([]string, n), make([][]byte, n), make([]int64, n), make([]int64, n)
			for i, m := range ms {
				key[i], channel[i], payload[i], created[i], next[i] = m.Key, m.Channel, m.Payload, m.CreatedAt, m.NextAt
			}
			if _, err := tx.Exec(ctx, enqueue, key, channel, payload, created, next); err != nil {
				return fmt.Errorf("enqueue: %w", err)
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr // as is
	}
	if err != nil {
		return fmt.Errorf("postgres: notify transition: %w", err)
	}
	return nil
}

// ClaimOutbox implements db.Notifications, in one statement: the rows are
// locked with SKIP LOCKED, so that replicas claiming at once take
// different messages and never wait for each other.
func (d *DB) ClaimOutbox(ctx context.Context, channel, owner string, now time.Time, lease time.Duration, limit int) ([]db.OutboxMessage, error) {
	at, until, err := notifyrows.Claim(channel, owner, now, lease, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim outbox: %w", err)
	}
	out, err := query(ctx, d.pool, notifyrows.ScanMessages, qClaim, owner, until, channel, at, int64(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: claim outbox %q: %w", channel, err)
	}
	slices.SortFunc(out, func(a, b db.OutboxMessage) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// FinishOutbox implements db.Notifications. An empty o.Error keeps the
// last error stored.
func (d *DB) FinishOutbox(ctx context.Context, id int64, owner string, o db.Outcome) error {
	f, err := notifyrows.Outcome(o)
	if err != nil {
		return fmt.Errorf("postgres: finish outbox %d: %w", id, err)
	}
	tag, err := d.pool.Exec(ctx, qFinish, f.State, f.Attempts, f.Error, f.NextAt, f.DoneAt, id, owner)
	if err != nil {
		return fmt.Errorf("postgres: finish outbox %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: finish outbox %d: %w", id, db.ErrLeaseLost)
	}
	return nil
}

// OutboxMessages implements db.Notifications.
func (d *DB) OutboxMessages(ctx context.Context, channel, state string, limit int) ([]db.OutboxMessage, error) {
	var n *int64 // NULL: no limit
	if limit > 0 {
		l := int64(limit)
		n = &l
	}
	out, err := query(ctx, d.pool, notifyrows.ScanMessages, qOutbox, channel, state, n)
	if err != nil {
		return nil, fmt.Errorf("postgres: outbox messages: %w", err)
	}
	return out, nil
}

// OutboxStats implements db.Notifications.
func (d *DB) OutboxStats(ctx context.Context) (db.OutboxStats, error) {
	rows, err := d.pool.Query(ctx, qOutboxStats)
	if err != nil {
		return db.OutboxStats{}, fmt.Errorf("postgres: outbox stats: %w", err)
	}
	defer rows.Close()
	st, err := notifyrows.ScanStats(rows)
	if err != nil {
		return db.OutboxStats{}, fmt.Errorf("postgres: outbox stats: %w", err)
	}
	return st, nil
}

// PruneOutbox implements db.Notifications. It deletes in short
// transactions, as PruneReports does.
func (d *DB) PruneOutbox(ctx context.Context, cutoff time.Time) (int64, error) {
	if !groupcommit.Representable(cutoff) {
		return 0, fmt.Errorf("postgres: prune outbox: cutoff %s out of range", cutoff)
	}
	var total int64
	for {
		tag, err := d.pool.Exec(ctx, qPruneOutbox, cutoff.UnixNano(), pruneChunk)
		if err != nil {
			return total, fmt.Errorf("postgres: prune outbox: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneChunk {
			return total, nil
		}
	}
}

// PutAck implements db.Notifications. A zero a.CreatedAt is now.
func (d *DB) PutAck(ctx context.Context, a db.Ack) error {
	s, err := notifyrows.CheckAck(a, d.now())
	if err != nil {
		return fmt.Errorf("postgres: put ack: %w", err)
	}
	if _, err := d.pool.Exec(ctx, qPutAck, s.Finding, s.Until, s.By, s.Reason, s.CreatedAt); err != nil {
		return fmt.Errorf("postgres: put ack of %q: %w", s.Finding, err)
	}
	return nil
}

// Acks implements db.Notifications.
func (d *DB) Acks(ctx context.Context) ([]db.Ack, error) {
	out, err := query(ctx, d.pool, notifyrows.ScanAcks, qAcks)
	if err != nil {
		return nil, fmt.Errorf("postgres: acks: %w", err)
	}
	return out, nil
}
