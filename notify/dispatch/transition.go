package dispatch

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/policy"
)

// ChangeKind is what happened to a finding since the channels last heard.
type ChangeKind string

// The changes the lifecycle notifies.
const (
	Opened    ChangeKind = "opened"    // new, or open again after it was resolved
	Grew      ChangeKind = "grew"      // another store joined it
	Escalated ChangeKind = "escalated" // its severity rose (a store was suspended or closed)
	Resolved  ChangeKind = "resolved"  // gone from the audit, or exempted
	Reminder  ChangeKind = "reminder"  // still open and critical after repeat_interval
)

// Change is one finding's change, as the messages describe it.
type Change struct {
	Kind     ChangeKind
	State    db.FindingState // after the change
	Joined   []string        // stores that joined (Grew)
	Evidence []policy.Evidence
	Acked    bool // muted by an ack: recorded, not sent
}

// transition compares the audit with the stored states, which hold what
// the channels were told. It returns the states to store (changed ones
// only) and the changes to notify, sorted by severity (highest first), then
// finding id. Exempted findings count as absent: they do not notify, and an
// exemption resolves an open one. A store leaving a finding, or its
// severity easing, is not worth a message and leaves the state as told, so
// that the resolution later reaches every channel the opening reached.
//
// asOf is when the audit's history was last read whole from the database:
// a finding changed after that (by this replica's own ingests, or another
// replica's) may be missing from the audit only because this view is old,
// so it is not resolved; stale reports that, and the caller re-reads.
func transition(prev []db.FindingState, acks []db.Ack, a *policy.Audit, now, asOf time.Time, repeat time.Duration) (next []db.FindingState, changes []Change, stale bool) {
	byID := make(map[string]db.FindingState, len(prev))
	for _, p := range prev {
		byID[p.ID] = p
	}
	acked := map[string]bool{}
	for _, k := range acks {
		if k.Until.After(now) {
			acked[k.Finding] = true
		}
	}
	current := map[string]bool{}
	exempted := map[string]bool{} // in the view, so surely resolved, however old the view
	for i := range a.Findings {
		f := &a.Findings[i]
		if f.Exempted {
			exempted[f.ID] = true
			continue
		}
		current[f.ID] = true
		p, known := byID[f.ID]
		st := db.FindingState{ID: f.ID, Signal: f.Signal, Severity: f.Severity.String(), Value: f.Value,
			Stores: slices.Sorted(slices.Values(f.Stores)), Open: true, Version: p.Version,
			OpenedAt: p.OpenedAt, ChangedAt: p.ChangedAt, RemindedAt: p.RemindedAt}
		var kind ChangeKind
		var joined []string
		switch {
		case !known || !p.Open:
			kind, st.OpenedAt, st.RemindedAt = Opened, now, time.Time{}
		case len(added(p.Stores, st.Stores)) > 0:
			kind, joined = Grew, added(p.Stores, st.Stores)
		case severityOf(st.Severity) > severityOf(p.Severity):
			kind = Escalated
		case f.Severity == policy.Critical && repeat > 0 && !now.Before(later(p.ChangedAt, p.RemindedAt).Add(repeat)):
			st.RemindedAt = now
			next = append(next, st)
			changes = append(changes, Change{Kind: Reminder, State: st, Evidence: f.Evidence, Acked: acked[f.ID]})
			continue
		default:
			continue // unchanged, shrank or eased: nothing to tell
		}
		st.Version++
		st.ChangedAt = now
		next = append(next, st)
		changes = append(changes, Change{Kind: kind, State: st, Joined: joined, Evidence: f.Evidence, Acked: acked[f.ID]})
	}
	for _, p := range prev {
		if !p.Open || current[p.ID] {
			continue
		}
		if p.ChangedAt.After(asOf) && !exempted[p.ID] {
			stale = true
			continue
		}
		p.Open = false
		p.Version++
		p.ChangedAt = now
		next = append(next, p)
		changes = append(changes, Change{Kind: Resolved, State: p, Acked: acked[p.ID]})
	}
	slices.SortFunc(changes, func(x, y Change) int {
		if d := severityOf(y.State.Severity) - severityOf(x.State.Severity); d != 0 {
			return int(d)
		}
		return strings.Compare(x.State.ID, y.State.ID)
	})
	return next, changes, stale
}

// added returns the stores of now that were not in before (both sorted).
func added(before, now []string) []string {
	var out []string
	for _, s := range now {
		if _, found := slices.BinarySearch(before, s); !found {
			out = append(out, s)
		}
	}
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func severityOf(s string) policy.Severity {
	v, err := policy.ParseSeverity(s)
	if err != nil {
		return policy.None
	}
	return v
}

// dedupKey is the outbox key of one channel's message about changes: the
// same (finding, version, change) set for the same channel is queued once,
// however often or by however many replicas it is computed.
func dedupKey(channel, kind string, changes []Change) string {
	h := sha256.New()
	parts := make([]string, 0, len(changes))
	for _, c := range changes {
		parts = append(parts, c.State.ID+":"+strconv.Itoa(c.State.Version)+":"+string(c.Kind)+":"+c.State.RemindedAt.UTC().Format(time.RFC3339))
	}
	slices.Sort(parts)
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return channel + "/" + kind + "/" + hex.EncodeToString(h.Sum(nil)[:16])
}
