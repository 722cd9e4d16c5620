// Package notifyrows is the stored form of the notifier's state that the db
// backends share: the checks that turn finding states, outbox messages,
// outcomes and acks into column values (times as Unix nanoseconds, store
// sets joined, as elsewhere in the schema), and the scanning of rows back.
package notifyrows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/internal/groupcommit"
)

// State is a db.FindingState as stored.
type State struct {
	ID, Signal, Severity, Value string
	Stores                      string // groupcommit.StoresKey
	Open                        bool
	Version                     int64
	OpenedAt, ChangedAt         int64
	RemindedAt                  *int64 // nil when zero
}

// States checks the states a transition returns and converts them. An id
// given twice is an error: "upserted by id" would otherwise depend on the
// order the backend writes in.
func States(ss []db.FindingState) ([]State, error) {
	out := make([]State, 0, len(ss))
	seen := make(map[string]bool, len(ss))
	for _, s := range ss {
		switch {
		case s.ID == "":
			return nil, errors.New("finding state has no id")
		case seen[s.ID]:
			return nil, fmt.Errorf("finding state %q given twice", s.ID)
		case s.Version < 0:
			return nil, fmt.Errorf("finding state %q: negative version %d", s.ID, s.Version)
		case !groupcommit.Representable(s.OpenedAt):
			return nil, fmt.Errorf("finding state %q: opened_at %s zero or out of range", s.ID, s.OpenedAt)
		case !groupcommit.Representable(s.ChangedAt):
			return nil, fmt.Errorf("finding state %q: changed_at %s zero or out of range", s.ID, s.ChangedAt)
		case !s.RemindedAt.IsZero() && !groupcommit.Representable(s.RemindedAt):
			return nil, fmt.Errorf("finding state %q: reminded_at %s out of range", s.ID, s.RemindedAt)
		}
		for _, st := range s.Stores {
			if st == "" || strings.Contains(st, groupcommit.StoreSep) {
				return nil, fmt.Errorf("finding state %q: store id %q is empty or contains %q", s.ID, st, groupcommit.StoreSep)
			}
		}
		seen[s.ID] = true
		out = append(out, State{
			ID: s.ID, Signal: s.Signal, Severity: s.Severity, Value: s.Value,
			Stores: groupcommit.StoresKey(s.Stores), Open: s.Open, Version: int64(s.Version),
			OpenedAt: s.OpenedAt.UnixNano(), ChangedAt: s.ChangedAt.UnixNano(), RemindedAt: nullTime(s.RemindedAt),
		})
	}
	return out, nil
}

// Message is a new db.OutboxMessage as stored: pending, never attempted.
type Message struct {
	Key, Channel      string
	Payload           []byte // never nil
	CreatedAt, NextAt int64
}

// Messages checks the messages a transition returns and converts them. A
// zero CreatedAt is now; a zero NextAt is CreatedAt (due at once). ID,
// Attempts, State, LastError and DoneAt are ignored.
func Messages(ms []db.OutboxMessage, now time.Time) ([]Message, error) {
	out := make([]Message, 0, len(ms))
	for _, m := range ms {
		if m.CreatedAt.IsZero() {
			m.CreatedAt = now
		}
		if m.NextAt.IsZero() {
			m.NextAt = m.CreatedAt
		}
		switch {
		case m.Key == "":
			return nil, errors.New("outbox message has no key")
		case m.Channel == "":
			return nil, fmt.Errorf("outbox message %q has no channel", m.Key)
		case !groupcommit.Representable(m.CreatedAt):
			return nil, fmt.Errorf("outbox message %q: created_at %s out of range", m.Key, m.CreatedAt)
		case !groupcommit.Representable(m.NextAt):
			return nil, fmt.Errorf("outbox message %q: next_at %s out of range", m.Key, m.NextAt)
		}
		p := m.Payload
		if p == nil {
			p = []byte{}
		}
		out = append(out, Message{Key: m.Key, Channel: m.Channel, Payload: p,
			CreatedAt: m.CreatedAt.UnixNano(), NextAt: m.NextAt.UnixNano()})
	}
	return out, nil
}

// Claim checks the arguments of ClaimOutbox and returns now and the end of
// the lease as stored.
func Claim(channel, owner string, now time.Time, lease time.Duration, limit int) (at, until int64, err error) {
	switch {
	case channel == "":
		return 0, 0, errors.New("no channel")
	case owner == "":
		return 0, 0, errors.New("no owner")
	case lease <= 0:
		return 0, 0, fmt.Errorf("lease %s is not positive", lease)
	case limit <= 0:
		return 0, 0, fmt.Errorf("limit %d is not positive", limit)
	case !groupcommit.Representable(now) || !groupcommit.Representable(now.Add(lease)):
		return 0, 0, fmt.Errorf("time %s (+ lease %s) zero or out of range", now, lease)
	}
	return now.UnixNano(), now.Add(lease).UnixNano(), nil
}

// Finish is a db.Outcome as stored.
type Finish struct {
	State    string
	Attempts int64
	Error    string // "" keeps the last error stored
	NextAt   *int64 // for a retry; nil keeps next_at
	DoneAt   *int64 // when sent or dead; nil while pending
}

