// Package groupcommit is the write path the db backends share: a queue of
// PutReport calls that one writer goroutine commits in batches, and the
// folding of a batch of reports into sighting deltas and agent states.
//
// A caller is answered only after the transaction holding its report
// committed, so an acknowledged report is durable; many callers share one
// commit, which is what makes the throughput.
package groupcommit

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

// ErrClosed is returned by Put after Close.
var ErrClosed = errors.New("closed")

// Request is one PutReport waiting in the queue.
type Request struct {
	In       *db.Ingest
	Inserted bool // set by the CommitFunc

	ctx  context.Context
	done chan error // buffered: the writer never blocks on it
}

// A CommitFunc stores a batch in one transaction. It sets Inserted on every
// request (false for an id already stored, or already earlier in the batch)
// and returns nil only when the transaction committed.
type CommitFunc func(ctx context.Context, batch []*Request) error

// Queue serialises PutReport calls through one writer goroutine.
type Queue struct {
	name     string // error prefix: "sqlite", "postgres"
	commit   CommitFunc
	maxBatch int
	timeout  time.Duration

	mu     sync.RWMutex // held for reading while sending to reqs; Close takes it to close reqs
	closed bool
	reqs   chan *Request
	exited chan struct{}
}

// Config tunes a Queue.
type Config struct {
	Name     string        // error prefix
	MaxBatch int           // most requests per transaction; 0: 256
	Timeout  time.Duration // bound on one batch's transaction; 0: one minute
}

// New starts the writer goroutine. Close stops it.
func New(commit CommitFunc, cfg Config) *Queue {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	q := &Queue{
		name:     cfg.Name,
		commit:   commit,
		maxBatch: cfg.MaxBatch,
		timeout:  cfg.Timeout,
		reqs:     make(chan *Request, 2*cfg.MaxBatch),
		exited:   make(chan struct{}),
	}
	go q.run()
	return q
}

// Put queues in and waits until its batch committed. It returns early with
// ctx's error when ctx is done first; the report may then be stored or not,
// and a retry is safe because PutReport is idempotent.
func (q *Queue) Put(ctx context.Context, in *db.Ingest) (bool, error) {
	if err := Check(in); err != nil {
		return false, fmt.Errorf("%s: put report: %w", q.name, err)
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("%s: put report %q: %w", q.name, in.Report.ID, err)
	}
	r := &Request{In: in, ctx: ctx, done: make(chan error, 1)}
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		return false, fmt.Errorf("%s: put report %q: %w", q.name, in.Report.ID, ErrClosed)
	}
	select {
	case q.reqs <- r:
		q.mu.RUnlock()
	case <-ctx.Done():
		q.mu.RUnlock()
		return false, fmt.Errorf("%s: put report %q: %w", q.name, in.Report.ID, ctx.Err())
	}
	select {
	case err := <-r.done:
		if err != nil {
			return false, fmt.Errorf("%s: put report %q: %w", q.name, in.Report.ID, err)
		}
		return r.Inserted, nil
	case <-ctx.Done():
		return false, fmt.Errorf("%s: put report %q: %w", q.name, in.Report.ID, ctx.Err())
	}
}

// Close commits what is queued, then stops the writer. Put fails with
// ErrClosed afterwards. Close is safe to call more than once.
func (q *Queue) Close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.reqs)
	}
	q.mu.Unlock()
	<-q.exited
}

