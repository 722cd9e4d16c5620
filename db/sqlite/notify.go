package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/internal/groupcommit"
	"github.com/storefence/storefence/db/internal/notifyrows"
)

var _ db.Notifications = (*DB)(nil)

// The notifier's statements; TestQueryPlans checks that an index serves
// each. Those run in write transactions are prepared on the writer.
const (
	qStates   = "SELECT " + notifyrows.StateColumns + " FROM finding_states ORDER BY id"
	qAcks     = "SELECT " + notifyrows.AckColumns + " FROM acks ORDER BY finding"
	qPutState = `INSERT INTO finding_states (` + notifyrows.StateColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			signal = excluded.signal, severity = excluded.severity, value = excluded.value,
			stores = excluded.stores, open = excluded.open, version = excluded.version,
			opened_at = excluded.opened_at, changed_at = excluded.changed_at, reminded_at = excluded.reminded_at`
	qEnqueue = `INSERT INTO outbox (key, channel, payload, created_at, next_at, attempts, state, last_error)
		VALUES (?, ?, ?, ?, ?, 0, 'pending', '')
		ON CONFLICT (key) DO NOTHING`
	// The literal 'pending' lets the partial index outbox_claim serve.
	qClaim = `UPDATE outbox SET lease_owner = ?1, lease_until = ?2
		WHERE id IN (SELECT id FROM outbox
			WHERE channel = ?3 AND state = 'pending' AND next_at <= ?4 AND (lease_until IS NULL OR lease_until <= ?4)
			ORDER BY id LIMIT ?5)
		RETURNING ` + notifyrows.MessageColumns
	qFinish = `UPDATE outbox SET state = ?, attempts = ?, last_error = coalesce(nullif(?, ''), last_error),
			next_at = coalesce(?, next_at), done_at = ?, lease_owner = NULL, lease_until = NULL
		WHERE id = ? AND lease_owner = ? AND state = 'pending'`
	qOutbox = "SELECT " + notifyrows.MessageColumns + ` FROM outbox
		WHERE (?1 = '' OR channel = ?1) AND (?2 = '' OR state = ?2) ORDER BY id LIMIT ?3`
	qOutboxStats = "SELECT " + notifyrows.StatsColumns + " FROM outbox GROUP BY state"
	qPruneOutbox = `DELETE FROM outbox WHERE id IN
		(SELECT id FROM outbox WHERE done_at < ? AND state <> 'pending' ORDER BY done_at LIMIT ?)`
	qPutAck = `INSERT INTO acks (` + notifyrows.AckColumns + `) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (finding) DO UPDATE SET
			until = excluded.until, acked_by = excluded.acked_by, reason = excluded.reason, created_at = excluded.created_at`
)

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func query[T any](ctx context.Context, q querier, scan func(groupcommit.Rows) ([]T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scan(rows)
}

// NotifyTransition implements db.Notifications. The transaction is the
// writer's (BEGIN IMMEDIATE), which serialises the calls of every process
// on the file; fn runs while it holds the writer, so fn must not write
// through d.
func (d *DB) NotifyTransition(ctx context.Context, fn db.Transition) error {
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: notify transition: %w", err)
	}
	defer tx.Rollback()
	prev, err := query(ctx, tx, notifyrows.ScanStates, qStates)
	if err != nil {
		return fmt.Errorf("sqlite: notify transition: finding states: %w", err)
	}
	acks, err := query(ctx, tx, notifyrows.ScanAcks, qAcks)
	if err != nil {
		return fmt.Errorf("sqlite: notify transition: acks: %w", err)
	}
	next, msgs, err := fn(prev, acks)
	if err != nil {
		return err // as is; the deferred Rollback undoes nothing written
	}
	states, err := notifyrows.States(next)
	if err != nil {
		return fmt.Errorf("sqlite: notify transition: %w", err)
	}
	ms, err := notifyrows.Messages(msgs, d.now())
	if err != nil {
		return fmt.Errorf("sqlite: notify transition: %w", err)
	}
	putState := tx.StmtContext(ctx, d.putState)
	for _, s := range states {
		if _, err := putState.ExecContext(ctx, s.ID, s.Signal, s.Severity, s.Value, s.Stores, s.Open, s.Version,
			s.OpenedAt, s.ChangedAt, s.RemindedAt); err != nil {
			return fmt.Errorf("sqlite: notify transition: upsert finding state %q: %w", s.ID, err)
		}
	}
	enqueue := tx.StmtContext(ctx, d.enqueue)
	for _, m := range ms {
		if _, err := enqueue.ExecContext(ctx, m.Key, m.Channel, m.Payload, m.CreatedAt, m.NextAt); err != nil {
			return fmt.Errorf("sqlite: notify transition: enqueue %q: %w", m.Key, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: notify transition: %w", err)
	}
	return nil
}

// ClaimOutbox implements db.Notifications, in one write transaction.
func (d *DB) ClaimOutbox(ctx context.Context, channel, owner string, now time.Time, lease time.Duration, limit int) ([]db.OutboxMessage, error) {
	at, until, err := notifyrows.Claim(channel, owner, now, lease, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox: %w", err)
	}
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox %q: %w", channel, err)
	}
	defer tx.Rollback()
	rows, err := tx.StmtContext(ctx, d.claim).QueryContext(ctx, owner, until, channel, at, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox %q: %w", channel, err)
	}
	out, err := notifyrows.ScanMessages(rows)
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox %q: %w", channel, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox %q: %w", channel, err)
	}
	slices.SortFunc(out, func(a, b db.OutboxMessage) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// FinishOutbox implements db.Notifications. An empty o.Error keeps the
// last error stored.
func (d *DB) FinishOutbox(ctx context.Context, id int64, owner string, o db.Outcome) error {
	f, err := notifyrows.Outcome(o)
	if err != nil {
		return fmt.Errorf("sqlite: finish outbox %d: %w", id, err)
	}
	res, err := d.finish.ExecContext(ctx, f.State, f.Attempts, f.Error, f.NextAt, f.DoneAt, id, owner)
	if err != nil {
		return fmt.Errorf("sqlite: finish outbox %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: finish outbox %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: finish outbox %d: %w", id, db.ErrLeaseLost)
	}
	return nil
}

// OutboxMessages implements db.Notifications.
func (d *DB) OutboxMessages(ctx context.Context, channel, state string, limit int) ([]db.OutboxMessage, error) {
	n := int64(limit)
	if limit <= 0 {
		n = -1 // no limit
	}
	out, err := query(ctx, d.r, notifyrows.ScanMessages, qOutbox, channel, state, n)
	if err != nil {
		return nil, fmt.Errorf("sqlite: outbox messages: %w", err)
	}
	return out, nil
}

// OutboxStats implements db.Notifications.
func (d *DB) OutboxStats(ctx context.Context) (db.OutboxStats, error) {
	rows, err := d.r.QueryContext(ctx, qOutboxStats)
	if err != nil {
		return db.OutboxStats{}, fmt.Errorf("sqlite: outbox stats: %w", err)
	}
	defer rows.Close()
	st, err := notifyrows.ScanStats(rows)
	if err != nil {
		return db.OutboxStats{}, fmt.Errorf("sqlite: outbox stats: %w", err)
	}
	return st, nil
}

// PruneOutbox implements db.Notifications. It deletes in short
// transactions, as PruneReports does.
func (d *DB) PruneOutbox(ctx context.Context, cutoff time.Time) (int64, error) {
	if !groupcommit.Representable(cutoff) {
		return 0, fmt.Errorf("sqlite: prune outbox: cutoff %s out of range", cutoff)
	}
	var total int64
	for {
		res, err := d.w.ExecContext(ctx, qPruneOutbox, cutoff.UnixNano(), pruneChunk)
		if err != nil {
			return total, fmt.Errorf("sqlite: prune outbox: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlite: prune outbox: %w", err)
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}

// PutAck implements db.Notifications. A zero a.CreatedAt is now.
func (d *DB) PutAck(ctx context.Context, a db.Ack) error {
	s, err := notifyrows.CheckAck(a, d.now())
	if err != nil {
		return fmt.Errorf("sqlite: put ack: %w", err)
	}
	if _, err := d.w.ExecContext(ctx, qPutAck, s.Finding, s.Until, s.By, s.Reason, s.CreatedAt); err != nil {
		return fmt.Errorf("sqlite: put ack of %q: %w", s.Finding, err)
	}
	return nil
}

// Acks implements db.Notifications.
func (d *DB) Acks(ctx context.Context) ([]db.Ack, error) {
	out, err := query(ctx, d.r, notifyrows.ScanAcks, qAcks)
	if err != nil {
		return nil, fmt.Errorf("sqlite: acks: %w", err)
	}
	return out, nil
}
