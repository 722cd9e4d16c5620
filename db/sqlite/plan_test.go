package sqlite

import (
	"context"
	"strings"
	"testing"
)

// TestQueryPlans checks that an index serves every statement the backend
// runs: no sort in a temporary b-tree, no scan where a search is due.
func TestQueryPlans(t *testing.T) {
	d, _ := openTemp(t, Options{})
	defer d.Close()
	for _, tt := range []struct {
		query string
		args  []any
		want  []string // steps the plan must have
	}{
		{qPutReport, []any{"x", "a", 1, 1, []byte{}}, nil}, // checks the unique index on id
		{qPutSighting, []any{"a", "s", "v", "", 1, 1, 1}, nil},
		{qPutAgent, []any{"a", 1, "", 0, "[]", ""}, nil},
		{qSightings, nil, []string{"SCAN sightings"}}, // in primary key order
		{qAgents, nil, []string{"SCAN agents"}},
		{qTokenAgent, []any{[]byte{1}}, []string{"SEARCH tokens USING INDEX", "(hash=?)"}},
		{qTokens, nil, []string{"SCAN tokens USING INDEX tokens_created_at"}},
		{qRevoke, []any{1, "x"}, []string{"SEARCH tokens USING INDEX", "(id=?)"}},
		{qPrune, []any{1, 1}, []string{"SEARCH reports USING INTEGER PRIMARY KEY", "SEARCH reports USING COVERING INDEX reports_received_at"}},
		{qCount, nil, []string{"SCAN reports USING COVERING INDEX"}},
		{qStates, nil, []string{"SCAN finding_states"}}, // in primary key order
		{qAcks, nil, []string{"SCAN acks"}},
		{qPutState, []any{"f", "s", "v", "x", "", 1, 1, 1, 1, nil}, nil},
		{qEnqueue, []any{"k", "c", []byte{}, 1, 1}, nil},
		{qClaim, []any{"o", 2, "c", 1, 10}, []string{"SEARCH outbox USING INDEX outbox_claim (channel=?)", "SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)"}},
		{qFinish, []any{"sent", 1, "", nil, 1, 1, "o"}, []string{"SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)"}},
		{qOutbox, []any{"", "", -1}, []string{"SCAN outbox"}}, // by id; for tests and the CLI
		{qOutboxStats, nil, []string{"SCAN outbox USING COVERING INDEX outbox_state"}},
		{qPruneOutbox, []any{1, 1}, []string{"SEARCH outbox USING INTEGER PRIMARY KEY", "SEARCH outbox USING INDEX outbox_done (done_at<?)"}},
		{qPutAck, []any{"f", 1, "", "", 1}, nil},
	} {
		rows, err := d.w.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+tt.query, tt.args...)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		all := strings.Join(plan, "; ")
		if strings.Contains(all, "TEMP B-TREE") {
			t.Errorf("plan of %s:\n\t%s\nsorts in a temporary b-tree", tt.query, all)
		}
		for _, w := range tt.want {
			if !strings.Contains(all, w) {
				t.Errorf("plan of %s:\n\t%s\nwant %q", tt.query, all, w)
			}
		}
	}
}
