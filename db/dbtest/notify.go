package dbtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/storefence/storefence/db"
)

// notifier is a database that keeps the notifier's state too.
type notifier interface {
	db.DB
	db.Notifications
}

// notifyTests are the suite's tests of db.Notifications.
func notifyTests() []suiteTest {
	var out []suiteTest
	for _, tt := range []struct {
		name string
		fn   func(t *testing.T, d notifier)
	}{
		{"NotifyTransition", testNotifyTransition},
		{"NotifyRollback", testNotifyRollback},
		{"ClaimOutbox", testClaimOutbox},
		{"FinishOutbox", testFinishOutbox},
		{"OutboxStats", testOutboxStats},
		{"PruneOutbox", testPruneOutbox},
		{"Acks", testAcks},
		{"NotifyConcurrent", testNotifyConcurrent},
		{"NotifyCanceled", testNotifyCanceled},
	} {
		out = append(out, suiteTest{tt.name, func(t *testing.T, d db.DB) {
			n, ok := d.(notifier)
			if !ok {
				t.Fatalf("%T does not implement db.Notifications", d)
			}
			tt.fn(t, n)
		}})
	}
	return out
}

// Transition runs fn as d's next transition; it fails t on error.
func Transition(t testing.TB, d db.Notifications, fn db.Transition) {
	t.Helper()
	if err := d.NotifyTransition(context.Background(), fn); err != nil {
		t.Fatalf("NotifyTransition: %v", err)
	}
}

// Enqueue queues msgs in a transition that changes no state.
func Enqueue(t testing.TB, d db.Notifications, msgs ...db.OutboxMessage) {
	t.Helper()
	Transition(t, d, func([]db.FindingState, []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
		return nil, msgs, nil
	})
}

// Msg is a message of channel with key, queued at T0 plus minutes and due
// at once.
func Msg(key, channel string, minutes int) db.OutboxMessage {
	at := T0().Add(time.Duration(minutes) * time.Minute)
	return db.OutboxMessage{Key: key, Channel: channel, Payload: []byte(`{"key":"` + key + `"}`), CreatedAt: at, NextAt: at}
}

func outbox(t *testing.T, d db.Notifications, channel, state string) []db.OutboxMessage {
	t.Helper()
	ms, err := d.OutboxMessages(context.Background(), channel, state, 0)
	if err != nil {
		t.Fatalf("OutboxMessages(%q, %q): %v", channel, state, err)
	}
	return ms
}

func keys(ms []db.OutboxMessage) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Key)
	}
	return out
}

func claim(t *testing.T, d db.Notifications, channel, owner string, now time.Time, limit int) []db.OutboxMessage {
	t.Helper()
	ms, err := d.ClaimOutbox(context.Background(), channel, owner, now, time.Minute, limit)
	if err != nil {
		t.Fatalf("ClaimOutbox(%s, %s): %v", channel, owner, err)
	}
	return ms
}

// checkIDs fails t unless ms come by increasing id.
func checkIDs(t *testing.T, ms []db.OutboxMessage) {
	t.Helper()
	for i := 1; i < len(ms); i++ {
		if ms[i].ID <= ms[i-1].ID {
			t.Errorf("messages not by increasing id: %d after %d", ms[i].ID, ms[i-1].ID)
		}
	}
}

// states returns the stored finding states, as a transition sees them.
func states(t *testing.T, d db.Notifications) ([]db.FindingState, []db.Ack) {
	t.Helper()
	var prev []db.FindingState
	var acks []db.Ack
	Transition(t, d, func(p []db.FindingState, a []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
		prev, acks = p, a
		return nil, nil, nil
	})
	return prev, acks
}

var ignoreID = cmpopts.IgnoreFields(db.OutboxMessage{}, "ID")

