// Package dbtest is the conformance suite every db backend passes, and the
// PutReport benchmark they share. The suite checks a backend's sightings and
// agent states against policy.Aggregator fed the same reports.
package dbtest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

// T0 is the base time of the suite's reports. It has nanoseconds, which a
// backend must keep.
func T0() time.Time { return time.Date(2026, 11, 1, 10, 0, 0, 123456789, time.UTC) }

// Run runs the suite. open returns a new, empty database for each test; Run
// closes it (open may also register a cleanup that closes it: Close must
// then tolerate a second call).
func Run(t *testing.T, open func(t *testing.T) db.DB) {
	tests := []suiteTest{
		{"Idempotent", testIdempotent},
		{"Aggregation", testAggregation},
		{"Stores", testStores},
		{"AgentState", testAgentState},
		{"EmptyReport", testEmptyReport},
		{"Invalid", testInvalid},
		{"Tokens", testTokens},
		{"Prune", testPrune},
		{"Concurrent", testConcurrent},
		{"Canceled", testCanceled},
		{"Ping", testPing},
	}
	tests = append(tests, notifyTests()...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := open(t)
			t.Cleanup(func() {
				if err := d.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, d)
		})
	}
	t.Run("Close", func(t *testing.T) { testClose(t, open(t)) })
}

type suiteTest struct {
	name string
	fn   func(t *testing.T, d db.DB)
}

// Rep returns a report of agent, collected at T0 plus minutes, declaring
// stores, that sees public IP ip, host id host and, when origin is not
// empty, a session from origin.
func Rep(id, agent string, minutes int, stores []string, ip, host, origin string) *report.Report {
	r := &report.Report{
		Schema:      report.Schema,
		ID:          id,
		Agent:       agent,
		Stores:      stores,
		CollectedAt: T0().Add(time.Duration(minutes) * time.Minute),
		Version:     "1.0.0",
		PublicIP:    &report.PublicIP{V4: ip},
		Device:      &report.Device{HostID: host, Hostname: agent + ".example"},
	}
	if origin != "" {
		r.Sessions = []report.Session{{User: "ops", Origin: origin, Started: r.CollectedAt.Add(-time.Hour)}}
	}
	return r
}

// Ingest wraps r as the server would: raw JSON, policy.Observe, received a
// second after collection.
func Ingest(r *report.Report) *db.Ingest {
	raw, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return &db.Ingest{Report: r, Raw: raw, Observed: policy.Observe(r), ReceivedAt: r.CollectedAt.Add(time.Second)}
}

// Put stores r and returns whether it was inserted; it fails t on error.
func Put(t testing.TB, d db.DB, r *report.Report) bool {
	t.Helper()
	ins, err := d.PutReport(context.Background(), Ingest(r))
	if err != nil {
		t.Fatalf("PutReport(%s): %v", r.ID, err)
	}
	return ins
}

// CheckAgainst compares d's sightings and agents with an aggregator fed
// reps, in order.
func CheckAgainst(t testing.TB, d db.DB, reps ...*report.Report) {
	t.Helper()
	agg := policy.NewAggregator(time.Time{})
	for _, r := range reps {
		agg.Add(r)
	}
	ctx := context.Background()
	ss, err := d.Sightings(ctx)
	if err != nil {
		t.Fatalf("Sightings: %v", err)
	}
	if diff := cmp.Diff(agg.Sightings(), ss); diff != "" {
		t.Errorf("Sightings mismatch (-aggregator +db):\n%s", diff)
	}
	as, err := d.Agents(ctx)
	if err != nil {
		t.Fatalf("Agents: %v", err)
	}
	if diff := cmp.Diff(agg.Agents(), as); diff != "" {
		t.Errorf("Agents mismatch (-aggregator +db):\n%s", diff)
	}
}

func count(t *testing.T, d db.DB) int64 {
	t.Helper()
	n, err := d.ReportCount(context.Background())
	if err != nil {
		t.Fatalf("ReportCount: %v", err)
	}
	return n
}

