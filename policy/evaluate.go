package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"slices"
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
// pairwise: every counting sighting and registration value becomes a 16-byte
// index entry keyed by the hash of its (signal, value); sorting the entries
// brings equal values together, so the cost grows as n log n in the number
// of sightings, with no per-value map.
func Evaluate(in *Input, p *Policy, now time.Time) *Audit {
	e := &evaluator{p: p, in: in, now: now.UTC(), seed: maphash.MakeSeed()}
	e.since = map[string]time.Time{}
	for name, sp := range p.Signals {
		if sp.Window > 0 {
			e.since[name] = e.now.Add(-sp.Window)
		}
	}
	e.bad = map[string]bool{}
	for _, s := range in.Stores {
		if s.Status == "suspended" || s.Status == "closed" {
			e.bad[s.ID] = true
		}
	}
	e.index()
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
	p    *Policy
	in   *Input
	now  time.Time
	seed maphash.Seed
	bad  map[string]bool // suspended or closed stores
	idx  []entry
	// since holds, per signal with a window, the oldest last sighting that
	// still counts.
	since map[string]time.Time
}

// entry is one store meeting one value: a reference into the input, and
// the hash of the (signal, value) it counts for.
type entry struct {
	h    uint64
	ref  int32  // index into in.Sightings or in.Registration
	pos  uint16 // which of the sighting's stores
	kind uint8
}

const (
	kindSighting uint8 = iota // (s.Signal, s.Value)
	kindSubnet                // (public_subnet, prefix of s.Value)
	kindReg                   // ("reg."+field, digest)
)

// ev is one piece of evidence while a finding is built.
type ev struct {
	store, agent string
	first, last  int64 // Unix nanoseconds; 0 for registration
	count        int64
}

func (e *evaluator) hash(signal, value string) uint64 {
	var h maphash.Hash
	h.SetSeed(e.seed)
	h.WriteString(signal)
	h.WriteByte(0)
	h.WriteString(value)
	return h.Sum64()
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
	since, ok := e.since[signal]
	return last, !ok || !last.Before(since)
}

// index makes one entry per (counting sighting or registration value, store).
func (e *evaluator) index() {
	n := len(e.in.Registration)
	for i := range e.in.Sightings {
		n += len(e.in.Sightings[i].Stores)
		if e.in.Sightings[i].Signal == PublicIP {
			n += len(e.in.Sightings[i].Stores)
		}
	}
	e.idx = make([]entry, 0, n)
	for i := range e.in.Sightings {
		s := &e.in.Sightings[i]
		if len(s.Stores) == 0 || len(s.Stores) > math.MaxUint16 || e.p.ignored(s.Signal, s.Value) {
			continue
		}
		if _, ok := e.inWindow(s.Signal, s.FirstSeen, s.LastSeen); ok {
			h := e.hash(s.Signal, s.Value)
			for j := range s.Stores {
				e.idx = append(e.idx, entry{h: h, ref: int32(i), pos: uint16(j), kind: kindSighting})
			}
		}
		if s.Signal != PublicIP {
			continue
		}
		if pfx, ok := e.subnet(s.Value); ok {
			if _, ok := e.inWindow(PublicSubnet, s.FirstSeen, s.LastSeen); ok {
				h := e.hash(PublicSubnet, pfx)
				for j := range s.Stores {
					e.idx = append(e.idx, entry{h: h, ref: int32(i), pos: uint16(j), kind: kindSubnet})
				}
			}
		}
	}
	for i, v := range e.in.Registration {
		e.idx = append(e.idx, entry{h: e.hash(RegPrefix+v.Field, v.Digest), ref: int32(i), kind: kindReg})
	}
	sortEntries(e.idx)
}