func testNotifyTransition(t *testing.T, d notifier) {
	cet := time.FixedZone("CET", 3600)
	a := db.FindingState{ID: "f-a", Signal: "public_ip", Severity: "critical", Value: "203.0.113.x", Stores: []string{"shop-a", "shop-b"},
		Open: true, Version: 1, OpenedAt: T0(), ChangedAt: T0()}
	b := db.FindingState{ID: "f-b", Signal: "host_id", Severity: "warning", Value: "h…1",
		Open: true, Version: 1, OpenedAt: T0().Add(time.Minute).In(cet), ChangedAt: T0().Add(time.Minute)}
	m1, m2 := Msg("f-a/1/chat", "chat", 0), Msg("f-b/1/mail", "mail", 1)
	m2.NextAt = T0().Add(time.Hour)
	m2.Payload = nil
	calls := 0
	Transition(t, d, func(prev []db.FindingState, acks []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
		calls++
		if len(prev) != 0 || len(acks) != 0 {
			t.Errorf("first transition: prev = %v, acks = %v; want none", prev, acks)
		}
		// Returned out of id order; m1 twice: the second is skipped.
		dup := m1
		dup.Payload = []byte("other")
		return []db.FindingState{b, a}, []db.OutboxMessage{m1, m2, dup}, nil
	})
	if calls != 1 {
		t.Errorf("fn called %d times, want 1", calls)
	}
	b.OpenedAt = b.OpenedAt.UTC() // instants come back in UTC
	prev, _ := states(t, d)
	if diff := cmp.Diff([]db.FindingState{a, b}, prev); diff != "" {
		t.Errorf("stored states mismatch (-want +got):\n%s", diff)
	}
	if loc := prev[1].OpenedAt.Location(); loc != time.UTC {
		t.Errorf("OpenedAt location = %v, want UTC", loc)
	}
	for _, m := range []*db.OutboxMessage{&m1, &m2} {
		m.State = db.OutboxPending
	}
	got := outbox(t, d, "", "")
	if diff := cmp.Diff([]db.OutboxMessage{m1, m2}, got, ignoreID); diff != "" {
		t.Errorf("outbox mismatch (-want +got):\n%s", diff)
	}
	checkIDs(t, got) // in the order the transition returned them

	// The next transition sees the states, updates one, adds one, and
	// queues a key already queued (skipped) and a new one.
	a2 := a
	a2.Open, a2.Version, a2.ChangedAt, a2.RemindedAt = false, 2, T0().Add(time.Hour), T0().Add(30*time.Minute)
	c := db.FindingState{ID: "f-c", Signal: "mac", Severity: "info", Value: "52:54:…", Stores: []string{"shop-c"},
		Open: true, Version: 1, OpenedAt: T0().Add(2 * time.Hour), ChangedAt: T0().Add(2 * time.Hour)}
	m1again := m1
	m1again.Payload, m1again.Channel = []byte("changed"), "mail"
	m3 := Msg("f-a/2/chat", "chat", 60)
	m3.CreatedAt, m3.NextAt = time.Time{}, time.Time{} // now, due at once
	before := time.Now()
	Transition(t, d, func(prev []db.FindingState, acks []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
		if diff := cmp.Diff([]db.FindingState{a, b}, prev); diff != "" {
			t.Errorf("second transition: prev mismatch (-want +got):\n%s", diff)
		}
		return []db.FindingState{a2, c}, []db.OutboxMessage{m1again, m3}, nil
	})
	prev, _ = states(t, d)
	if diff := cmp.Diff([]db.FindingState{a2, b, c}, prev); diff != "" {
		t.Errorf("states after the second transition mismatch (-want +got):\n%s", diff)
	}
	got = outbox(t, d, "", "")
	if diff := cmp.Diff([]string{m1.Key, m2.Key, m3.Key}, keys(got)); diff != "" {
		t.Fatalf("outbox keys mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(m1, got[0], ignoreID); diff != "" {
		t.Errorf("a queued key was queued again (-want +got):\n%s", diff)
	}
	checkIDs(t, got)
	if at := got[2].CreatedAt; at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) || !got[2].NextAt.Equal(at) {
		t.Errorf("message without times: created %v, next %v; want now (%v), twice", at, got[2].NextAt, before)
	}
}

