package dispatch

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/policy"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// fresh is a history read after every change: no finding is held back.
var fresh = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func finding(id string, sev policy.Severity, stores ...string) policy.Finding {
	return policy.Finding{ID: id, Signal: policy.PublicIP, Severity: sev, Value: "203.0.*.*", Stores: stores}
}

func audit(fs ...policy.Finding) *policy.Audit { return &policy.Audit{EvaluatedAt: t0, Findings: fs} }

// kinds summarises changes as "id:kind:version".
func kinds(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.State.ID+":"+string(c.Kind)+":"+strconv.Itoa(c.State.Version))
	}
	return out
}

func TestTransition(t *testing.T) {
	open := func(id, sev string, v int, stores ...string) db.FindingState {
		return db.FindingState{ID: id, Signal: policy.PublicIP, Severity: sev, Value: "203.0.*.*", Stores: stores, Open: true,
			Version: v, OpenedAt: t0.Add(-time.Hour), ChangedAt: t0.Add(-time.Hour)}
	}
	closed := open("f1", "high", 2, "a", "b")
	closed.Open = false
	exempt := finding("f1", policy.High, "a", "b")
	exempt.Exempted = true
	tests := []struct {
		name   string
		prev   []db.FindingState
		acks   []db.Ack
		audit  *policy.Audit
		at     time.Time
		want   []string
		stored int
	}{
		{"new finding opens", nil, nil, audit(finding("f1", policy.High, "a", "b")), t0, []string{"f1:opened:1"}, 1},
		{"unchanged says nothing", []db.FindingState{open("f1", "high", 1, "a", "b")}, nil, audit(finding("f1", policy.High, "a", "b")), t0, nil, 0},
		{"a store joins", []db.FindingState{open("f1", "high", 1, "a", "b")}, nil, audit(finding("f1", policy.High, "a", "b", "c")), t0, []string{"f1:grew:2"}, 1},
		{"a store leaves: nothing, the state stays as told", []db.FindingState{open("f1", "high", 1, "a", "b", "c")}, nil, audit(finding("f1", policy.High, "a", "b")), t0, nil, 0},
		{"severity eases: nothing", []db.FindingState{open("f1", "critical", 1, "a", "b")}, nil, audit(finding("f1", policy.High, "a", "b")), t0, nil, 0},
		{"severity rises", []db.FindingState{open("f1", "high", 1, "a", "b")}, nil, audit(finding("f1", policy.Critical, "a", "b")), t0, []string{"f1:escalated:2"}, 1},
		{"gone resolves", []db.FindingState{open("f1", "high", 1, "a", "b")}, nil, audit(), t0, []string{"f1:resolved:2"}, 1},
		{"exempted resolves", []db.FindingState{open("f1", "high", 1, "a", "b")}, nil, audit(exempt), t0, []string{"f1:resolved:2"}, 1},
		{"exempted never opens", nil, nil, audit(exempt), t0, nil, 0},
		{"reopens", []db.FindingState{closed}, nil, audit(finding("f1", policy.High, "a", "b")), t0, []string{"f1:opened:3"}, 1},
		{"resolved stays quiet", []db.FindingState{closed}, nil, audit(), t0, nil, 0},
		{"critical reminded after repeat", []db.FindingState{open("f1", "critical", 1, "a", "b")}, nil, audit(finding("f1", policy.Critical, "a", "b")), t0.Add(23 * time.Hour), []string{"f1:reminder:1"}, 1},
		{"critical not yet due", []db.FindingState{open("f1", "critical", 1, "a", "b")}, nil, audit(finding("f1", policy.Critical, "a", "b")), t0.Add(22 * time.Hour), nil, 0},
		{"high never reminded", []db.FindingState{open("f1", "high", 1, "a", "b")}, nil, audit(finding("f1", policy.High, "a", "b")), t0.Add(48 * time.Hour), nil, 0},
		{"sorted by severity", nil, nil, audit(finding("f2", policy.Medium, "a", "b"), finding("f1", policy.Critical, "c", "d")), t0, []string{"f1:opened:1", "f2:opened:1"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, changes, _ := transition(tt.prev, tt.acks, tt.audit, tt.at, fresh, 24*time.Hour)
			if diff := cmp.Diff(tt.want, kinds(changes)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if len(next) != tt.stored {
				t.Errorf("%d states to store, want %d: %+v", len(next), tt.stored, next)
			}
		})
	}
}

func TestTransitionAckMutes(t *testing.T) {
	acks := []db.Ack{{Finding: "f1", Until: t0.Add(time.Hour)}, {Finding: "f2", Until: t0.Add(-time.Hour)}}
	_, changes, _ := transition(nil, acks, audit(finding("f1", policy.High, "a", "b"), finding("f2", policy.High, "c", "d")), t0, fresh, 0)
	got := map[string]bool{}
	for _, c := range changes {
		got[c.State.ID] = c.Acked
	}
	if diff := cmp.Diff(map[string]bool{"f1": true, "f2": false}, got); diff != "" {
		t.Errorf("acked (-want +got):\n%s", diff)
	}
}

func TestDedupKeyIsStable(t *testing.T) {
	_, a, _ := transition(nil, nil, audit(finding("f1", policy.High, "a", "b"), finding("f2", policy.Low, "c", "d")), t0, fresh, 0)
	b := []Change{a[1], a[0]}
	if dedupKey("x", "alert", a) != dedupKey("x", "alert", b) {
		t.Error("the key depends on the order of the changes")
	}
	if dedupKey("x", "alert", a) == dedupKey("y", "alert", a) {
		t.Error("two channels share a key")
	}
	if dedupKey("x", "alert", a) == dedupKey("x", "alert", a[:1]) {
		t.Error("different changes share a key")
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter([]Window{{3, time.Minute}, {1, time.Second}})
	now := t0
	var sent []time.Time
	for len(sent) < 7 {
		if w := l.wait(now); w > 0 {
			now = now.Add(w)
			continue
		}
		l.record(now)
		sent = append(sent, now)
	}
	for i := range sent {
		if i >= 3 && sent[i].Sub(sent[i-3]) < time.Minute {
			t.Errorf("send %d at %v: 4 within a minute", i, sent[i])
		}
		if i >= 1 && sent[i].Sub(sent[i-1]) < time.Second {
			t.Errorf("send %d: 2 within a second", i)
		}
	}
	if want := t0.Add(2 * time.Minute); !sent[6].Equal(want) {
		t.Errorf("7th send at %v, want %v (as early as the limits allow)", sent[6], want)
	}
}

// TestTransitionStaleView: a finding changed after the history was read may
// be missing from the audit only because the view is old; it is not
// resolved until a fresh view says so.
func TestTransitionStaleView(t *testing.T) {
	prev := []db.FindingState{{ID: "f1", Signal: policy.PublicIP, Severity: "high", Stores: []string{"a", "b"}, Open: true,
		Version: 1, OpenedAt: t0, ChangedAt: t0}}
	next, changes, stale := transition(prev, nil, audit(), t0.Add(time.Minute), t0.Add(-time.Minute), 0)
	if !stale || len(next) != 0 || len(changes) != 0 {
		t.Errorf("old view: stale %v, %d states, changes %v; want stale and nothing", stale, len(next), kinds(changes))
	}
	exempt := finding("f1", policy.High, "a", "b")
	exempt.Exempted = true
	_, changes, stale = transition(prev, nil, audit(exempt), t0.Add(time.Minute), t0.Add(-time.Minute), 0)
	if stale || len(changes) != 1 || changes[0].Kind != Resolved {
		t.Errorf("old view with the finding exempted: stale %v, changes %v; want resolved", stale, kinds(changes))
	}
	_, changes, stale = transition(prev, nil, audit(), t0.Add(time.Minute), t0.Add(time.Second), 0)
	if stale || len(changes) != 1 || changes[0].Kind != Resolved {
		t.Errorf("fresh view: stale %v, changes %v; want resolved", stale, kinds(changes))
	}
}

// TestResolvedReachesWhoHeardTheOpening: after a finding eased and lost a
// store without a message, its resolution still goes to the channels that
// heard it open.
func TestResolvedReachesWhoHeardTheOpening(t *testing.T) {
	d := openDB(t)
	clk := &simClock{t: t0}
	pager, storeC := &recorder{}, &recorder{}
	disp := newDispatcher(t, d, clk,
		Channel{Name: "pager", Kind: "webhook", Language: "en", Notifier: pager, MinSeverity: policy.Critical},
		Channel{Name: "store-c", Kind: "webhook", Language: "en", Notifier: storeC, MinSeverity: policy.Low, Stores: []string{"c"}},
	)
	ctx := context.Background()
	disp.OnEvaluate(ctx, audit(finding("f1", policy.Critical, "a", "b", "c")), fresh)
	disp.OnEvaluate(ctx, audit(finding("f1", policy.High, "a", "b")), fresh) // eased, c left: silent
	disp.OnEvaluate(ctx, audit(), fresh)
	drain(t, disp)
	for name, r := range map[string]*recorder{"pager": pager, "store-c": storeC} {
		if diff := cmp.Diff([]string{"storefence: OPENED 1", "storefence: RESOLVED 1"}, titles(r.messages())); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}