func testIdempotent(t *testing.T, d db.DB) {
	r := Rep("r1", "vps-1", 0, []string{"shop-a"}, "203.0.113.7", "h1", "198.51.100.2")
	if !Put(t, d, r) {
		t.Fatal("first PutReport: inserted = false, want true")
	}
	// The same id again, even with another body, changes nothing.
	again := Rep("r1", "vps-1", 30, []string{"shop-b"}, "203.0.113.99", "h2", "")
	again.Version = "2.0.0"
	for _, rr := range []*report.Report{r, again} {
		if Put(t, d, rr) {
			t.Errorf("PutReport(%s) again: inserted = true, want false", rr.ID)
		}
	}
	CheckAgainst(t, d, r)
	if n := count(t, d); n != 1 {
		t.Errorf("ReportCount = %d, want 1", n)
	}
	ss, err := d.Sightings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if s.Count != 1 || !s.FirstSeen.Equal(r.CollectedAt) || !s.LastSeen.Equal(r.CollectedAt) {
			t.Errorf("sighting %+v: want count 1, first and last seen %v", s, r.CollectedAt)
		}
	}
}

func testAggregation(t *testing.T, d db.DB) {
	cet := time.FixedZone("CET", 3600)
	reps := []*report.Report{
		Rep("a3", "vps-1", 30, []string{"shop-a"}, "203.0.113.7", "h1", "198.51.100.2"),
		Rep("a1", "vps-1", 10, []string{"shop-a"}, "203.0.113.7", "h1", ""), // older, arrives later
		Rep("a2", "vps-1", 20, []string{"shop-a"}, "203.0.113.8", "h1", "198.51.100.2"),
		Rep("a5", "vps-1", 50, []string{"shop-a"}, "203.0.113.7", "h1", "Jump.Example"),
		Rep("b1", "vps-2", 5, []string{"shop-b"}, "203.0.113.7", "h2", ""), // shares the IP
		Rep("a0", "vps-1", -60, []string{"shop-a"}, "2001:db8::1", "h1", ""),
	}
	reps[3].CollectedAt = reps[3].CollectedAt.In(cet) // the DB keeps instants, in UTC
	reps[3].Device.MACs = []string{"52-54-00-AB-CD-EF", "52:54:00:ab:cd:ef"}
	for _, r := range reps {
		if !Put(t, d, r) {
			t.Errorf("PutReport(%s): inserted = false", r.ID)
		}
	}
	CheckAgainst(t, d, reps...)

	// Spot-check one sighting by hand, not only against the aggregator.
	ss, err := d.Sightings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := policy.Sighting{Agent: "vps-1", Stores: []string{"shop-a"}, Signal: policy.PublicIP, Value: "203.0.113.7",
		FirstSeen: T0().Add(10 * time.Minute), LastSeen: T0().Add(50 * time.Minute), Count: 3}
	i := slices.IndexFunc(ss, func(s policy.Sighting) bool {
		return s.Agent == want.Agent && s.Signal == want.Signal && s.Value == want.Value
	})
	if i < 0 {
		t.Fatalf("no sighting of %s %s by %s", want.Signal, want.Value, want.Agent)
	}
	if diff := cmp.Diff(want, ss[i]); diff != "" {
		t.Errorf("sighting mismatch (-want +got):\n%s", diff)
	}
	if ss[i].LastSeen.Location() != time.UTC {
		t.Errorf("LastSeen location = %v, want UTC", ss[i].LastSeen.Location())
	}
}

func testStores(t *testing.T, d db.DB) {
	reps := []*report.Report{
		// The same set of stores, declared in two orders: one sighting.
		Rep("s1", "vps-1", 0, []string{"shop-b", "shop-a"}, "203.0.113.7", "h1", ""),
		Rep("s2", "vps-1", 1, []string{"shop-a", "shop-b"}, "203.0.113.7", "h1", ""),
		// A VPS reassigned from shop-c to shop-d: two sightings of its IP.
		Rep("s3", "vps-2", 2, []string{"shop-c"}, "203.0.113.9", "h2", ""),
		Rep("s4", "vps-2", 3, []string{"shop-d"}, "203.0.113.9", "h2", ""),
		// No stores declared.
		Rep("s5", "vps-3", 4, nil, "203.0.113.10", "h3", ""),
	}
	for _, r := range reps {
		Put(t, d, r)
	}
	CheckAgainst(t, d, reps...)
	ss, err := d.Sightings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, s := range ss {
		if s.Signal == policy.PublicIP {
			got = append(got, s.Stores)
		}
	}
	want := [][]string{{"shop-a", "shop-b"}, {"shop-c"}, {"shop-d"}, nil}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("public_ip sightings' stores mismatch (-want +got):\n%s", diff)
	}
}