func (q *Queue) run() {
	defer close(q.exited)
	batch := make([]*Request, 0, q.maxBatch)
	for r := range q.reqs {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < q.maxBatch {
			select {
			case r, ok := <-q.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		q.flush(batch)
		clear(batch)
	}
}

// flush commits batch, dropping the requests whose caller gave up. When
// the batch fails as a whole, each request is retried alone so that one bad
// report cannot fail the others.
func (q *Queue) flush(batch []*Request) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	err := q.commitOnce(live)
	if err == nil || len(live) == 1 {
		for _, r := range live {
			r.done <- err
		}
		return
	}
	for _, r := range live {
		r.done <- q.commitOnce([]*Request{r})
	}
}

func (q *Queue) commitOnce(batch []*Request) error {
	for _, r := range batch {
		r.Inserted = false
	}
	ctx, cancel := context.WithTimeout(context.Background(), q.timeout)
	defer cancel()
	return q.commit(ctx, batch)
}

// Check rejects an Ingest a backend cannot store faithfully.
func Check(in *db.Ingest) error {
	switch {
	case in == nil || in.Report == nil:
		return errors.New("no report")
	case in.Report.ID == "":
		return errors.New("report has no id")
	case in.Report.Agent == "":
		return fmt.Errorf("report %q has no agent", in.Report.ID)
	case !Representable(in.Report.CollectedAt):
		return fmt.Errorf("report %q: collected_at %s out of range", in.Report.ID, in.Report.CollectedAt)
	case !in.ReceivedAt.IsZero() && !Representable(in.ReceivedAt):
		return fmt.Errorf("report %q: received_at %s out of range", in.Report.ID, in.ReceivedAt)
	}
	for _, s := range in.Report.Stores {
		if s == "" || strings.Contains(s, StoreSep) {
			return fmt.Errorf("report %q: store id %q is empty or contains %q", in.Report.ID, s, StoreSep)
		}
	}
	return nil
}

// CheckToken rejects a token a backend cannot store faithfully.
func CheckToken(t db.Token, hash []byte) error {
	switch {
	case t.ID == "":
		return errors.New("token has no id")
	case t.Agent == "":
		return fmt.Errorf("token %q has no agent", t.ID)
	case len(hash) == 0:
		return fmt.Errorf("token %q has no hash", t.ID)
	case !Representable(t.CreatedAt):
		return fmt.Errorf("token %q: created_at %s out of range", t.ID, t.CreatedAt)
	case !t.RevokedAt.IsZero() && !Representable(t.RevokedAt):
		return fmt.Errorf("token %q: revoked_at %s out of range", t.ID, t.RevokedAt)
	}
	return nil
}

// Representable reports whether t survives a round trip through Unix
// nanoseconds, the backends' time format (years 1678 to 2262).
func Representable(t time.Time) bool {
	return !t.IsZero() && time.Unix(0, t.UnixNano()).Equal(t)
}

// StoreSep joins sorted store ids into the key stored with a sighting. Store
// ids cannot contain it (report.ValidID), and sorting joined keys sorts like
// policy.Aggregator.Sightings does.
const StoreSep = ","

// StoresKey is the stored form of a set of stores: sorted, joined.
func StoresKey(stores []string) string {
	s := slices.Clone(stores)
	slices.Sort(s)
	return strings.Join(s, StoreSep)
}

// SplitStores is the inverse of StoresKey; "" is no stores (nil), as
// policy.Aggregator has it.
func SplitStores(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, StoreSep)
}

