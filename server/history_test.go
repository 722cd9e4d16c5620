package server

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

func sortSightings(ss []policy.Sighting) {
	slices.SortFunc(ss, func(x, y policy.Sighting) int {
		return cmp.Or(cmp.Compare(x.Agent, y.Agent), cmp.Compare(x.Signal, y.Signal), cmp.Compare(x.Value, y.Value),
			slices.Compare(x.Stores, y.Stores))
	})
}

func sortAgents(as []policy.AgentState) {
	slices.SortFunc(as, func(x, y policy.AgentState) int { return cmp.Compare(x.Agent, y.Agent) })
}

// checkHistory compares the server's in-memory history with the database.
func checkHistory(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	wantS, err := f.db.Sightings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantA, err := f.db.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got policy.Input
	f.srv.hist.fill(&got, nil)
	sortSightings(got.Sightings)
	sortSightings(wantS)
	sortAgents(got.Agents)
	if diff := gocmp.Diff(wantS, got.Sightings); diff != "" {
		t.Errorf("sightings in memory differ from the database (-db +memory):\n%s", diff)
	}
	if diff := gocmp.Diff(wantA, got.Agents); diff != "" {
		t.Errorf("agents in memory differ from the database (-db +memory):\n%s", diff)
	}
}

// TestHistoryFollowsIngest checks that the history folded at ingest is
// what the database folded: counts, first and last seen, out-of-order
// reports, store sets, duplicates, and the agents' latest state.
func TestHistoryFollowsIngest(t *testing.T) {
	f := newFixture(t, nil, "vps-a", "vps-b")
	if err := f.srv.refreshHistory(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	mk := func(id, agent string, stores []string, v4 string, age time.Duration, host string) *report.Report {
		r := rep(id, agent, stores, v4)
		r.CollectedAt = now.Add(-age)
		r.Version = id
		if host != "" {
			r.Device = &report.Device{Hostname: host}
		}
		return r
	}
	reports := []*report.Report{
		mk("r1", "vps-a", []string{"shop-a"}, "203.0.113.7", 10*time.Minute, "box"),
		mk("r2", "vps-a", []string{"shop-a"}, "203.0.113.7", 20*time.Minute, "box"), // older: first seen moves back, state stays
		mk("r3", "vps-a", []string{"shop-b", "shop-a"}, "203.0.113.7", 5*time.Minute, ""),
		mk("r4", "vps-b", []string{"shop-b"}, "203.0.113.8", time.Minute, "BOX"),
		mk("r1", "vps-a", []string{"shop-a"}, "203.0.113.7", 10*time.Minute, "box"), // duplicate id
	}
	for _, r := range reports {
		if status, ae, _ := f.post(t, f.tokens[r.Agent], mustJSON(r), nil); status != 202 && status != 200 {
			t.Fatalf("post %s: %d %s", r.ID, status, ae.Error)
		}
	}
	checkHistory(t, f)
}

// TestHistoryLoadDuringIngest re-reads the history while agents keep
// ingesting: afterwards first and last seen and the agents match the
// database exactly, and no sighting is missing.
func TestHistoryLoadDuringIngest(t *testing.T) {
	f := newFixture(t, nil, "vps-a", "vps-b")
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, agent := range []string{"vps-a", "vps-b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				r := rep(fmt.Sprintf("%s-%d", agent, i), agent, []string{"shop-a"}, fmt.Sprintf("203.0.113.%d", i%40+1))
				r.CollectedAt = now.Add(-time.Duration(i) * time.Second)
				if status, ae, _ := f.post(t, f.tokens[agent], mustJSON(r), nil); status != 202 {
					t.Errorf("post: %d %s", status, ae.Error)
					return
				}
			}
		}()
	}
	for range 5 {
		f.srv.loadMu.Lock()
		f.srv.loadedAt = time.Time{}
		f.srv.loadMu.Unlock()
		if err := f.srv.refreshHistory(ctx, time.Nanosecond); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	wantS, err := f.db.Sightings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got policy.Input
	f.srv.hist.fill(&got, nil)
	if len(got.Sightings) != len(wantS) {
		t.Fatalf("%d sightings in memory, %d in the database", len(got.Sightings), len(wantS))
	}
	sortSightings(got.Sightings)
	sortSightings(wantS)
	for i := range wantS {
		w, g := wantS[i], got.Sightings[i]
		if g.Count < w.Count || !g.FirstSeen.Equal(w.FirstSeen) || !g.LastSeen.Equal(w.LastSeen) || g.Agent != w.Agent || g.Value != w.Value {
			t.Errorf("sighting %d: memory %+v, database %+v", i, g, w)
		}
	}
	// A re-read with nothing in flight makes the counts exact again.
	if err := f.srv.refreshHistory(ctx, time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	checkHistory(t, f)
}

// TestHistoryRefreshSeesOtherWriters checks that a re-read picks up what
// another server replica stored in the shared database.
func TestHistoryRefreshSeesOtherWriters(t *testing.T) {
	f := newFixture(t, nil, "vps-a")
	ctx := context.Background()
	if err := f.srv.refreshHistory(ctx, 0); err != nil {
		t.Fatal(err)
	}
	r := rep("other", "vps-z", []string{"shop-b"}, "203.0.113.9")
	if _, err := f.db.PutReport(ctx, &db.Ingest{Report: r, Observed: policy.Observe(r), ReceivedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.refreshHistory(ctx, time.Hour); err != nil { // read moments ago: kept
		t.Fatal(err)
	}
	var got policy.Input
	f.srv.hist.fill(&got, nil)
	if len(got.Agents) != 0 {
		t.Fatalf("history re-read before history_refresh passed: %+v", got.Agents)
	}
	if err := f.srv.refreshHistory(ctx, time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	checkHistory(t, f)
}

// TestHistoryShardCollision: two keys with one hash both keep their rows.
func TestHistoryShardCollision(t *testing.T) {
	sh := newShard(0)
	at := now
	a := historyKey{"vps-a", "shop-a", policy.PublicIP, "203.0.113.1"}
	b := historyKey{"vps-b", "shop-b", policy.PublicIP, "203.0.113.2"}
	row := func(k historyKey) policy.Sighting {
		return policy.Sighting{Agent: k.agent, Stores: []string{k.stores}, Signal: k.signal, Value: k.value, FirstSeen: at, LastSeen: at}
	}
	sh.add(42, a, row(a))
	sh.add(42, b, row(b)) // the same hash
	sh.add(42, b, row(b))
	ia, okA := sh.find(42, a)
	ib, okB := sh.find(42, b)
	if !okA || !okB || ia == ib || sh.rows[ia].Count != 1 || sh.rows[ib].Count != 2 {
		t.Errorf("rows %+v, found a %v at %d, b %v at %d", sh.rows, okA, ia, okB, ib)
	}
	if _, ok := sh.find(42, historyKey{"vps-c", "shop-c", policy.PublicIP, "203.0.113.3"}); ok {
		t.Error("found a key never added")
	}
}

func TestJoinedIs(t *testing.T) {
	tests := []struct {
		list   []string
		joined string
		want   bool
	}{
		{nil, "", true},
		{[]string{"a"}, "a", true},
		{[]string{"a", "b"}, "a,b", true},
		{[]string{"a", "b"}, "a,b,", false},
		{[]string{"a", "b"}, "ab", false},
		{[]string{"a,b"}, "a,b", true}, // ids cannot hold commas; the join is what the database keys on
		{[]string{"a"}, "", false},
		{nil, "a", false},
	}
	for _, tt := range tests {
		if got := joinedIs(tt.list, tt.joined); got != tt.want {
			t.Errorf("joinedIs(%q, %q) = %v, want %v", tt.list, tt.joined, got, tt.want)
		}
	}
}

// TestStaleViewReReads: when the notifier says a finding went missing from a
// view older than its last change, the server re-reads the history and
// evaluates again - but not more often than minStaleRefresh.
func TestStaleViewReReads(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if err := f.srv.refreshHistory(ctx, 0); err != nil {
		t.Fatal(err)
	}
	var asOfs []time.Time
	f.srv.onEval = func(_ context.Context, _ *policy.Audit, asOf time.Time) bool {
		asOfs = append(asOfs, asOf)
		return true
	}
	readAt := f.srv.historyReadAt()
	select {
	case <-f.srv.kick: // New's load asked for one
	default:
	}

	f.srv.evaluateOnce(ctx, nil) // read moments ago: no re-read yet
	if got := f.srv.historyReadAt(); !got.Equal(readAt) || len(f.srv.kick) != 0 {
		t.Fatalf("re-read %v after %v, kick %d: want neither within %s", got, readAt, len(f.srv.kick), minStaleRefresh)
	}

	f.srv.loadMu.Lock()
	f.srv.loadedAt = f.srv.loadedAt.Add(-2 * minStaleRefresh)
	f.srv.loadMu.Unlock()
	f.srv.evaluateOnce(ctx, nil)
	if got := f.srv.historyReadAt(); !got.After(readAt) || len(f.srv.kick) != 1 {
		t.Errorf("history read at %v (was %v), kick %d: want a re-read and another evaluation asked for", got, readAt, len(f.srv.kick))
	}
	if len(asOfs) != 2 || !asOfs[1].Equal(readAt) {
		t.Errorf("asOf given to the hook: %v, want the read before the evaluation (%v)", asOfs, readAt)
	}
}
