package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestQueryPlans checks that an index can serve every read the backend
// runs: with sequential scans and sorts priced out, the plan uses an index
// and does not sort.
func TestQueryPlans(t *testing.T) {
	d, _ := openFresh(t, Options{})
	defer d.Close()
	ctx := context.Background()
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// Local to the transaction, so nothing leaks into the pool.
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off"); err != nil {
			return err
		}
		for _, tt := range []struct {
			query string
			args  []any
			want  string
		}{
			{qSightings, nil, "Index Scan using sightings_pkey"},
			{qAgents, nil, "Index Scan using agents_pkey"},
			{qTokenAgent, []any{[]byte{1}}, "tokens_hash_key"},
			{qTokens, nil, "tokens_created_at"},
			{qRevoke, []any{int64(1), "x"}, "tokens_pkey"},
			{qPrune, []any{int64(1), 1}, "reports_received_at"},
			{qStates, nil, "Index Scan using finding_states_pkey"},
			{qAcks, nil, "Index Scan using acks_pkey"},
			{qClaim, []any{"o", int64(2), "c", int64(1), int64(10)}, "Index Scan using outbox_claim"},
			{qFinish, []any{"sent", int64(1), "", nil, int64(1), int64(1), "o"}, "Index Cond: (id = "}, // outbox_pkey or outbox_claim
			{qOutbox, []any{"", "", nil}, "Index Scan using outbox_pkey"},
			{qOutboxStats, nil, "Index Only Scan using outbox_state"},
			{qPruneOutbox, []any{int64(1), 1}, "Index Scan using outbox_done"},
		} {
			rows, err := tx.Query(ctx, "EXPLAIN "+tt.query, tt.args...)
			if err != nil {
				return err
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			all := strings.Join(plan, "\n")
			if strings.Contains(all, "Seq Scan") || strings.Contains(all, "Sort") || !strings.Contains(all, tt.want) {
				t.Errorf("plan of %s:\n%s\nwant %q, no sequential scan, no sort", tt.query, all, tt.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
