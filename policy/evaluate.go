package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Store is a store of the registry as the policy sees it.
type Store struct {
	ID     string
	Status string // active, suspended or closed
}

// Exemption accepts that some stores share some signals, until Expires
// (zero: never).
type Exemption struct {
	Stores  []string
	Signals []string // signal names, or "*"
	Reason  string
	Expires time.Time
}

// RegValue is one keyed registration value of one store.
type RegValue struct {
	Store  string
	Field  string // legal_name, address, …
	Digest string // hmac:<hex>, the matching key
	Hint   string // masked, for people
}

// Input is everything an evaluation looks at.
type Input struct {
	Stores       []Store
	Exemptions   []Exemption
	Registration []RegValue
	Sightings    []Sighting
	Agents       []AgentState
}

// Evaluate finds every value shared by two or more stores in in, as of now,
// and the clusters and warnings that follow. It never compares stores
// pairwise: every sighting goes into an index keyed by (signal, value), so
// the cost grows with the number of sightings.
func Evaluate(in *Input, p *Policy, now time.Time) *Audit {
	e := &evaluator{p: p, now: now.UTC(), storeIdx: map[string]int32{}, agentIdx: map[string]int32{}, groups: map[groupKey]int32{}}
	for _, s := range in.Stores {
		e.store(s.ID, s.Status)
	}
	e.indexSightings(in.Sightings)
	e.indexRegistration(in.Registration)
	findings := e.findings(in.Exemptions)
	return &Audit{
		Schema:      AuditSchema,
		EvaluatedAt: e.now,
		Findings:    findings,
		Clusters:    e.clusters(findings),
		Warnings:    e.warnings(in),
	}
}

type evaluator struct {
	p   *Policy
	now time.Time

	storeIdx  map[string]int32
	storeIDs  []string
	storeBad  []bool // suspended or closed
	agentIdx  map[string]int32
	agentIDs  []string
	groups    map[groupKey]int32
	groupList []group
	subnets   map[netip.Prefix][]subnetSighting
}

type groupKey struct{ signal, value string }

// group gathers the evidence for one (signal, value).
type group struct {
	key  groupKey
	hint string
	ev   []ev
}

// ev is one store meeting a value through one agent (-1: the registry).
type ev struct {
	store, agent int32
	first, last  int64 // Unix nanoseconds
	count        int64
}

type subnetSighting struct {
	addr netip.Addr
	e    ev
}

func (e *evaluator) store(id, status string) int32 {
	if i, ok := e.storeIdx[id]; ok {
		return i
	}
	i := int32(len(e.storeIDs))
	e.storeIdx[id] = i
	e.storeIDs = append(e.storeIDs, id)
	e.storeBad = append(e.storeBad, status == "suspended" || status == "closed")
	return i
}

func (e *evaluator) agent(id string) int32 {
	if i, ok := e.agentIdx[id]; ok {
		return i
	}
	i := int32(len(e.agentIDs))
	e.agentIdx[id] = i
	e.agentIDs = append(e.agentIDs, id)
	return i
}

func (e *evaluator) add(signal, value, hint string, x ev) {
	k := groupKey{signal, value}
	i, ok := e.groups[k]
	if !ok {
		i = int32(len(e.groupList))
		e.groups[k] = i
		e.groupList = append(e.groupList, group{key: k, hint: hint})
	}
	e.groupList[i].ev = append(e.groupList[i].ev, x)
}

// inWindow reports whether a sighting from first to last counts for signal
// now, and clamps last to now.
func (e *evaluator) inWindow(signal string, first, last time.Time) (time.Time, bool) {
	if first.After(e.now) {
		return last, false // observed after the evaluation time
	}
	if last.After(e.now) {
		last = e.now
	}
	w := e.p.Signals[signal].Window
	return last, w == 0 || !last.Before(e.now.Add(-w))
}