func testAgentState(t *testing.T, d db.DB) {
	newer := Rep("n", "vps-1", 60, []string{"shop-b", "shop-a"}, "203.0.113.7", "h1", "")
	newer.PublicIP.Conflict = true
	newer.Errors = []report.CollectorError{{Collector: "sessions", Error: "permission denied"}}
	newer.Version = "1.2.0"
	older := Rep("o", "vps-1", 0, []string{"shop-c"}, "203.0.113.8", "h1", "")
	older.Version = "1.1.0"
	Put(t, d, newer)
	Put(t, d, older) // arrives later, but is older: the state stays newer's
	CheckAgainst(t, d, newer, older)
	as, err := d.Agents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []policy.AgentState{{
		Agent: "vps-1", LastSeen: newer.CollectedAt, Stores: []string{"shop-a", "shop-b"}, Conflict: true,
		Errors: []report.CollectorError{{Collector: "sessions", Error: "permission denied"}}, Version: "1.2.0",
	}}
	if diff := cmp.Diff(want, as); diff != "" {
		t.Errorf("Agents mismatch (-want +got):\n%s", diff)
	}

	// A newer report clears the conflict and the errors.
	newest := Rep("z", "vps-1", 120, []string{"shop-a"}, "203.0.113.7", "h1", "")
	Put(t, d, newest)
	// A report collected at the same instant as the latest replaces it, as a
	// later arrival does in policy.Aggregator.
	tie := Rep("z2", "vps-1", 120, []string{"shop-e"}, "203.0.113.7", "h1", "")
	tie.Version = "1.3.0"
	Put(t, d, tie)
	CheckAgainst(t, d, newer, older, newest, tie)
}

func testEmptyReport(t *testing.T, d db.DB) {
	// A report in which every collector failed still updates the agent.
	r := &report.Report{Schema: report.Schema, ID: "e1", Agent: "vps-9", CollectedAt: T0(),
		Errors: []report.CollectorError{{Collector: "device", Error: "unsupported"}}}
	if !Put(t, d, r) {
		t.Fatal("PutReport: inserted = false")
	}
	as, err := d.Agents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]policy.AgentState{*policy.StateOf(r)}, as); diff != "" {
		t.Errorf("Agents mismatch (-want +got):\n%s", diff)
	}
	CheckAgainst(t, d, r)

	// An observation listed twice in one report counts once.
	r2 := Rep("e2", "vps-9", 1, nil, "203.0.113.7", "", "")
	in2 := Ingest(r2)
	in2.Observed = append(in2.Observed, in2.Observed...)
	if _, err := d.PutReport(context.Background(), in2); err != nil {
		t.Fatal(err)
	}
	CheckAgainst(t, d, r, r2)
}

func testInvalid(t *testing.T, d db.DB) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		in   *db.Ingest
	}{
		{"nil", nil},
		{"no report", &db.Ingest{}},
		{"no id", Ingest(Rep("", "vps-1", 0, nil, "203.0.113.7", "", ""))},
		{"no agent", Ingest(Rep("x", "", 0, nil, "203.0.113.7", "", ""))},
		{"no time", Ingest(&report.Report{ID: "x", Agent: "vps-1"})},
	} {
		if _, err := d.PutReport(ctx, tt.in); err == nil {
			t.Errorf("PutReport(%s) = nil error, want one", tt.name)
		}
	}
	if n := count(t, d); n != 0 {
		t.Errorf("ReportCount = %d, want 0", n)
	}
	if err := d.CreateToken(ctx, db.Token{ID: "t", Agent: "vps-1", CreatedAt: T0()}, nil); err == nil {
		t.Error("CreateToken without a hash = nil error, want one")
	}
}