func testNotifyRollback(t *testing.T, d notifier) {
	ctx := context.Background()
	s := db.FindingState{ID: "f-1", Signal: "public_ip", Severity: "critical", Value: "x", Open: true, Version: 1, OpenedAt: T0(), ChangedAt: T0()}
	Transition(t, d, func([]db.FindingState, []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
		return []db.FindingState{s}, []db.OutboxMessage{Msg("k1", "chat", 0)}, nil
	})
	changed := s
	changed.Version, changed.Open = 2, false
	errBoom := errors.New("boom")
	err := d.NotifyTransition(ctx, func([]db.FindingState, []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
		return []db.FindingState{changed}, []db.OutboxMessage{Msg("k2", "chat", 0)}, errBoom
	})
	if err != errBoom { // as is, not wrapped
		t.Errorf("NotifyTransition(fn failing) error = %v, want fn's error as is", err)
	}
	// Output the backend cannot store: an error, and nothing of the
	// transition is stored, the valid states before it neither.
	for name, bad := range map[string]struct {
		states []db.FindingState
		msgs   []db.OutboxMessage
	}{
		"state without id":      {[]db.FindingState{changed, {OpenedAt: T0(), ChangedAt: T0()}}, nil},
		"state twice":           {[]db.FindingState{changed, changed}, nil},
		"state without times":   {[]db.FindingState{changed, {ID: "f-2"}}, nil},
		"store with a comma":    {[]db.FindingState{changed, {ID: "f-2", Stores: []string{"a,b"}, OpenedAt: T0(), ChangedAt: T0()}}, nil},
		"message without key":   {[]db.FindingState{changed}, []db.OutboxMessage{Msg("k3", "chat", 0), Msg("", "chat", 0)}},
		"message without chan":  {[]db.FindingState{changed}, []db.OutboxMessage{Msg("k3", "chat", 0), Msg("k4", "", 0)}},
		"message out of range":  {[]db.FindingState{changed}, []db.OutboxMessage{{Key: "k4", Channel: "chat", CreatedAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}}},
		"negative version":      {[]db.FindingState{{ID: "f-2", Version: -1, OpenedAt: T0(), ChangedAt: T0()}}, nil},
		"reminded out of range": {[]db.FindingState{{ID: "f-2", OpenedAt: T0(), ChangedAt: T0(), RemindedAt: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)}}, nil},
	} {
		err := d.NotifyTransition(ctx, func([]db.FindingState, []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
			return bad.states, bad.msgs, nil
		})
		if err == nil {
			t.Errorf("NotifyTransition(%s) = nil error, want one", name)
		}
	}
	prev, _ := states(t, d)
	if diff := cmp.Diff([]db.FindingState{s}, prev); diff != "" {
		t.Errorf("states after failed transitions mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"k1"}, keys(outbox(t, d, "", ""))); diff != "" {
		t.Errorf("outbox after failed transitions mismatch (-want +got):\n%s", diff)
	}
}

