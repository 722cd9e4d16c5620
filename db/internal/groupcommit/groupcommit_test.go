package groupcommit

import (
	"context"
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

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 5, time.UTC)

func ingest(id, agent string, minutes int, stores []string, obs ...string) *db.Ingest {
	r := &report.Report{ID: id, Agent: agent, Stores: stores, CollectedAt: t0.Add(time.Duration(minutes) * time.Minute)}
	in := &db.Ingest{Report: r}
	for i := 0; i < len(obs); i += 2 {
		in.Observed = append(in.Observed, policy.Observed{Signal: obs[i], Value: obs[i+1]})
	}
	return in
}

func TestFold(t *testing.T) {
	late := ingest("b", "vps-1", 10, []string{"s2", "s1"}, "public_ip", "203.0.113.7", "public_ip", "203.0.113.7")
	late.Report.Version = "2"
	late.Report.Errors = []report.CollectorError{{Collector: "device", Error: "x"}}
	ins := []*db.Ingest{
		late,
		ingest("a", "vps-1", 0, []string{"s1", "s2"}, "public_ip", "203.0.113.7", "host_id", "h"),
		ingest("c", "vps-0", 5, nil, "public_ip", "203.0.113.7"),
	}
	deltas, agents, err := Fold(ins)
	if err != nil {
		t.Fatal(err)
	}
	ns := func(m int) int64 { return t0.Add(time.Duration(m) * time.Minute).UnixNano() }
	wantD := []Delta{
		{Agent: "vps-0", Signal: "public_ip", Value: "203.0.113.7", Stores: "", First: ns(5), Last: ns(5), Count: 1},
		{Agent: "vps-1", Signal: "host_id", Value: "h", Stores: "s1,s2", First: ns(0), Last: ns(0), Count: 1},
		{Agent: "vps-1", Signal: "public_ip", Value: "203.0.113.7", Stores: "s1,s2", First: ns(0), Last: ns(10), Count: 2},
	}
	if diff := cmp.Diff(wantD, deltas); diff != "" {
		t.Errorf("deltas mismatch (-want +got):\n%s", diff)
	}
	wantA := []AgentUpdate{
		{Agent: "vps-0", CollectedAt: ns(5), Stores: "", Errors: []byte("[]")},
		{Agent: "vps-1", CollectedAt: ns(10), Stores: "s1,s2", Errors: []byte(`[{"collector":"device","error":"x"}]`), Version: "2"},
	}
	if diff := cmp.Diff(wantA, agents); diff != "" {
		t.Errorf("agents mismatch (-want +got):\n%s", diff)
	}
	for _, a := range agents {
		errs, err := DecodeErrors(a.Errors)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Errors) == 2 && errs != nil {
			t.Errorf("DecodeErrors(%s) = %#v, want nil", a.Errors, errs)
		}
	}
}

func TestFoldTie(t *testing.T) {
	first := ingest("a", "vps-1", 0, nil)
	second := ingest("b", "vps-1", 0, nil)
	second.Report.Version = "later"
	_, agents, err := Fold([]*db.Ingest{first, second})
	if err != nil {
		t.Fatal(err)
	}
	if agents[0].Version != "later" {
		t.Errorf("on a tie the state is from %q, want the later arrival", agents[0].Version)
	}
}

func TestStores(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		key  string
		back []string
	}{
		{nil, "", nil},
		{[]string{}, "", nil},
		{[]string{"b", "a"}, "a,b", []string{"a", "b"}},
	} {
		if got := StoresKey(tt.in); got != tt.key {
			t.Errorf("StoresKey(%q) = %q, want %q", tt.in, got, tt.key)
		}
		if diff := cmp.Diff(tt.back, SplitStores(tt.key)); diff != "" {
			t.Errorf("SplitStores(%q) mismatch (-want +got):\n%s", tt.key, diff)
		}
	}
	in := []string{"b", "a"}
	StoresKey(in)
	if in[0] != "b" {
		t.Error("StoresKey sorted its argument in place")
	}
}