func (e *evaluator) indexSightings(ss []Sighting) {
	e.subnets = map[netip.Prefix][]subnetSighting{}
	for i := range ss {
		s := &ss[i]
		if len(s.Stores) == 0 || e.p.ignored(s.Signal, s.Value) {
			continue
		}
		agent := e.agent(s.Agent)
		if s.Signal == PublicIP {
			e.subnetSighting(s, agent)
		}
		last, ok := e.inWindow(s.Signal, s.FirstSeen, s.LastSeen)
		if !ok {
			continue
		}
		for _, st := range s.Stores {
			e.add(s.Signal, s.Value, "", ev{e.store(st, ""), agent, s.FirstSeen.UnixNano(), last.UnixNano(), s.Count})
		}
	}
	e.indexSubnets()
}

// subnetSighting files a public_ip sighting under its subnet, if it is in
// public_subnet's window.
func (e *evaluator) subnetSighting(s *Sighting, agent int32) {
	last, ok := e.inWindow(PublicSubnet, s.FirstSeen, s.LastSeen)
	if !ok {
		return
	}
	a, err := netip.ParseAddr(s.Value)
	if err != nil {
		return
	}
	bits := e.p.IPv4Prefix
	if a.Is6() {
		bits = e.p.IPv6Prefix
	}
	pfx, err := a.Prefix(bits)
	if err != nil {
		return
	}
	for _, st := range s.Stores {
		e.subnets[pfx] = append(e.subnets[pfx], subnetSighting{a, ev{e.store(st, ""), agent, s.FirstSeen.UnixNano(), last.UnixNano(), s.Count}})
	}
}

// indexSubnets adds a public_subnet group for every subnet where stores
// used different addresses: two stores on one address are public_ip, not
// also public_subnet.
func (e *evaluator) indexSubnets() {
	for pfx, list := range e.subnets {
		distinct := false
		for _, x := range list[1:] {
			if x.addr != list[0].addr {
				distinct = true
				break
			}
		}
		if !distinct {
			continue
		}
		for _, x := range list {
			e.add(PublicSubnet, pfx.String(), "", x.e)
		}
	}
	e.subnets = nil
}

func (e *evaluator) indexRegistration(vals []RegValue) {
	for _, v := range vals {
		e.add(RegPrefix+v.Field, v.Digest, v.Hint, ev{store: e.store(v.Store, ""), agent: -1})
	}
}

// findings turns every group that two or more stores share into a finding.
func (e *evaluator) findings(exemptions []Exemption) []Finding {
	var out []Finding
	for gi := range e.groupList {
		g := &e.groupList[gi]
		if len(g.ev) < 2 {
			continue
		}
		evs := mergeEvidence(g.ev)
		g.ev = nil // free as we go: the index is no longer needed
		stores := distinctStores(evs)
		if len(stores) < 2 {
			continue
		}
		f := Finding{
			ID:       FindingID(g.key.signal, g.key.value),
			Signal:   g.key.signal,
			Severity: e.p.severity(g.key.signal, g.key.value),
			Value:    g.key.value,
			Stores:   make([]string, len(stores)),
			Evidence: make([]Evidence, len(evs)),
		}
		if g.hint != "" {
			f.Value = g.hint
		}
		for i, s := range stores {
			f.Stores[i] = e.storeIDs[s]
			if e.storeBad[s] && f.Severity < Critical {
				f.Severity, f.Escalated = Critical, true
			}
		}
		for i, x := range evs {
			f.Evidence[i] = Evidence{Store: e.storeIDs[x.store], Count: x.count}
			if x.agent >= 0 {
				f.Evidence[i].Agent = e.agentIDs[x.agent]
				f.Evidence[i].FirstSeen = time.Unix(0, x.first).UTC()
				f.Evidence[i].LastSeen = time.Unix(0, x.last).UTC()
			}
		}
		sort.Strings(f.Stores)
		sort.Slice(f.Evidence, func(i, j int) bool {
			a, b := &f.Evidence[i], &f.Evidence[j]
			if a.Store != b.Store {
				return a.Store < b.Store
			}
			return a.Agent < b.Agent
		})
		if ex := exemptionFor(exemptions, f.Signal, f.Stores, e.now); ex != nil {
			f.Exempted, f.Exemption = true, ex.Reason
		}
		out = append(out, f)
	}
	e.groupList, e.groups = nil, nil
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.Signal != b.Signal {
			return a.Signal < b.Signal
		}
		if a.Value != b.Value {
			return a.Value < b.Value
		}
		return a.ID < b.ID
	})
	return out
}