func testClaimOutbox(t *testing.T, d notifier) {
	ctx := context.Background()
	later := Msg("a-later", "chat", 2)
	later.NextAt = T0().Add(6*time.Minute + 30*time.Second)
	Enqueue(t, d, Msg("a-1", "chat", 0), Msg("b-1", "mail", 0), later, Msg("a-2", "chat", 1),
		Msg("b-2", "mail", 1), Msg("b-3", "mail", 2), Msg("b-4", "mail", 3))
	now := T0().Add(5 * time.Minute)

	// Due messages of the channel only, oldest first.
	got := claim(t, d, "chat", "o1", now, 10)
	want := []db.OutboxMessage{Msg("a-1", "chat", 0), Msg("a-2", "chat", 1)}
	for i := range want {
		want[i].State = db.OutboxPending
	}
	if diff := cmp.Diff(want, got, ignoreID); diff != "" {
		t.Errorf("ClaimOutbox mismatch (-want +got):\n%s", diff)
	}
	checkIDs(t, got)
	// Leased: no one gets them, the owner neither, until the lease ends.
	if got := claim(t, d, "chat", "o2", now.Add(time.Minute-1), 10); len(got) != 0 {
		t.Errorf("ClaimOutbox while leased = %v, want none", keys(got))
	}
	if got := claim(t, d, "chat", "o1", now, 10); len(got) != 0 {
		t.Errorf("ClaimOutbox by the owner while leased = %v, want none", keys(got))
	}
	if got := claim(t, d, "chat", "o2", now.Add(time.Minute), 10); fmt.Sprint(keys(got)) != "[a-1 a-2]" {
		t.Errorf("ClaimOutbox once the lease ended = %v, want [a-1 a-2]", keys(got))
	}
	// Due later: claimed when due (o2's lease runs until T0+7m).
	if got := claim(t, d, "chat", "o3", later.NextAt, 10); fmt.Sprint(keys(got)) != "[a-later]" {
		t.Errorf("ClaimOutbox when due = %v, want [a-later]", keys(got))
	}

	// limit, by id.
	for _, want := range []string{"[b-1 b-2]", "[b-3 b-4]", "[]"} {
		got := claim(t, d, "mail", "o1", now, 2)
		checkIDs(t, got)
		if fmt.Sprint(keys(got)) != want {
			t.Errorf("ClaimOutbox(limit 2) = %v, want %s", keys(got), want)
		}
	}
	if got := claim(t, d, "other", "o1", now, 10); len(got) != 0 {
		t.Errorf("ClaimOutbox(unknown channel) = %v, want none", keys(got))
	}

	for name, call := range map[string]func() error{
		"no channel": func() error { _, err := d.ClaimOutbox(ctx, "", "o1", now, time.Minute, 1); return err },
		"no owner":   func() error { _, err := d.ClaimOutbox(ctx, "chat", "", now, time.Minute, 1); return err },
		"no lease":   func() error { _, err := d.ClaimOutbox(ctx, "chat", "o1", now, 0, 1); return err },
		"no limit":   func() error { _, err := d.ClaimOutbox(ctx, "chat", "o1", now, time.Minute, 0); return err },
		"zero time":  func() error { _, err := d.ClaimOutbox(ctx, "chat", "o1", time.Time{}, time.Minute, 1); return err },
	} {
		if err := call(); err == nil {
			t.Errorf("ClaimOutbox(%s) = nil error, want one", name)
		}
	}
}

