package policy

import (
	"cmp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/storefence/storefence/report"
)

// Sighting aggregates every observation of one value of one signal by one
// agent while it declared one set of stores: the unit the database keeps,
// so that history grows with distinct values, not with reports.
type Sighting struct {
	Agent     string
	Stores    []string // sorted; the stores the reports declared
	Signal    string
	Value     string
	FirstSeen time.Time
	LastSeen  time.Time
	Count     int64
}

// Saw counts one more report that saw the sighting's value at t.
func (s *Sighting) Saw(t time.Time) {
	s.Count++
	if t.Before(s.FirstSeen) {
		s.FirstSeen = t
	}
	if t.After(s.LastSeen) {
		s.LastSeen = t
	}
}

// AgentState is what the latest report of one agent says about the agent
// itself, for warnings.
type AgentState struct {
	Agent    string
	LastSeen time.Time
	Stores   []string
	Conflict bool                    // its providers disagreed about its public IP
	Errors   []report.CollectorError // of its latest report
	Version  string
}

// Aggregator folds reports into sightings and agent states. Reports
// collected after the cutoff are ignored whole, so that an audit "as of" a
// past time sees exactly what was known then.
type Aggregator struct {
	cutoff    time.Time
	sightings map[sightingKey]*Sighting
	agents    map[string]*AgentState
}

type sightingKey struct{ agent, stores, signal, value string }

// NewAggregator returns an empty aggregator that ignores reports collected
// after cutoff (zero: none ignored).
func NewAggregator(cutoff time.Time) *Aggregator {
	return &Aggregator{cutoff: cutoff, sightings: map[sightingKey]*Sighting{}, agents: map[string]*AgentState{}}
}

// Add folds one validated report in. It reports whether r was used.
func (a *Aggregator) Add(r *report.Report) bool {
	t := r.CollectedAt.UTC()
	if !a.cutoff.IsZero() && t.After(a.cutoff) {
		return false
	}
	stores := sortedCopy(r.Stores)
	storesKey := strings.Join(stores, ",")
	for _, o := range Observe(r) {
		k := sightingKey{r.Agent, storesKey, o.Signal, o.Value}
		s := a.sightings[k]
		if s == nil {
			s = &Sighting{Agent: r.Agent, Stores: stores, Signal: o.Signal, Value: o.Value, FirstSeen: t, LastSeen: t}
			a.sightings[k] = s
		}
		s.Saw(t)
	}
	st := a.agents[r.Agent]
	if st == nil || !t.Before(st.LastSeen) {
		a.agents[r.Agent] = StateOf(r)
	}
	return true
}

// StateOf is the agent state that report r describes.
func StateOf(r *report.Report) *AgentState {
	st := &AgentState{Agent: r.Agent, LastSeen: r.CollectedAt.UTC(), Stores: sortedCopy(r.Stores), Version: r.Version}
	if r.PublicIP != nil {
		st.Conflict = r.PublicIP.Conflict
	}
	st.Errors = append(st.Errors, r.Errors...)
	return st
}

// Fill sets in's sightings and agent states to what a has aggregated, in no
// particular order (Evaluate needs none): the fast path of an audit.
func (a *Aggregator) Fill(in *Input) {
	in.Sightings = make([]Sighting, 0, len(a.sightings))
	for _, s := range a.sightings {
		in.Sightings = append(in.Sightings, *s)
	}
	in.Agents = a.Agents()
}

// Sightings returns the aggregated sightings in a stable order.
func (a *Aggregator) Sightings() []Sighting {
	out := make([]Sighting, 0, len(a.sightings))
	for _, s := range a.sightings {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(x, y Sighting) int {
		if c := cmp.Compare(x.Agent, y.Agent); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Signal, y.Signal); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Value, y.Value); c != 0 {
			return c
		}
		return slices.Compare(x.Stores, y.Stores)
	})
	return out
}

// Agents returns the latest state of every agent, by agent id.
func (a *Aggregator) Agents() []AgentState {
	out := make([]AgentState, 0, len(a.agents))
	for _, s := range a.agents {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Agent < out[j].Agent })
	return out
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