func TestCheck(t *testing.T) {
	ok := ingest("a", "vps-1", 0, []string{"s"})
	if err := Check(ok); err != nil {
		t.Errorf("Check(valid) = %v", err)
	}
	for name, in := range map[string]*db.Ingest{
		"nil":           nil,
		"no report":     {},
		"no id":         ingest("", "vps-1", 0, nil),
		"no agent":      ingest("a", "", 0, nil),
		"comma":         ingest("a", "vps-1", 0, []string{"x,y"}),
		"empty store":   ingest("a", "vps-1", 0, []string{""}),
		"no time":       {Report: &report.Report{ID: "a", Agent: "vps-1"}},
		"year 3000":     {Report: &report.Report{ID: "a", Agent: "vps-1", CollectedAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		"received 1500": {Report: ok.Report, ReceivedAt: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if err := Check(in); err == nil {
			t.Errorf("Check(%s) = nil, want an error", name)
		}
	}
}

// gatedCommit records batches; while gate is open (not closed) every
// commit waits on it, so that requests pile up in the queue.
type gatedCommit struct {
	mu      sync.Mutex
	batches [][]string
	entered chan struct{}
	gate    chan struct{}
	fail    func([]*Request) error
}

func newGated() *gatedCommit {
	return &gatedCommit{entered: make(chan struct{}, 100), gate: make(chan struct{})}
}

func (g *gatedCommit) commit(ctx context.Context, batch []*Request) error {
	g.entered <- struct{}{}
	<-g.gate
	var ids []string
	for _, r := range batch {
		ids = append(ids, r.In.Report.ID)
	}
	g.mu.Lock()
	g.batches = append(g.batches, ids)
	g.mu.Unlock()
	if g.fail != nil {
		if err := g.fail(batch); err != nil {
			return err
		}
	}
	for _, r := range batch {
		r.Inserted = true
	}
	return nil
}

// waitQueued waits until n requests wait in q's channel.
func waitQueued(t *testing.T, q *Queue, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(q.reqs) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", len(q.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestQueueBatches(t *testing.T) {
	g := newGated()
	q := New(g.commit, Config{Name: "test", MaxBatch: 4})
	defer q.Close()
	var wg sync.WaitGroup
	put := func(id string) {
		wg.Go(func() {
			ins, err := q.Put(context.Background(), ingest(id, "vps-1", 0, nil))
			if err != nil || !ins {
				t.Errorf("Put(%s) = %v, %v; want true, nil", id, ins, err)
			}
		})
	}
	put("first")
	<-g.entered // the writer is inside the first batch
	for i := range 6 {
		put(fmt.Sprint(i))
	}
	waitQueued(t, q, 6)
	close(g.gate)
	wg.Wait()
	var sizes []int
	for _, b := range g.batches {
		sizes = append(sizes, len(b))
	}
	if diff := cmp.Diff([]int{1, 4, 2}, sizes); diff != "" {
		t.Errorf("batch sizes mismatch (-want +got):\n%s", diff)
	}
}

func TestQueueFailureIsolated(t *testing.T) {
	g := newGated()
	bad := errors.New("bad report")
	g.fail = func(batch []*Request) error {
		if slices.ContainsFunc(batch, func(r *Request) bool { return r.In.Report.ID == "bad" }) {
			return bad
		}
		return nil
	}
	q := New(g.commit, Config{Name: "test"})
	defer q.Close()
	var wg sync.WaitGroup
	wg.Go(func() { q.Put(context.Background(), ingest("first", "vps-1", 0, nil)) })
	<-g.entered
	results := map[string]error{}
	var mu sync.Mutex
	for _, id := range []string{"a", "bad", "b"} {
		wg.Go(func() {
			_, err := q.Put(context.Background(), ingest(id, "vps-1", 0, nil))
			mu.Lock()
			results[id] = err
			mu.Unlock()
		})
	}
	waitQueued(t, q, 3)
	close(g.gate)
	wg.Wait()
	for id, err := range results {
		if (id == "bad") != errors.Is(err, bad) {
			t.Errorf("Put(%s) error = %v", id, err)
		}
	}
}

func TestQueueCanceledWhileQueued(t *testing.T) {
	g := newGated()
	q := New(g.commit, Config{Name: "test"})
	defer q.Close()
	var wg sync.WaitGroup
	wg.Go(func() { q.Put(context.Background(), ingest("first", "vps-1", 0, nil)) })
	<-g.entered
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := q.Put(ctx, ingest("gone", "vps-1", 0, nil))
		done <- err
	}()
	waitQueued(t, q, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Put error = %v, want context.Canceled", err)
	}
	wg.Go(func() { q.Put(context.Background(), ingest("after", "vps-1", 0, nil)) })
	waitQueued(t, q, 2)
	close(g.gate)
	wg.Wait()
	// The abandoned request was never committed.
	if diff := cmp.Diff([][]string{{"first"}, {"after"}}, g.batches); diff != "" {
		t.Errorf("batches mismatch (-want +got):\n%s", diff)
	}
}

func TestQueueClose(t *testing.T) {
	g := newGated()
	q := New(g.commit, Config{Name: "test"})
	var wg sync.WaitGroup
	put := func(id string) {
		wg.Go(func() {
			if _, err := q.Put(context.Background(), ingest(id, "vps-1", 0, nil)); err != nil {
				t.Errorf("Put(%s) before Close: %v", id, err)
			}
		})
	}
	put("a")
	<-g.entered
	put("b")
	put("c")
	waitQueued(t, q, 2)
	closed := make(chan struct{})
	go func() {
		q.Close() // commits what is queued first
		close(closed)
	}()
	close(g.gate)
	<-closed
	wg.Wait()
	if n := len(g.batches); n != 2 {
		t.Errorf("%d batches committed, want 2", n)
	}
	if _, err := q.Put(context.Background(), ingest("d", "vps-1", 0, nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close error = %v, want ErrClosed", err)
	}
	q.Close()
}