func testFinishOutbox(t *testing.T, d notifier) {
	ctx := context.Background()
	// m-1 is on a channel of its own, so that claims of it see it alone.
	Enqueue(t, d, Msg("m-1", "retry", 0), Msg("m-2", "chat", 1), Msg("m-3", "chat", 2))
	now := T0().Add(5 * time.Minute)
	ms := append(claim(t, d, "retry", "o1", now, 3), claim(t, d, "chat", "o1", now, 3)...)
	if fmt.Sprint(keys(ms)) != "[m-1 m-2 m-3]" {
		t.Fatalf("ClaimOutbox = %v, want [m-1 m-2 m-3]", keys(ms))
	}
	m1, m2, m3 := ms[0], ms[1], ms[2]
	find := func(id int64) db.OutboxMessage {
		t.Helper()
		for _, m := range outbox(t, d, "", "") {
			if m.ID == id {
				return m
			}
		}
		t.Fatalf("message %d not found", id)
		return db.OutboxMessage{}
	}
	sent := db.Outcome{State: db.OutboxSent, At: now.Add(time.Second), Attempts: 1}

	// Not the owner, or no such message: the lease is lost.
	if err := d.FinishOutbox(ctx, m1.ID, "o2", sent); !errors.Is(err, db.ErrLeaseLost) {
		t.Errorf("FinishOutbox(another owner) error = %v, want ErrLeaseLost", err)
	}
	if err := d.FinishOutbox(ctx, m3.ID+1000, "o1", sent); !errors.Is(err, db.ErrLeaseLost) {
		t.Errorf("FinishOutbox(unknown id) error = %v, want ErrLeaseLost", err)
	}
	// An outcome the backend cannot store changes nothing.
	for name, o := range map[string]db.Outcome{
		"unknown state":     {State: "lost", At: now, Attempts: 1},
		"no time":           {State: db.OutboxSent, Attempts: 1},
		"negative attempts": {State: db.OutboxSent, At: now, Attempts: -1},
	} {
		if err := d.FinishOutbox(ctx, m1.ID, "o1", o); err == nil || errors.Is(err, db.ErrLeaseLost) {
			t.Errorf("FinishOutbox(%s) error = %v, want one, not ErrLeaseLost", name, err)
		}
	}
	if got := find(m1.ID); got.State != db.OutboxPending || got.Attempts != 0 {
		t.Errorf("message after failed finishes = %+v, want it untouched", got)
	}

	// A retry: pending, due later, attempts counted, the lease released.
	retryAt := now.Add(5 * time.Minute)
	if err := d.FinishOutbox(ctx, m1.ID, "o1", db.Outcome{State: db.OutboxPending, At: retryAt, Attempts: 1, Error: "HTTP 503"}); err != nil {
		t.Fatalf("FinishOutbox(retry): %v", err)
	}
	want := m1
	want.NextAt, want.Attempts, want.LastError = retryAt, 1, "HTTP 503"
	if diff := cmp.Diff(want, find(m1.ID)); diff != "" {
		t.Errorf("message after a retry mismatch (-want +got):\n%s", diff)
	}
	if err := d.FinishOutbox(ctx, m1.ID, "o1", sent); !errors.Is(err, db.ErrLeaseLost) {
		t.Errorf("FinishOutbox after the lease was released: error = %v, want ErrLeaseLost", err)
	}
	if got := claim(t, d, "retry", "o2", retryAt.Add(-1), 10); len(got) != 0 {
		t.Errorf("ClaimOutbox before the retry is due = %v, want none", keys(got))
	}
	got := claim(t, d, "retry", "o2", retryAt, 10)
	if len(got) != 1 || got[0].ID != m1.ID || got[0].Attempts != 1 {
		t.Fatalf("ClaimOutbox when the retry is due = %+v, want m-1 with 1 attempt", got)
	}

	// Sent: done, the last error kept; no longer claimable or finishable.
	doneAt := retryAt.Add(time.Second)
	if err := d.FinishOutbox(ctx, m1.ID, "o2", db.Outcome{State: db.OutboxSent, At: doneAt, Attempts: 2}); err != nil {
		t.Fatalf("FinishOutbox(sent): %v", err)
	}
	want.State, want.Attempts, want.DoneAt = db.OutboxSent, 2, doneAt
	if diff := cmp.Diff(want, find(m1.ID)); diff != "" {
		t.Errorf("message after sent mismatch (-want +got):\n%s", diff)
	}
	if err := d.FinishOutbox(ctx, m1.ID, "o2", sent); !errors.Is(err, db.ErrLeaseLost) {
		t.Errorf("FinishOutbox of a sent message: error = %v, want ErrLeaseLost", err)
	}

	// A lease that ended and was taken over is lost to its first owner.
	if got := claim(t, d, "chat", "o3", now.Add(time.Minute), 10); fmt.Sprint(keys(got)) != "[m-2 m-3]" {
		t.Fatalf("ClaimOutbox after the lease ended = %v, want [m-2 m-3]", keys(got))
	}
	if err := d.FinishOutbox(ctx, m2.ID, "o1", sent); !errors.Is(err, db.ErrLeaseLost) {
		t.Errorf("FinishOutbox by the first owner after a takeover: error = %v, want ErrLeaseLost", err)
	}
	// Dead: done with its error.
	if err := d.FinishOutbox(ctx, m2.ID, "o3", db.Outcome{State: db.OutboxDead, At: doneAt, Attempts: 1, Error: "HTTP 400"}); err != nil {
		t.Fatalf("FinishOutbox(dead): %v", err)
	}
	want = m2
	want.State, want.Attempts, want.DoneAt, want.LastError = db.OutboxDead, 1, doneAt, "HTTP 400"
	if diff := cmp.Diff(want, find(m2.ID)); diff != "" {
		t.Errorf("message after dead mismatch (-want +got):\n%s", diff)
	}
	// A lease that ended but was not taken over is still its owner's.
	if err := d.FinishOutbox(ctx, m3.ID, "o3", sent); err != nil {
		t.Errorf("FinishOutbox after the lease ended, not taken over: %v", err)
	}
	for _, ch := range []string{"retry", "chat"} {
		if got := claim(t, d, ch, "o4", doneAt.Add(time.Hour), 10); len(got) != 0 {
			t.Errorf("ClaimOutbox(%s) with nothing pending = %v, want none", ch, keys(got))
		}
	}
}