// sortEntries sorts by hash with an LSD radix sort: linear in the number of
// entries, where a comparison sort is n log n and the largest cost of an
// evaluation.
func sortEntries(xs []entry) {
	if len(xs) < 256 {
		slices.SortFunc(xs, func(a, b entry) int { return cmp.Compare(a.h, b.h) })
		return
	}
	buf := make([]entry, len(xs))
	src, dst := xs, buf
	for shift := uint(0); shift < 64; shift += 8 {
		var count [256]int
		for _, x := range src {
			count[byte(x.h>>shift)]++
		}
		if count[byte(src[0].h>>shift)] == len(src) {
			continue // every entry has the same byte here
		}
		pos := 0
		for i, c := range count {
			count[i] = pos
			pos += c
		}
		for _, x := range src {
			b := byte(x.h >> shift)
			dst[count[b]] = x
			count[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &xs[0] {
		copy(xs, src)
	}
}

// subnet is the public_subnet of an address, per the policy's prefixes.
func (e *evaluator) subnet(addr string) (string, bool) {
	pfx := e.prefix(addr)
	return pfx.String(), pfx.IsValid()
}

// prefix is the public_subnet prefix of addr; invalid when addr is not an
// address.
func (e *evaluator) prefix(addr string) netip.Prefix {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}
	}
	bits := e.p.IPv4Prefix
	if a.Is6() {
		bits = e.p.IPv6Prefix
	}
	pfx, _ := a.Prefix(bits)
	return pfx
}

// key is the (signal, value) an entry counts for.
func (e *evaluator) key(x entry) groupKey {
	switch x.kind {
	case kindReg:
		v := &e.in.Registration[x.ref]
		return groupKey{RegPrefix + v.Field, v.Digest}
	case kindSubnet:
		pfx, _ := e.subnet(e.in.Sightings[x.ref].Value)
		return groupKey{PublicSubnet, pfx}
	}
	s := &e.in.Sightings[x.ref]
	return groupKey{s.Signal, s.Value}
}

// sameKey reports whether a and b count for the same (signal, value),
// without building either key.
func (e *evaluator) sameKey(a, b entry) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kindReg:
		x, y := &e.in.Registration[a.ref], &e.in.Registration[b.ref]
		return x.Field == y.Field && x.Digest == y.Digest
	case kindSubnet:
		return e.prefix(e.in.Sightings[a.ref].Value) == e.prefix(e.in.Sightings[b.ref].Value)
	}
	x, y := &e.in.Sightings[a.ref], &e.in.Sightings[b.ref]
	return x.Signal == y.Signal && x.Value == y.Value
}

func (e *evaluator) regHint(x entry) string {
	if x.kind != kindReg {
		return ""
	}
	return e.in.Registration[x.ref].Hint
}

func (e *evaluator) store(x entry) string {
	if x.kind == kindReg {
		return e.in.Registration[x.ref].Store
	}
	return e.in.Sightings[x.ref].Stores[x.pos]
}

func (e *evaluator) evidence(x entry) ev {
	if x.kind == kindReg {
		return ev{store: e.in.Registration[x.ref].Store}
	}
	s := &e.in.Sightings[x.ref]
	signal := s.Signal
	if x.kind == kindSubnet {
		signal = PublicSubnet
	}
	last, _ := e.inWindow(signal, s.FirstSeen, s.LastSeen)
	return ev{store: s.Stores[x.pos], agent: s.Agent, first: s.FirstSeen.UnixNano(), last: last.UnixNano(), count: s.Count}
}

type groupKey struct{ signal, value string }

// groups calls fn with the entries of every (signal, value) that at least
// two different stores meet.
func (e *evaluator) groups(fn func(k groupKey, xs []entry)) {
	for i := 0; i < len(e.idx); {
		j := i + 1
		for j < len(e.idx) && e.idx[j].h == e.idx[i].h {
			j++
		}
		run := e.idx[i:j]
		i = j
		if len(run) < 2 || !e.twoStores(run) {
			continue
		}
		// Equal hashes are nearly always equal keys; split the rare collision.
		same := true
		for _, x := range run[1:] {
			if !e.sameKey(run[0], x) {
				same = false
				break
			}
		}
		if same {
			fn(e.key(run[0]), run)
			continue
		}
		byKey := map[groupKey][]entry{}
		for _, x := range run {
			byKey[e.key(x)] = append(byKey[e.key(x)], x)
		}
		for k, xs := range byKey {
			if e.twoStores(xs) {
				fn(k, xs)
			}
		}
	}
}