// Time converts Unix nanoseconds read back from a backend.
func Time(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// Delta is what a batch adds to one sighting.
type Delta struct {
	Agent, Signal, Value, Stores string
	First, Last                  int64 // Unix nanoseconds
	Count                        int64
}

// AgentUpdate is the state of one agent from its latest report in a batch.
type AgentUpdate struct {
	Agent       string
	CollectedAt int64 // Unix nanoseconds
	Stores      string
	Conflict    bool
	Errors      []byte // JSON array, "[]" when none
	Version     string
}

// Fold folds the reports of a batch, in arrival order, into one delta per
// sighting and one state per agent, as policy.Aggregator does: each report
// counts once per distinct observation; of an agent's reports the latest by
// collected_at wins, the later arrival on a tie. Both come sorted, so that
// concurrent writers lock rows in one order.
func Fold(ins []*db.Ingest) ([]Delta, []AgentUpdate, error) {
	type key struct{ agent, signal, value, stores string }
	type acc struct {
		Delta
		last *db.Ingest // the report that counted last, to count a report once
	}
	deltas := map[key]*acc{}
	agents := map[string]*db.Ingest{}
	for _, in := range ins {
		r := in.Report
		t := r.CollectedAt.UnixNano()
		stores := StoresKey(r.Stores)
		for _, o := range in.Observed {
			k := key{r.Agent, o.Signal, o.Value, stores}
			d := deltas[k]
			if d == nil {
				d = &acc{Delta: Delta{Agent: r.Agent, Signal: o.Signal, Value: o.Value, Stores: stores, First: t, Last: t}}
				deltas[k] = d
			} else if d.last == in {
				continue // a duplicate observation within one report
			}
			d.last = in
			d.Count++
			d.First = min(d.First, t)
			d.Last = max(d.Last, t)
		}
		if prev := agents[r.Agent]; prev == nil || !r.CollectedAt.Before(prev.Report.CollectedAt) {
			agents[r.Agent] = in
		}
	}
	outD := make([]Delta, 0, len(deltas))
	for _, d := range deltas {
		outD = append(outD, d.Delta)
	}
	slices.SortFunc(outD, func(a, b Delta) int {
		return cmp.Or(strings.Compare(a.Agent, b.Agent), strings.Compare(a.Signal, b.Signal),
			strings.Compare(a.Value, b.Value), strings.Compare(a.Stores, b.Stores))
	})
	outA := make([]AgentUpdate, 0, len(agents))
	for _, in := range agents {
		u, err := StateUpdate(in)
		if err != nil {
			return nil, nil, err
		}
		outA = append(outA, u)
	}
	slices.SortFunc(outA, func(a, b AgentUpdate) int { return strings.Compare(a.Agent, b.Agent) })
	return outD, outA, nil
}

// StateUpdate is the agent state that in's report describes.
func StateUpdate(in *db.Ingest) (AgentUpdate, error) {
	r := in.Report
	errs := r.Errors
	if errs == nil {
		errs = []report.CollectorError{}
	}
	js, err := json.Marshal(errs)
	if err != nil {
		return AgentUpdate{}, fmt.Errorf("report %q: errors: %w", r.ID, err)
	}
	return AgentUpdate{
		Agent:       r.Agent,
		CollectedAt: r.CollectedAt.UnixNano(),
		Stores:      StoresKey(r.Stores),
		Conflict:    r.PublicIP != nil && r.PublicIP.Conflict,
		Errors:      js,
		Version:     r.Version,
	}, nil
}

// DecodeErrors reads back AgentUpdate.Errors; none is nil, as in
// policy.StateOf.
func DecodeErrors(js []byte) ([]report.CollectorError, error) {
	if len(js) == 0 {
		return nil, nil
	}
	var errs []report.CollectorError
	if err := json.Unmarshal(js, &errs); err != nil {
		return nil, err
	}
	if len(errs) == 0 {
		return nil, nil
	}
	return errs, nil
}

// Rows is what both database/sql and pgx return for a query.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanSightings reads the rows of a query selecting agent, signal, value,
// stores, first_seen, last_seen, count. Sightings of one set of stores
// share one Stores slice.
func ScanSightings(rows Rows) ([]policy.Sighting, error) {
	var out []policy.Sighting
	stores := map[string][]string{}
	for rows.Next() {
		var s policy.Sighting
		var key string
		var first, last int64
		if err := rows.Scan(&s.Agent, &s.Signal, &s.Value, &key, &first, &last, &s.Count); err != nil {
			return nil, err
		}
		st, ok := stores[key]
		if !ok {
			st = SplitStores(key)
			stores[key] = st
		}
		s.Stores, s.FirstSeen, s.LastSeen = st, Time(first), Time(last)
		out = append(out, s)
	}
	return out, rows.Err()
}

// ScanAgents reads the rows of a query selecting agent, collected_at,
// stores, conflict, errors (JSON text), version.
func ScanAgents(rows Rows) ([]policy.AgentState, error) {
	var out []policy.AgentState
	for rows.Next() {
		var a policy.AgentState
		var at int64
		var stores, errs string
		if err := rows.Scan(&a.Agent, &at, &stores, &a.Conflict, &errs, &a.Version); err != nil {
			return nil, err
		}
		a.LastSeen, a.Stores = Time(at), SplitStores(stores)
		var err error
		if a.Errors, err = DecodeErrors([]byte(errs)); err != nil {
			return nil, fmt.Errorf("%s: errors: %w", a.Agent, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