// FindingID is the stable id of the finding on (signal, value): the same
// problem keeps its id as stores join or leave it.
func FindingID(signal, value string) string {
	h := sha256.Sum256([]byte(signal + "\x00" + value))
	return hex.EncodeToString(h[:10])
}

// mergeEvidence sorts evidence by (store, agent) and merges duplicates.
func mergeEvidence(evs []ev) []ev {
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].store != evs[j].store {
			return evs[i].store < evs[j].store
		}
		return evs[i].agent < evs[j].agent
	})
	out := evs[:1]
	for _, x := range evs[1:] {
		last := &out[len(out)-1]
		if x.store != last.store || x.agent != last.agent {
			out = append(out, x)
			continue
		}
		last.first = min(last.first, x.first)
		last.last = max(last.last, x.last)
		last.count += x.count
	}
	return out
}

func distinctStores(evs []ev) []int32 {
	var out []int32
	for i, x := range evs {
		if i == 0 || x.store != evs[i-1].store {
			out = append(out, x.store)
		}
	}
	return out
}

// exemptionFor returns the first unexpired exemption for signal whose store
// set holds every one of stores.
func exemptionFor(exemptions []Exemption, signal string, stores []string, now time.Time) *Exemption {
	for i := range exemptions {
		x := &exemptions[i]
		if !x.Expires.IsZero() && !now.Before(x.Expires) {
			continue
		}
		if !coversSignal(x.Signals, signal) {
			continue
		}
		inside := true
		for _, s := range stores {
			if !contains(x.Stores, s) {
				inside = false
				break
			}
		}
		if inside {
			return x
		}
	}
	return nil
}

func coversSignal(signals []string, s string) bool {
	for _, x := range signals {
		if x == "*" || x == s {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// clusters joins stores through the unexempted findings at or above the
// policy's cluster_min_severity. Findings are taken most-shared first; the
// ones that merge two groups of stores are the cluster's explanation.
func (e *evaluator) clusters(findings []Finding) []Cluster {
	var qual []*Finding
	for i := range findings {
		if f := &findings[i]; !f.Exempted && f.Severity >= e.p.ClusterMinSeverity {
			qual = append(qual, f)
		}
	}
	sort.SliceStable(qual, func(i, j int) bool {
		if len(qual[i].Stores) != len(qual[j].Stores) {
			return len(qual[i].Stores) > len(qual[j].Stores)
		}
		return qual[i].Severity > qual[j].Severity
	})
	uf := newUnionFind(len(e.storeIDs))
	joins := make([]bool, len(qual))
	for i, f := range qual {
		first := e.storeIdx[f.Stores[0]]
		for _, s := range f.Stores[1:] {
			if uf.union(first, e.storeIdx[s]) {
				joins[i] = true
			}
		}
	}
	byRoot := map[int32]*Cluster{}
	signals := map[int32]map[string]bool{}
	var roots []int32
	for i, f := range qual {
		r := uf.find(e.storeIdx[f.Stores[0]])
		c := byRoot[r]
		if c == nil {
			c = &Cluster{}
			byRoot[r], signals[r] = c, map[string]bool{}
			roots = append(roots, r)
		}
		c.Severity = max(c.Severity, f.Severity)
		signals[r][f.Signal] = true
		if joins[i] {
			if len(c.JoinedBy) < MaxJoinedBy {
				c.JoinedBy = append(c.JoinedBy, Link{Finding: f.ID, Signal: f.Signal, Value: f.Value, Severity: f.Severity, Stores: len(f.Stores)})
			} else {
				c.JoinedByMore++
			}
		}
	}
	for s := range e.storeIDs {
		if c := byRoot[uf.find(int32(s))]; c != nil {
			c.Stores = append(c.Stores, e.storeIDs[s])
		}
	}
	out := make([]Cluster, 0, len(roots))
	for _, r := range roots {
		c := byRoot[r]
		sort.Strings(c.Stores)
		for s := range signals[r] {
			c.Signals = append(c.Signals, s)
		}
		sort.Strings(c.Signals)
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i].Stores) != len(out[j].Stores) {
			return len(out[i].Stores) > len(out[j].Stores)
		}
		if out[i].Severity != out[j].Severity {
			return out[i].Severity > out[j].Severity
		}
		return out[i].Stores[0] < out[j].Stores[0]
	})
	return out
}