func testOutboxStats(t *testing.T, d notifier) {
	ctx := context.Background()
	st, err := d.OutboxStats(ctx)
	if err != nil || st != (db.OutboxStats{}) {
		t.Errorf("OutboxStats of an empty outbox = %+v, %v; want zero, nil", st, err)
	}
	Enqueue(t, d, Msg("c-1", "chat", 0), Msg("m-1", "mail", 1), Msg("c-2", "chat", 2), Msg("m-2", "mail", 4), Msg("c-3", "chat", 5))
	now := T0().Add(time.Hour)
	for _, m := range claim(t, d, "chat", "o", now, 2) { // c-1 sent, c-2 dead
		o := db.Outcome{State: db.OutboxSent, At: now, Attempts: 1}
		if m.Key == "c-2" {
			o.State, o.Error = db.OutboxDead, "HTTP 404"
		}
		if err := d.FinishOutbox(ctx, m.ID, "o", o); err != nil {
			t.Fatal(err)
		}
	}
	st, err = d.OutboxStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// c-1 was queued first, but it is no longer pending.
	if want := (db.OutboxStats{Pending: 3, Sent: 1, Dead: 1, OldestPending: T0().Add(time.Minute)}); st != want {
		t.Errorf("OutboxStats = %+v, want %+v", st, want)
	}

	// OutboxMessages filters by channel and state, by id, with a limit.
	for _, tt := range []struct {
		channel, state string
		limit          int
		want           string
	}{
		{"", "", 0, "[c-1 m-1 c-2 m-2 c-3]"},
		{"", "", 2, "[c-1 m-1]"},
		{"chat", "", 0, "[c-1 c-2 c-3]"},
		{"", db.OutboxPending, 0, "[m-1 m-2 c-3]"},
		{"chat", db.OutboxPending, 0, "[c-3]"},
		{"mail", db.OutboxDead, 0, "[]"},
		{"", db.OutboxDead, 1, "[c-2]"},
	} {
		ms, err := d.OutboxMessages(ctx, tt.channel, tt.state, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		checkIDs(t, ms)
		if got := fmt.Sprint(keys(ms)); got != tt.want {
			t.Errorf("OutboxMessages(%q, %q, %d) = %s, want %s", tt.channel, tt.state, tt.limit, got, tt.want)
		}
	}
}

func testPruneOutbox(t *testing.T, d notifier) {
	ctx := context.Background()
	Enqueue(t, d, Msg("s-1", "chat", 0), Msg("d-1", "chat", 1), Msg("s-2", "chat", 2), Msg("p-1", "chat", 3))
	ms := claim(t, d, "chat", "o", T0().Add(time.Hour), 3)
	for i, o := range []db.Outcome{
		{State: db.OutboxSent, At: T0().Add(1 * time.Hour), Attempts: 1},
		{State: db.OutboxDead, At: T0().Add(2 * time.Hour), Attempts: 1, Error: "HTTP 400"},
		{State: db.OutboxSent, At: T0().Add(3 * time.Hour), Attempts: 1},
	} {
		if err := d.FinishOutbox(ctx, ms[i].ID, "o", o); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		cutoff time.Duration
		n      int64
		left   string
	}{
		{time.Hour, 0, "[s-1 d-1 s-2 p-1]"}, // before the cutoff, not at it
		{2*time.Hour + 1, 2, "[s-2 p-1]"},
		{2*time.Hour + 1, 0, "[s-2 p-1]"},
		{100 * time.Hour, 1, "[p-1]"}, // pending is kept
	} {
		n, err := d.PruneOutbox(ctx, T0().Add(tt.cutoff))
		if err != nil || n != tt.n {
			t.Errorf("PruneOutbox(T0+%s) = %d, %v; want %d, nil", tt.cutoff, n, err, tt.n)
		}
		if got := fmt.Sprint(keys(outbox(t, d, "", ""))); got != tt.left {
			t.Errorf("after PruneOutbox(T0+%s): outbox %s, want %s", tt.cutoff, got, tt.left)
		}
	}
	// A pruned key may be queued again, with a new id.
	Enqueue(t, d, Msg("s-1", "chat", 5))
	got := outbox(t, d, "", "")
	if len(got) != 2 || got[1].Key != "s-1" || got[1].ID <= ms[2].ID {
		t.Errorf("outbox after queueing a pruned key again = %+v", got)
	}
	if _, err := d.PruneOutbox(ctx, time.Time{}); err == nil {
		t.Error("PruneOutbox(zero time) = nil error")
	}
}

func testAcks(t *testing.T, d notifier) {
	ctx := context.Background()
	if acks, err := d.Acks(ctx); err != nil || len(acks) != 0 {
		t.Errorf("Acks of none = %v, %v; want none, nil", acks, err)
	}
	put := func(a db.Ack) {
		t.Helper()
		if err := d.PutAck(ctx, a); err != nil {
			t.Fatalf("PutAck(%s): %v", a.Finding, err)
		}
	}
	b := db.Ack{Finding: "f-b", Until: T0().Add(24 * time.Hour), By: "alice", Reason: "migration", CreatedAt: T0()}
	a := db.Ack{Finding: "f-a", Until: T0().Add(time.Hour), By: "bob", CreatedAt: T0().Add(time.Minute)}
	put(b)
	put(a)
	b2 := db.Ack{Finding: "f-b", Until: T0().Add(48 * time.Hour), By: "carol", Reason: "still migrating", CreatedAt: T0().Add(time.Hour)}
	put(b2) // replaces b
	want := []db.Ack{a, b2}
	got, err := d.Acks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Acks mismatch (-want +got):\n%s", diff)
	}
	// A transition sees them.
	if _, acks := states(t, d); !cmp.Equal(want, acks) {
		t.Errorf("transition's acks = %+v, want %+v", acks, want)
	}
	// A zero CreatedAt is now.
	put(db.Ack{Finding: "f-c", Until: T0()})
	got, err = d.Acks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2].CreatedAt.IsZero() {
		t.Errorf("Acks after an ack without a time = %+v", got)
	}
	for name, bad := range map[string]db.Ack{
		"no finding":   {Until: T0()},
		"no until":     {Finding: "f-d"},
		"out of range": {Finding: "f-d", Until: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if err := d.PutAck(ctx, bad); err == nil {
			t.Errorf("PutAck(%s) = nil error, want one", name)
		}
	}
}

