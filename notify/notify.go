// Package notify carries storefence's warnings to the team's chat. It holds
// what every integration shares: the Message a channel is sent, the
// Notifier contract, the classification of failures into retryable and
// permanent, and the HTTP, truncation and redaction helpers. Each chat kind
// has its own package (notify/dingtalk, notify/slack, ...) that renders a
// Message in its vendor's documented format; retrying, rate limiting and
// the durable outbox live outside the integrations, in notify/outbox.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Message is one chat message for one channel, in plain text: each
// integration escapes and lays it out in its own markup. Values are
// already masked (hints), never raw registration data.
type Message struct {
	// ID identifies the delivery (the outbox's dedup key); the generic
	// webhook sends it so receivers can drop a repeat.
	ID string `json:"id"`
	// Kind is "alert", "reminder", "digest" or "test".
	Kind string `json:"kind"`
	// Language is "en" or "zh-CN"; the text below is already in it.
	Language string `json:"language"`
	// Severity is the highest severity the message speaks of ("critical",
	// "high", "medium", "low", "info"), empty for a test message.
	Severity string `json:"severity,omitempty"`
	// Resolved is true when everything in the message is fixed (a green
	// message).
	Resolved bool `json:"resolved,omitempty"`
	// Title is one line.
	Title string `json:"title"`
	// Sections are the body, one per finding or topic.
	Sections []Section `json:"sections,omitempty"`
	// Footer is one short line (where it came from, when).
	Footer string `json:"footer,omitempty"`
	// Keyword, when set, must appear in the text (DingTalk's and Feishu's
	// keyword security); the integration adds it when missing.
	Keyword string `json:"-"`
	// Created is when the message was queued.
	Created time.Time `json:"created"`
}

// Section is one block of a message: a heading, named values and a
// paragraph (typically the one action that fixes the finding).
type Section struct {
	Title  string  `json:"title"`
	Fields []Field `json:"fields,omitempty"`
	Text   string  `json:"text,omitempty"`
}

// Field is one named value.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Target is where and how one channel delivers. URL and Secret are
// credentials: integrations never put them in errors or logs.
type Target struct {
	Name   string // the channel's name in server.yaml
	URL    string // the webhook (or, for Telegram, the Bot API base with the token)
	Secret string // the signing secret, for the kinds that sign
	ChatID string // Telegram's chat
}

// A Notifier delivers messages to one channel. Notify returns nil once the
// receiver accepted m, otherwise an error that Classify sorts into
// retryable (with the wait the receiver asked for) or permanent.
type Notifier interface {
	Notify(ctx context.Context, m *Message) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(context.Context, *Message) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, m *Message) error { return f(ctx, m) }

// Error is a failed delivery as the receiver or the network reported it.
// Its text never contains the channel's URL or secret.
type Error struct {
	Kind   string        // the integration: "dingtalk", "slack", ...
	Retry  bool          // a later attempt may succeed
	After  time.Duration // the wait the receiver asked for (Retry-After, retry_after); 0 if none
	Status int           // the HTTP status; 0 when no response arrived
	Reason string        // what went wrong, e.g. "errcode 310000: sign not match"
}

func (e *Error) Error() string {
	s := e.Kind + ": " + e.Reason
	if e.Status != 0 {
		s = fmt.Sprintf("%s: http %d: %s", e.Kind, e.Status, e.Reason)
	}
	if e.Retry && e.After > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.After)
	}
	return s
}

// Permanent returns a permanent failure of kind.
func Permanent(kind string, status int, format string, args ...any) *Error {
	return &Error{Kind: kind, Status: status, Reason: fmt.Sprintf(format, args...)}
}

// Retryable returns a retryable failure of kind; after is the receiver's
// requested wait, 0 if none.
func Retryable(kind string, status int, after time.Duration, format string, args ...any) *Error {
	return &Error{Kind: kind, Retry: true, Status: status, After: after, Reason: fmt.Sprintf(format, args...)}
}

// Classify tells whether a failed delivery may succeed later, and how long
// the receiver asked to wait. Errors that are not an *Error (a message
// that cannot be rendered, a cancelled context) are permanent, except
// context deadline errors, which are retried.
func Classify(err error) (retry bool, after time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Retry, e.After
	}
	return errors.Is(err, context.DeadlineExceeded), 0
}