func testTokens(t *testing.T, d db.DB) {
	ctx := context.Background()
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	toks := []db.Token{
		{ID: "tok-b", Agent: "vps-2", CreatedAt: T0().Add(time.Minute)},
		{ID: "tok-a", Agent: "vps-1", CreatedAt: T0()},
		{ID: "tok-c", Agent: "vps-1", CreatedAt: T0().Add(2 * time.Minute)},
	}
	for _, tok := range toks {
		if err := d.CreateToken(ctx, tok, hash(tok.ID)); err != nil {
			t.Fatalf("CreateToken(%s): %v", tok.ID, err)
		}
	}
	if err := d.CreateToken(ctx, db.Token{ID: "tok-a", Agent: "vps-3", CreatedAt: T0()}, hash("other")); err == nil {
		t.Error("CreateToken with a used id = nil error, want one")
	}
	if err := d.CreateToken(ctx, db.Token{ID: "tok-d", Agent: "vps-3", CreatedAt: T0()}, hash("tok-a")); err == nil {
		t.Error("CreateToken with a used hash = nil error, want one")
	}
	for _, tok := range toks {
		agent, err := d.TokenAgent(ctx, hash(tok.ID))
		if err != nil || agent != tok.Agent {
			t.Errorf("TokenAgent(%s) = %q, %v; want %q", tok.ID, agent, err, tok.Agent)
		}
	}
	if _, err := d.TokenAgent(ctx, hash("unknown")); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("TokenAgent(unknown) error = %v, want ErrNotFound", err)
	}

	revoked := T0().Add(time.Hour)
	if err := d.RevokeToken(ctx, "tok-a", revoked); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if _, err := d.TokenAgent(ctx, hash("tok-a")); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("TokenAgent(revoked) error = %v, want ErrNotFound", err)
	}
	// Revoking again keeps the first time.
	if err := d.RevokeToken(ctx, "tok-a", revoked.Add(time.Hour)); err != nil {
		t.Errorf("RevokeToken again: %v", err)
	}
	if err := d.RevokeToken(ctx, "tok-x", revoked); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("RevokeToken(unknown) error = %v, want ErrNotFound", err)
	}
	got, err := d.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []db.Token{
		{ID: "tok-a", Agent: "vps-1", CreatedAt: T0(), RevokedAt: revoked},
		{ID: "tok-b", Agent: "vps-2", CreatedAt: T0().Add(time.Minute)},
		{ID: "tok-c", Agent: "vps-1", CreatedAt: T0().Add(2 * time.Minute)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Tokens mismatch (-want +got):\n%s", diff)
	}
}

