package db

import (
	"context"
	"errors"
	"time"
)

// ErrLeaseLost is returned by FinishOutbox when the message is no longer
// leased to the caller (its lease expired and another sender took it).
var ErrLeaseLost = errors.New("db: outbox lease lost")

// FindingState is what the channels were last told about one finding.
type FindingState struct {
	ID         string    // the policy finding id
	Signal     string    // policy signal
	Severity   string    // policy severity at the last change
	Value      string    // the masked hint shown in chat
	Stores     []string  // sorted
	Open       bool      // false once resolved
	Version    int       // counts the changes notified: opened, grew, resolved, reopened
	OpenedAt   time.Time // when it (last) opened
	ChangedAt  time.Time // when Version last changed
	RemindedAt time.Time // the last reminder of an open finding; zero if none
}

// Outbox message states.
const (
	OutboxPending = "pending" // waiting for its next attempt
	OutboxSent    = "sent"    // the receiver accepted it
	OutboxDead    = "dead"    // given up: permanent failure or expired
)

// OutboxMessage is one message queued for one channel.
type OutboxMessage struct {
	ID        int64     // assigned when queued (by NotifyTransition)
	Key       string    // dedup key, unique: a key already queued is never queued again
	Channel   string    // the channel's name
	Payload   []byte    // the message, as the notifier serialised it
	CreatedAt time.Time // when it was queued
	NextAt    time.Time // when it is next due
	Attempts  int       // deliveries tried so far
	State     string    // OutboxPending, OutboxSent or OutboxDead
	LastError string    // the last failure, never containing a URL or secret
	DoneAt    time.Time // when it was sent or given up; zero while pending
}

// Outcome is the result of one delivery attempt of a leased message.
type Outcome struct {
	State    string    // OutboxSent, OutboxDead, or OutboxPending for a retry
	At       time.Time // when it was sent or given up, or (for a retry) when it is next due
	Attempts int       // attempts so far, this one included
	Error    string    // the failure, "" when sent
}

// Ack mutes one finding's notifications until it expires.
type Ack struct {
	Finding   string
	Until     time.Time
	By        string // who acknowledged (an operator's name, not an agent's session user)
	Reason    string
	CreatedAt time.Time
}

// OutboxStats counts outbox messages by state.
type OutboxStats struct {
	Pending, Sent, Dead int64
	// OldestPending is when the oldest pending message was queued; zero
	// when none is pending.
	OldestPending time.Time
}

// Transition is the notifier's step after an evaluation: given the stored
// finding states and the acks, it returns the states to store (upserted
// by id) and the messages to queue.
type Transition func(prev []FindingState, acks []Ack) (next []FindingState, msgs []OutboxMessage, err error)

// Notifications is the notifier's durable state: finding states, the
// outbox and acks. It is part of DB.
type Notifications interface {
	// NotifyTransition runs fn in one write transaction and stores what it
	// returns: the states, upserted by id, and the messages (a message
	// whose key is already in the outbox is skipped). Calls run one after
	// another, across server replicas too, so two replicas never both see
	// a finding as newly opened. An error from fn rolls back and is
	// returned as is.
	NotifyTransition(ctx context.Context, fn Transition) error

	// ClaimOutbox leases to owner, until now+lease, up to limit pending
	// messages of channel that are due (NextAt <= now) and not leased at
	// now (to anyone, owner included), oldest (by id) first. Rows another replica is
	// claiming at the same moment are skipped, never waited for.
	ClaimOutbox(ctx context.Context, channel, owner string, now time.Time, lease time.Duration, limit int) ([]OutboxMessage, error)
	// FinishOutbox records the outcome of message id, leased to owner,
	// and releases the lease; ErrLeaseLost when the lease is no longer
	// owner's.
	FinishOutbox(ctx context.Context, id int64, owner string, o Outcome) error
	// OutboxMessages returns the messages of channel ("" for every
	// channel) in state ("" for every state), by id, at most limit (0: no
	// limit). For tests, the CLI and dead-letter inspection.
	OutboxMessages(ctx context.Context, channel, state string, limit int) ([]OutboxMessage, error)
	// OutboxStats counts messages by state.
	OutboxStats(ctx context.Context) (OutboxStats, error)
	// PruneOutbox deletes sent and dead messages finished before cutoff
	// and returns how many.
	PruneOutbox(ctx context.Context, cutoff time.Time) (int64, error)

	// PutAck stores an ack, replacing the finding's previous one.
	PutAck(ctx context.Context, a Ack) error
	// Acks returns every stored ack (expired ones too), by finding.
	Acks(ctx context.Context) ([]Ack, error)
}