// warnings lists what is wrong but is not a shared value.
func (e *evaluator) warnings(in *Input) []Warning {
	var out []Warning
	served := map[string]bool{}
	known := make(map[string]bool, len(in.Stores))
	for _, s := range in.Stores {
		known[s.ID] = true
	}
	for _, a := range in.Agents {
		if a.LastSeen.After(e.now) {
			continue
		}
		if age := e.now.Sub(a.LastSeen); age > e.p.StaleAfter {
			out = append(out, Warning{Kind: StaleAgent, Agent: a.Agent,
				Detail: fmt.Sprintf("no report for %s (last %s; stale after %s)", shortDuration(age), a.LastSeen.Format(time.RFC3339), shortDuration(e.p.StaleAfter))})
		}
		if a.Conflict {
			out = append(out, Warning{Kind: EgressConflict, Agent: a.Agent,
				Detail: "its public-IP providers disagree: its traffic may leave by two lines"})
		}
		var errs []string
		for _, ce := range a.Errors {
			if !strings.Contains(ce.Error, "unsupported on this platform") {
				errs = append(errs, ce.Collector+": "+ce.Error)
			}
		}
		if len(errs) > 0 {
			out = append(out, Warning{Kind: CollectorErr, Agent: a.Agent, Detail: strings.Join(errs, "; ")})
		}
		for _, s := range a.Stores {
			served[s] = true
			if len(known) > 0 && !known[s] {
				out = append(out, Warning{Kind: UnknownStore, Agent: a.Agent, Store: s,
					Detail: "the agent declares a store that the registry does not list"})
			}
		}
	}
	for _, s := range in.Stores {
		if !served[s.ID] && (s.Status == "" || s.Status == "active") {
			out = append(out, Warning{Kind: StoreWithoutAgent, Store: s.ID,
				Detail: "no agent's latest report declares this store: its environment is not watched"})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		if out[i].Agent != out[j].Agent {
			return out[i].Agent < out[j].Agent
		}
		return out[i].Store < out[j].Store
	})
	return out
}

// unionFind is a disjoint-set forest with path halving and union by size.
type unionFind struct{ parent, size []int32 }

func newUnionFind(n int) *unionFind {
	u := &unionFind{parent: make([]int32, n), size: make([]int32, n)}
	for i := range u.parent {
		u.parent[i], u.size[i] = int32(i), 1
	}
	return u
}

func (u *unionFind) find(x int32) int32 {
	for u.parent[x] != x {
		u.parent[x] = u.parent[u.parent[x]]
		x = u.parent[x]
	}
	return x
}

// union merges the sets of a and b and reports whether they were apart.
func (u *unionFind) union(a, b int32) bool {
	ra, rb := u.find(a), u.find(b)
	if ra == rb {
		return false
	}
	if u.size[ra] < u.size[rb] {
		ra, rb = rb, ra
	}
	u.parent[rb] = ra
	u.size[ra] += u.size[rb]
	return true
}

// shortDuration writes d for people: "20d4h" from two days on, else to the
// minute ("5h0m").
func shortDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		days, hours := d/(24*time.Hour), (d%(24*time.Hour))/time.Hour
		if hours == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, hours)
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}