func (e *evaluator) twoStores(xs []entry) bool {
	first := e.store(xs[0])
	for _, x := range xs[1:] {
		if e.store(x) != first {
			return true
		}
	}
	return false
}

// distinctAddrs reports whether a public_subnet group holds two different
// addresses: two stores on one address are public_ip, not also public_subnet.
func (e *evaluator) distinctAddrs(xs []entry) bool {
	first := e.in.Sightings[xs[0].ref].Value
	for _, x := range xs[1:] {
		if e.in.Sightings[x.ref].Value != first {
			return true
		}
	}
	return false
}

// findings turns every (signal, value) that two or more stores share into a
// finding.
func (e *evaluator) findings(exemptions []Exemption) []Finding {
	var out []Finding
	e.groups(func(k groupKey, xs []entry) {
		if k.signal == PublicSubnet && !e.distinctAddrs(xs) {
			return
		}
		evs := make([]ev, len(xs))
		hint := ""
		for i, x := range xs {
			evs[i] = e.evidence(x)
			// A hint from a raw value says more than one from a digest.
			if h := e.regHint(x); h != "" && (hint == "" || strings.HasPrefix(hint, "hmac:")) {
				hint = h
			}
		}
		evs = mergeEvidence(evs)
		f := Finding{
			ID:       FindingID(k.signal, k.value),
			Signal:   k.signal,
			Severity: e.p.severity(k.signal, k.value),
			Value:    k.value,
			Evidence: make([]Evidence, len(evs)),
		}
		if hint != "" {
			f.Value = hint
		}
		for i, x := range evs {
			if i == 0 || x.store != evs[i-1].store {
				f.Stores = append(f.Stores, x.store)
				if e.bad[x.store] && f.Severity < Critical {
					f.Severity, f.Escalated = Critical, true
				}
			}
			f.Evidence[i] = Evidence{Store: x.store, Agent: x.agent, Count: x.count}
			if x.agent != "" {
				f.Evidence[i].FirstSeen = time.Unix(0, x.first).UTC()
				f.Evidence[i].LastSeen = time.Unix(0, x.last).UTC()
			}
		}
		if ex := exemptionFor(exemptions, f.Signal, f.Stores, e.now); ex != nil {
			f.Exempted, f.Exemption = true, ex.Reason
		}
		out = append(out, f)
	})
	e.idx = nil
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
	slices.SortFunc(evs, func(a, b ev) int {
		if c := cmp.Compare(a.store, b.store); c != 0 {
			return c
		}
		return cmp.Compare(a.agent, b.agent)
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
	ids := map[string]int32{} // the stores of qualifying findings
	var names []string
	id := func(s string) int32 {
		i, ok := ids[s]
		if !ok {
			i = int32(len(names))
			ids[s] = i
			names = append(names, s)
		}
		return i
	}
	for _, f := range qual {
		for _, s := range f.Stores {
			id(s)
		}
	}
	uf := newUnionFind(len(names))
	joins := make([]bool, len(qual))
	for i, f := range qual {
		first := ids[f.Stores[0]]
		for _, s := range f.Stores[1:] {
			if uf.union(first, ids[s]) {
				joins[i] = true
			}
		}
	}
	byRoot := map[int32]*Cluster{}
	signals := map[int32]map[string]bool{}
	var roots []int32
	for i, f := range qual {
		r := uf.find(ids[f.Stores[0]])
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
	for i, name := range names {
		byRoot[uf.find(int32(i))].Stores = append(byRoot[uf.find(int32(i))].Stores, name)
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
	served := make(map[string]bool, len(in.Agents))
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
			switch {
			case strings.Contains(ce.Error, "unsupported on this platform"):
			case strings.HasPrefix(ce.Error, ce.Collector+":"):
				errs = append(errs, ce.Error)
			default:
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
// minute ("5h").
func shortDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		days, hours := d/(24*time.Hour), (d%(24*time.Hour))/time.Hour
		if hours == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, hours)
	}
	s := strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
