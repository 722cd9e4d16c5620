// Package db is the server's persistence: the contract every backend meets
// (DB) and its errors. The backends are db/sqlite (embedded, the default)
// and db/postgres; both pass the conformance suite in db/dbtest.
package db

import (
	"context"
	"errors"
	"time"

	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

// ErrNotFound is returned when the thing asked for does not exist (or, for a
// token, was revoked).
var ErrNotFound = errors.New("db: not found")

// Ingest is one accepted report and what the server derived from it.
type Ingest struct {
	Report     *report.Report
	Raw        []byte            // the report as received (decompressed), kept for the retention period
	Observed   []policy.Observed // policy.Observe(Report), plus what the server saw itself (its source address)
	ReceivedAt time.Time
}

// Token is an agent's bearer token as stored: only its hash.
type Token struct {
	ID        string // short public id, for listing and revoking
	Agent     string
	CreatedAt time.Time
	RevokedAt time.Time // zero while valid
}

// DB is everything the server keeps. Implementations are safe for
// concurrent use; every method honours ctx.
type DB interface {
	// PutReport stores in.Report once: a report id already stored makes it
	// return inserted=false and change nothing. Otherwise, in one
	// transaction, it keeps the raw report, folds every observation into the
	// sighting of (agent, sorted declared stores, signal, value) — first
	// seen, last seen, count — and updates the agent's state if this report
	// is its latest by collected_at. When it returns nil the report is
	// durable.
	PutReport(ctx context.Context, in *Ingest) (inserted bool, err error)

	// Sightings returns every sighting, in a stable order (agent, signal,
	// value, stores).
	Sightings(ctx context.Context) ([]policy.Sighting, error)
	// Agents returns the latest state of every agent, by agent id.
	Agents(ctx context.Context) ([]policy.AgentState, error)

	// CreateToken stores a new token of agent, known by id, by the SHA-256
	// hash of its secret.
	CreateToken(ctx context.Context, t Token, hash []byte) error
	// TokenAgent returns the agent of the valid token with hash;
	// ErrNotFound when there is none or it was revoked.
	TokenAgent(ctx context.Context, hash []byte) (string, error)
	// Tokens lists every token, revoked ones too, by creation time.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken revokes the token id at now; ErrNotFound if unknown.
	RevokeToken(ctx context.Context, id string, now time.Time) error

	// PruneReports deletes raw reports received before cutoff and returns
	// how many. Sightings and agent states are kept: they are the history.
	PruneReports(ctx context.Context, cutoff time.Time) (int64, error)
	// ReportCount returns how many raw reports are stored.
	ReportCount(ctx context.Context) (int64, error)

	// Notifications is the notifier's durable state (notify.go).
	Notifications

	// Ping checks that the database answers (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}