// Outcome checks o and converts it.
func Outcome(o db.Outcome) (Finish, error) {
	if !groupcommit.Representable(o.At) {
		return Finish{}, fmt.Errorf("outcome time %s zero or out of range", o.At)
	}
	if o.Attempts < 0 {
		return Finish{}, fmt.Errorf("negative attempts %d", o.Attempts)
	}
	f := Finish{State: o.State, Attempts: int64(o.Attempts), Error: o.Error}
	at := o.At.UnixNano()
	switch o.State {
	case db.OutboxPending:
		f.NextAt = &at
	case db.OutboxSent, db.OutboxDead:
		f.DoneAt = &at
	default:
		return Finish{}, fmt.Errorf("unknown outcome state %q", o.State)
	}
	return f, nil
}

// Ack is a db.Ack as stored.
type Ack struct {
	Finding, By, Reason string
	Until, CreatedAt    int64
}

// CheckAck checks a and converts it; a zero CreatedAt is now.
func CheckAck(a db.Ack, now time.Time) (Ack, error) {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	switch {
	case a.Finding == "":
		return Ack{}, errors.New("ack has no finding")
	case !groupcommit.Representable(a.Until):
		return Ack{}, fmt.Errorf("ack of %q: until %s zero or out of range", a.Finding, a.Until)
	case !groupcommit.Representable(a.CreatedAt):
		return Ack{}, fmt.Errorf("ack of %q: created_at %s out of range", a.Finding, a.CreatedAt)
	}
	return Ack{Finding: a.Finding, By: a.By, Reason: a.Reason, Until: a.Until.UnixNano(), CreatedAt: a.CreatedAt.UnixNano()}, nil
}

// StateColumns, MessageColumns, AckColumns and StatsColumns are what the
// Scan functions read, in order.
const (
	StateColumns   = "id, signal, severity, value, stores, open, version, opened_at, changed_at, reminded_at"
	MessageColumns = "id, key, channel, payload, created_at, next_at, attempts, state, last_error, done_at"
	AckColumns     = "finding, until, acked_by, reason, created_at"
	StatsColumns   = "state, count(*), min(created_at)" // of the outbox, grouped by state
)

// ScanStates reads rows of StateColumns.
func ScanStates(rows groupcommit.Rows) ([]db.FindingState, error) {
	var out []db.FindingState
	for rows.Next() {
		var s db.FindingState
		var stores string
		var version, opened, changed int64
		var reminded *int64
		if err := rows.Scan(&s.ID, &s.Signal, &s.Severity, &s.Value, &stores, &s.Open, &version, &opened, &changed, &reminded); err != nil {
			return nil, err
		}
		s.Stores, s.Version = groupcommit.SplitStores(stores), int(version)
		s.OpenedAt, s.ChangedAt, s.RemindedAt = groupcommit.Time(opened), groupcommit.Time(changed), timeOf(reminded)
		out = append(out, s)
	}
	return out, rows.Err()
}

// ScanMessages reads rows of MessageColumns. An empty payload is nil.
func ScanMessages(rows groupcommit.Rows) ([]db.OutboxMessage, error) {
	var out []db.OutboxMessage
	for rows.Next() {
		var m db.OutboxMessage
		var created, next, attempts int64
		var done *int64
		if err := rows.Scan(&m.ID, &m.Key, &m.Channel, &m.Payload, &created, &next, &attempts, &m.State, &m.LastError, &done); err != nil {
			return nil, err
		}
		if len(m.Payload) == 0 {
			m.Payload = nil
		}
		m.CreatedAt, m.NextAt, m.Attempts, m.DoneAt = groupcommit.Time(created), groupcommit.Time(next), int(attempts), timeOf(done)
		out = append(out, m)
	}
	return out, rows.Err()
}

// ScanAcks reads rows of AckColumns.
func ScanAcks(rows groupcommit.Rows) ([]db.Ack, error) {
	var out []db.Ack
	for rows.Next() {
		var a db.Ack
		var until, created int64
		if err := rows.Scan(&a.Finding, &until, &a.By, &a.Reason, &created); err != nil {
			return nil, err
		}
		a.Until, a.CreatedAt = groupcommit.Time(until), groupcommit.Time(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// ScanStats reads rows of StatsColumns, grouped by state.
func ScanStats(rows groupcommit.Rows) (db.OutboxStats, error) {
	var st db.OutboxStats
	for rows.Next() {
		var state string
		var n, oldest int64
		if err := rows.Scan(&state, &n, &oldest); err != nil {
			return db.OutboxStats{}, err
		}
		switch state {
		case db.OutboxPending:
			st.Pending, st.OldestPending = n, groupcommit.Time(oldest)
		case db.OutboxSent:
			st.Sent = n
		case db.OutboxDead:
			st.Dead = n
		}
	}
	if err := rows.Err(); err != nil {
		return db.OutboxStats{}, err
	}
	return st, nil
}

func nullTime(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	ns := t.UnixNano()
	return &ns
}

func timeOf(ns *int64) time.Time {
	if ns == nil {
		return time.Time{}
	}
	return groupcommit.Time(*ns)
}