func testPrune(t *testing.T, d db.DB) {
	ctx := context.Background()
	var reps []*report.Report
	for i := range 10 {
		r := Rep(fmt.Sprintf("p%d", i), "vps-1", i, []string{"shop-a"}, fmt.Sprintf("203.0.113.%d", i%3), "h1", "")
		reps = append(reps, r)
		in := Ingest(r)
		in.ReceivedAt = T0().Add(time.Duration(i) * time.Hour)
		if _, err := d.PutReport(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, d); n != 10 {
		t.Fatalf("ReportCount = %d, want 10", n)
	}
	n, err := d.PruneReports(ctx, T0().Add(4*time.Hour)) // received at hours 0..3
	if err != nil || n != 4 {
		t.Fatalf("PruneReports = %d, %v; want 4, nil", n, err)
	}
	if n, err := d.PruneReports(ctx, T0().Add(4*time.Hour)); err != nil || n != 0 {
		t.Errorf("PruneReports again = %d, %v; want 0, nil", n, err)
	}
	if n := count(t, d); n != 6 {
		t.Errorf("ReportCount = %d, want 6", n)
	}
	// The history stays.
	CheckAgainst(t, d, reps...)
	// A kept report is still known.
	if Put(t, d, reps[9]) {
		t.Error("PutReport of a kept report: inserted = true")
	}
}

func testConcurrent(t *testing.T, d db.DB) {
	const workers, perWorker = 16, 40
	// Every worker sends its own reports and, interleaved, those of the
	// next worker: each id is sent twice, from two goroutines at once.
	reps := make([][]*report.Report, workers)
	for w := range workers {
		for i := range perWorker {
			agent := fmt.Sprintf("vps-%d", (w+i)%5)
			minutes := w*perWorker + i // unique per report: the agent state is deterministic
			reps[w] = append(reps[w], Rep(fmt.Sprintf("c-%d-%d", w, i), agent, minutes,
				[]string{fmt.Sprintf("shop-%d", i%3)}, fmt.Sprintf("203.0.113.%d", i%7), fmt.Sprintf("h%d", w%4),
				fmt.Sprintf("198.51.100.%d", (w*i)%11)))
		}
	}
	var inserted sync.WaitGroup
	var mu sync.Mutex
	insertedBy := map[string]int{}
	for w := range workers {
		inserted.Go(func() {
			for i := range perWorker {
				for _, r := range []*report.Report{reps[w][i], reps[(w+1)%workers][i]} {
					ins, err := d.PutReport(context.Background(), Ingest(r))
					if err != nil {
						t.Errorf("PutReport(%s): %v", r.ID, err)
						return
					}
					if ins {
						mu.Lock()
						insertedBy[r.ID]++
						mu.Unlock()
					}
				}
			}
		})
	}
	inserted.Wait()
	var all []*report.Report
	for _, rs := range reps {
		all = append(all, rs...)
	}
	for _, r := range all {
		if insertedBy[r.ID] != 1 {
			t.Errorf("report %s inserted %d times, want 1", r.ID, insertedBy[r.ID])
		}
	}
	if n := count(t, d); n != workers*perWorker {
		t.Errorf("ReportCount = %d, want %d", n, workers*perWorker)
	}
	CheckAgainst(t, d, all...)
}

func testCanceled(t *testing.T, d db.DB) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := Rep("x1", "vps-1", 0, nil, "203.0.113.7", "h1", "")
	if _, err := d.PutReport(ctx, Ingest(r)); !errors.Is(err, context.Canceled) {
		t.Errorf("PutReport(canceled) error = %v, want context.Canceled", err)
	}
	if _, err := d.Sightings(ctx); err == nil {
		t.Error("Sightings(canceled) = nil error")
	}
	if _, err := d.Agents(ctx); err == nil {
		t.Error("Agents(canceled) = nil error")
	}
	if err := d.CreateToken(ctx, db.Token{ID: "t", Agent: "vps-1", CreatedAt: T0()}, []byte{1}); err == nil {
		t.Error("CreateToken(canceled) = nil error")
	}
	if _, err := d.TokenAgent(ctx, []byte{1}); err == nil || errors.Is(err, db.ErrNotFound) {
		t.Errorf("TokenAgent(canceled) error = %v, want a context error", err)
	}
	if _, err := d.Tokens(ctx); err == nil {
		t.Error("Tokens(canceled) = nil error")
	}
	if err := d.RevokeToken(ctx, "t", T0()); err == nil {
		t.Error("RevokeToken(canceled) = nil error")
	}
	if _, err := d.PruneReports(ctx, T0()); err == nil {
		t.Error("PruneReports(canceled) = nil error")
	}
	if _, err := d.ReportCount(ctx); err == nil {
		t.Error("ReportCount(canceled) = nil error")
	}
	if err := d.Ping(ctx); err == nil {
		t.Error("Ping(canceled) = nil error")
	}
	// Nothing was stored, and the database still works.
	if n := count(t, d); n != 0 {
		t.Errorf("ReportCount = %d, want 0", n)
	}
	if !Put(t, d, r) {
		t.Error("PutReport after the canceled one: inserted = false")
	}

	// A deadline that passes while the call waits.
	short, cancel2 := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel2()
	<-short.Done()
	if _, err := d.PutReport(short, Ingest(Rep("x2", "vps-1", 1, nil, "203.0.113.7", "h1", ""))); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("PutReport(expired) error = %v, want context.DeadlineExceeded", err)
	}
}

func testPing(t *testing.T, d db.DB) {
	if err := d.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testClose(t *testing.T, d db.DB) {
	Put(t, d, Rep("c1", "vps-1", 0, nil, "203.0.113.7", "h1", ""))
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := d.PutReport(context.Background(), Ingest(Rep("c2", "vps-1", 1, nil, "203.0.113.7", "h1", ""))); err == nil {
		t.Error("PutReport after Close = nil error")
	}
	if _, err := d.Sightings(context.Background()); err == nil {
		t.Error("Sightings after Close = nil error")
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
