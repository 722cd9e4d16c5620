package server

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/policy"
)

// historyShards splits the in-memory history so that copying it for an
// evaluation holds up an ingest for one shard's copy at most.
const historyShards = 64

// history is the server's in-memory copy of the database's sightings and
// agent states: loaded at start, folded forward by every report this
// server stores, and re-read from the database on the schedule of the
// periodic evaluation, so that replicas sharing one PostgreSQL see each
// other's ingests. An evaluation then needs no database read, which was
// most of its cost with a million sightings.
//
// The database stays the truth. Counts may briefly run ahead of it by the
// reports ingested while a re-read was under way (first and last seen,
// which is what the policy uses, are exact); the next re-read corrects them.
type history struct {
	seed   maphash.Seed
	shards [historyShards]historyShard

	mu        sync.Mutex
	agents    map[string]policy.AgentState
	loading   bool
	sinceLoad []*db.Ingest // ingests folded while a load was reading
	loaded    bool
}

type historyShard struct {
	mu sync.Mutex
	m  map[historyKey]*policy.Sighting
}

type historyKey struct{ agent, stores, signal, value string }

func newHistory() *history {
	h := &history{seed: maphash.MakeSeed(), agents: map[string]policy.AgentState{}}
	for i := range h.shards {
		h.shards[i].m = map[historyKey]*policy.Sighting{}
	}
	return h
}

func (h *history) shardOf(k historyKey) int {
	var mh maphash.Hash
	mh.SetSeed(h.seed)
	mh.WriteString(k.agent)
	mh.WriteString(k.value)
	return int(mh.Sum64() % historyShards)
}

// fold adds one stored report, exactly as the database folded it: one
// count per distinct observation, first and last seen from collected_at,
// the agent state when it is the agent's latest.
func (h *history) fold(in *db.Ingest) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.loading { // what folding needs, not the raw body
		h.sinceLoad = append(h.sinceLoad, &db.Ingest{Report: in.Report, Observed: in.Observed})
	}
	h.foldLocked(h.agents, in)
}

// foldLocked folds in into agents and the live shards; h.mu is held, so
// that a load's swap never interleaves with a fold.
func (h *history) foldLocked(agents map[string]policy.AgentState, in *db.Ingest) {
	foldAgent(agents, in)
	h.each(in, func(i int, k historyKey, s policy.Sighting) {
		sh := &h.shards[i]
		sh.mu.Lock()
		upsert(sh.m, k, s)
		sh.mu.Unlock()
	})
}

func foldAgent(agents map[string]policy.AgentState, in *db.Ingest) {
	r := in.Report
	if st, ok := agents[r.Agent]; !ok || !r.CollectedAt.UTC().Before(st.LastSeen) {
		agents[r.Agent] = *policy.StateOf(r)
	}
}

// each calls f with the shard, key and a first sighting of every distinct
// observation of in.
func (h *history) each(in *db.Ingest, f func(shard int, k historyKey, s policy.Sighting)) {
	r := in.Report
	t := r.CollectedAt.UTC()
	stores := slices.Sorted(slices.Values(r.Stores))
	storesKey := strings.Join(stores, ",")
	seen := make(map[policy.Observed]bool, len(in.Observed))
	for _, o := range in.Observed {
		if seen[o] {
			continue
		}
		seen[o] = true
		k := historyKey{r.Agent, storesKey, o.Signal, o.Value}
		f(h.shardOf(k), k, policy.Sighting{Agent: r.Agent, Stores: stores, Signal: o.Signal, Value: o.Value, FirstSeen: t, LastSeen: t})
	}
}

// upsert counts s (a first sighting) into m.
func upsert(m map[historyKey]*policy.Sighting, k historyKey, s policy.Sighting) {
	cur := m[k]
	if cur == nil {
		cur = &s
		cur.Count = 0
		m[k] = cur
	}
	cur.Saw(s.LastSeen)
}

// load replaces the history with what the database holds, then folds the
// reports this server stored while it was reading.
func (h *history) load(ctx context.Context, d db.DB) error {
	h.mu.Lock()
	h.loading, h.sinceLoad = true, nil
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.loading, h.sinceLoad = false, nil
		h.mu.Unlock()
	}()
	ss, err := d.Sightings(ctx)
	if err != nil {
		return fmt.Errorf("load history: %w", err)
	}
	agents, err := d.Agents(ctx)
	if err != nil {
		return fmt.Errorf("load history: %w", err)
	}
	var fresh [historyShards]map[historyKey]*policy.Sighting
	for i := range fresh {
		fresh[i] = make(map[historyKey]*policy.Sighting, len(ss)/historyShards+1)
	}
	for i := range ss {
		s := &ss[i]
		k := historyKey{s.Agent, strings.Join(s.Stores, ","), s.Signal, s.Value}
		fresh[h.shardOf(k)][k] = s
	}
	byAgent := make(map[string]policy.AgentState, len(agents))
	for _, a := range agents {
		byAgent[a.Agent] = a
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	// What this server stored while the database was read may be missing
	// from what was read: fold it again (see the type's comment on counts),
	// before the swap, so that no copy ever sees the history without it.
	for _, in := range h.sinceLoad {
		foldAgent(byAgent, in)
		h.each(in, func(i int, k historyKey, s policy.Sighting) { upsert(fresh[i], k, s) })
	}
	for i := range h.shards {
		h.shards[i].mu.Lock()
		h.shards[i].m = fresh[i]
		h.shards[i].mu.Unlock()
	}
	h.agents = byAgent
	h.loaded = true
	return nil
}

// fill sets in's sightings and agent states to a copy of the history. The
// sightings are copied into buf when it is large enough (the evaluator
// reuses one buffer: a fresh copy of a million sightings per evaluation
// was most of the garbage the server made).
func (h *history) fill(in *policy.Input, buf []policy.Sighting) {
	n := 0
	for i := range h.shards {
		h.shards[i].mu.Lock()
		n += len(h.shards[i].m)
		h.shards[i].mu.Unlock()
	}
	ss := buf[:0]
	if cap(ss) < n {
		ss = make([]policy.Sighting, 0, n+n/16)
	}
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for _, s := range sh.m {
			ss = append(ss, *s)
		}
		sh.mu.Unlock()
	}
	h.mu.Lock()
	agents := make([]policy.AgentState, 0, len(h.agents))
	for _, a := range h.agents {
		agents = append(agents, a)
	}
	h.mu.Unlock()
	in.Sightings, in.Agents = ss, agents
}

// isLoaded reports whether the history was loaded at least once.
func (h *history) isLoaded() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.loaded
}