func testNotifyConcurrent(t *testing.T, d notifier) {
	NotifyConcurrent(t, d)
}

// NotifyConcurrent checks db.Notifications under concurrency, through
// every one of ds: one database opened once per server replica, or one
// value given once. Goroutines claiming one channel each with their own
// owner never get a message twice, and transitions, each reading a counter
// and storing it plus one, run one after another; PutReport runs beside
// them.
func NotifyConcurrent(t *testing.T, ds ...db.Notifications) {
	ctx := context.Background()
	const messages, claimers, transitions, perTransitioner = 300, 8, 8, 10
	d0 := ds[0]
	var msgs []db.OutboxMessage
	for i := range messages {
		msgs = append(msgs, Msg(fmt.Sprintf("c-%03d", i), "chat", 0))
	}
	Enqueue(t, d0, msgs...)

	var wg sync.WaitGroup
	var mu sync.Mutex
	claimedBy := map[int64][]string{}
	now := T0().Add(time.Minute)
	for w := range claimers {
		d := ds[w%len(ds)]
		owner := fmt.Sprintf("owner-%d", w)
		wg.Go(func() {
			for i := 0; ; i++ {
				if i > messages { // every claim but the last takes one at least
					t.Errorf("%s: still claiming after %d claims: a message was claimed twice", owner, i)
					return
				}
				ms, err := d.ClaimOutbox(ctx, "chat", owner, now, time.Hour, 1+w%5)
				if err != nil {
					t.Errorf("%s: ClaimOutbox: %v", owner, err)
					return
				}
				if len(ms) == 0 {
					return
				}
				mu.Lock()
				for _, m := range ms {
					claimedBy[m.ID] = append(claimedBy[m.ID], owner)
				}
				mu.Unlock()
				for _, m := range ms[:len(ms)/2] { // finish some, leave the others leased
					if err := d.FinishOutbox(ctx, m.ID, owner, db.Outcome{State: db.OutboxSent, At: now, Attempts: 1}); err != nil {
						t.Errorf("%s: FinishOutbox(%d): %v", owner, m.ID, err)
					}
				}
			}
		})
	}
	for w := range transitions {
		d := ds[w%len(ds)]
		wg.Go(func() {
			for range perTransitioner {
				err := d.NotifyTransition(ctx, func(prev []db.FindingState, _ []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
					counter := db.FindingState{ID: "counter", OpenedAt: T0(), ChangedAt: T0()}
					for _, s := range prev {
						if s.ID == "counter" {
							counter = s
						}
					}
					counter.Version++
					return []db.FindingState{counter}, []db.OutboxMessage{Msg(fmt.Sprintf("count-%03d", counter.Version), "count", 0)}, nil
				})
				if err != nil {
					t.Errorf("NotifyTransition: %v", err)
					return
				}
			}
		})
	}
	// Reports stored at the same time, through every value that is a DB.
	for i, d := range ds {
		if d, ok := d.(db.DB); ok {
			wg.Go(func() {
				for k := range 20 {
					r := Rep(fmt.Sprintf("n-%d-%d", i, k), "vps-1", k, []string{"shop-a"}, "203.0.113.7", "h1", "")
					if _, err := d.PutReport(ctx, Ingest(r)); err != nil {
						t.Errorf("PutReport: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()

	if len(claimedBy) != messages {
		t.Errorf("%d messages claimed, want %d", len(claimedBy), messages)
	}
	for id, owners := range claimedBy {
		if len(owners) != 1 {
			t.Errorf("message %d claimed by %v, want one owner", id, owners)
		}
	}
	prev, _ := states(t, d0)
	want := transitions * perTransitioner
	if len(prev) != 1 || prev[0].Version != want {
		t.Errorf("counter after %d transitions = %+v, want version %d", want, prev, want)
	}
	if got := outbox(t, d0, "count", ""); len(got) != want {
		t.Errorf("%d counter messages, want %d: two transitions saw the same counter", len(got), want)
	}
}

func testNotifyCanceled(t *testing.T, d notifier) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.NotifyTransition(ctx, func([]db.FindingState, []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
		return nil, []db.OutboxMessage{Msg("k", "chat", 0)}, nil
	}); err == nil {
		t.Error("NotifyTransition(canceled) = nil error")
	}
	if _, err := d.ClaimOutbox(ctx, "chat", "o", T0(), time.Minute, 1); err == nil {
		t.Error("ClaimOutbox(canceled) = nil error")
	}
	if err := d.FinishOutbox(ctx, 1, "o", db.Outcome{State: db.OutboxSent, At: T0()}); err == nil || errors.Is(err, db.ErrLeaseLost) {
		t.Errorf("FinishOutbox(canceled) error = %v, want a context error", err)
	}
	if _, err := d.OutboxMessages(ctx, "", "", 0); err == nil {
		t.Error("OutboxMessages(canceled) = nil error")
	}
	if _, err := d.OutboxStats(ctx); err == nil {
		t.Error("OutboxStats(canceled) = nil error")
	}
	if _, err := d.PruneOutbox(ctx, T0()); err == nil {
		t.Error("PruneOutbox(canceled) = nil error")
	}
	if err := d.PutAck(ctx, db.Ack{Finding: "f", Until: T0()}); err == nil {
		t.Error("PutAck(canceled) = nil error")
	}
	if _, err := d.Acks(ctx); err == nil {
		t.Error("Acks(canceled) = nil error")
	}
	if got := outbox(t, d, "", ""); len(got) != 0 {
		t.Errorf("outbox after canceled calls = %v, want empty", keys(got))
	}
	if acks, err := d.Acks(context.Background()); err != nil || len(acks) != 0 {
		t.Errorf("Acks after canceled calls = %v, %v; want none", acks, err)
	}
}
