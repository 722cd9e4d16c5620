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

// historyShard keeps its sightings in one slice, found through an index of
// key hashes. The index holds no pointers, so the garbage collector skips
// it, and the rows are one object rather than a million: with a large
// history, the collector's marking (which competes with ingest for the
// CPU) stays short. A copy for an evaluation is one memmove.
type historyShard struct {
	mu    sync.Mutex
	rows  []policy.Sighting
	index map[uint64]int32     // key hash → row
	spill map[historyKey]int32 // keys whose hash another key already has; rare
}

type historyKey struct{ agent, stores, signal, value string }

func newShard(n int) historyShard {
	return historyShard{rows: make([]policy.Sighting, 0, n), index: make(map[uint64]int32, n)}
}

// find returns the row of key k, whose hash is h.
func (sh *historyShard) find(h uint64, k historyKey) (int32, bool) {
	i, ok := sh.index[h]
	if !ok {
		return 0, false
	}
	if r := &sh.rows[i]; r.Agent == k.agent && r.Signal == k.signal && r.Value == k.value && joinedIs(r.Stores, k.stores) {
		return i, true
	}
	i, ok = sh.spill[k]
	return i, ok
}

// insert appends s as the row of k (not yet present).
func (sh *historyShard) insert(h uint64, k historyKey, s policy.Sighting) int32 {
	sh.rows = append(sh.rows, s)
	i := int32(len(sh.rows) - 1)
	if _, taken := sh.index[h]; !taken {
		sh.index[h] = i
	} else {
		if sh.spill == nil {
			sh.spill = map[historyKey]int32{}
		}
		sh.spill[k] = i
	}
	return i
}

// add counts s, a first sighting, into the row of k.
func (sh *historyShard) add(h uint64, k historyKey, s policy.Sighting) {
	i, ok := sh.find(h, k)
	if !ok {
		s.Count = 0
		i = sh.insert(h, k, s)
	}
	sh.rows[i].Saw(s.LastSeen)
}

// joinedIs reports whether strings.Join(list, ",") == joined, without
// building the join.
func joinedIs(list []string, joined string) bool {
	for i, s := range list {
		if i > 0 {
			if joined == "" || joined[0] != ',' {
				return false
			}
			joined = joined[1:]
		}
		if !strings.HasPrefix(joined, s) {
			return false
		}
		joined = joined[len(s):]
	}
	return joined == ""
}

func newHistory() *history {
	h := &history{seed: maphash.MakeSeed(), agents: map[string]policy.AgentState{}}
	for i := range h.shards {
		h.shards[i] = newShard(0)
	}
	return h
}

// hash is k's hash; its remainder picks the shard.
func (h *history) hash(k historyKey) uint64 {
	var mh maphash.Hash
	mh.SetSeed(h.seed)
	for _, s := range [...]string{k.agent, k.stores, k.signal, k.value} {
		mh.WriteString(s)
		mh.WriteByte(0)
	}
	return mh.Sum64()
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
	h.each(in, func(hash uint64, k historyKey, s policy.Sighting) {
		sh := &h.shards[hash%historyShards]
		sh.mu.Lock()
		sh.add(hash, k, s)
		sh.mu.Unlock()
	})
}

func foldAgent(agents map[string]policy.AgentState, in *db.Ingest) {
	r := in.Report
	if st, ok := agents[r.Agent]; !ok || !r.CollectedAt.UTC().Before(st.LastSeen) {
		agents[r.Agent] = *policy.StateOf(r)
	}
}

// each calls f with the hash, key and a first sighting of every distinct
// observation of in.
func (h *history) each(in *db.Ingest, f func(hash uint64, k historyKey, s policy.Sighting)) {
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
		f(h.hash(k), k, policy.Sighting{Agent: r.Agent, Stores: stores, Signal: o.Signal, Value: o.Value, FirstSeen: t, LastSeen: t})
	}
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
	var fresh [historyShards]historyShard
	for i := range fresh {
		fresh[i] = newShard(len(ss)/historyShards + len(ss)/(historyShards*8) + 1)
	}
	// Agents, signals and store sets repeat across rows: one copy of each.
	names, storeSets := map[string]string{}, map[string][]string{}
	intern := func(s string) string {
		if c, ok := names[s]; ok {
			return c
		}
		names[s] = s
		return s
	}
	for i := range ss {
		s := ss[i]
		storesKey := strings.Join(s.Stores, ",")
		s.Agent, s.Signal = intern(s.Agent), intern(s.Signal)
		if set, ok := storeSets[storesKey]; ok {
			s.Stores = set
		} else {
			storeSets[storesKey] = s.Stores
		}
		k := historyKey{s.Agent, storesKey, s.Signal, s.Value}
		hash := h.hash(k)
		fresh[hash%historyShards].insert(hash, k, s)
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
		h.each(in, func(hash uint64, k historyKey, s policy.Sighting) { fresh[hash%historyShards].add(hash, k, s) })
	}
	for i := range h.shards {
		h.shards[i].mu.Lock()
		h.shards[i].rows, h.shards[i].index, h.shards[i].spill = fresh[i].rows, fresh[i].index, fresh[i].spill
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
		n += len(h.shards[i].rows)
		h.shards[i].mu.Unlock()
	}
	ss := buf[:0]
	if cap(ss) < n {
		ss = make([]policy.Sighting, 0, n+n/16)
	}
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		ss = append(ss, sh.rows...)
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
