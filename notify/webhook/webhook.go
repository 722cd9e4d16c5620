// Package webhook delivers notify messages to any HTTP endpoint as JSON,
// signed so that the receiver can trust them.
//
// Each delivery is a POST of application/json:
//
//	{"schema": "storefence.notification/v1", "id": "...", "kind": "alert",
//	 "language": "en", "severity": "critical", "resolved": false,
//	 "title": "...", "sections": [{"title": "...", "fields":
//	 [{"name": "...", "value": "..."}], "text": "..."}], "footer": "...",
//	 "created": "2025-06-01T09:00:00Z"}
//
// with these headers:
//
//	X-Storefence-Delivery:  the message id; a retry repeats it, so a
//	                        receiver can drop a message it already has
//	X-Storefence-Timestamp: the time of this attempt, in Unix seconds
//	X-Storefence-Signature: "sha256=" + hex(HMAC-SHA256(key = secret,
//	                        message = timestamp + "." + body)), when the
//	                        channel has a secret
//
// The signature covers the timestamp, so a captured request cannot be
// replayed later than the receiver's allowed skew. A receiver in Go calls
// Verify with the raw body before decoding it; elsewhere it recomputes
// the HMAC over the timestamp header's exact text, a ".", and the body's
// exact bytes, compares in constant time, and refuses a timestamp more
// than a few minutes (DefaultMaxSkew) from its clock.
//
// Any 2xx is accepted; 429 and 5xx are retried (after Retry-After); the
// rest is permanent.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/storefence/storefence/notify"
)

const kind = "webhook"

// Schema names the body's format.
const Schema = "storefence.notification/v1"

// The headers of a delivery.
const (
	HeaderDelivery  = "X-Storefence-Delivery"
	HeaderTimestamp = "X-Storefence-Timestamp"
	HeaderSignature = "X-Storefence-Signature"
)

// DefaultMaxSkew is how far from its clock Verify accepts a timestamp
// when given no skew.
const DefaultMaxSkew = 5 * time.Minute

// Errors Verify returns.
var (
	ErrUnsigned  = errors.New("webhook: no timestamp or signature")
	ErrStale     = errors.New("webhook: timestamp outside the allowed skew")
	ErrSignature = errors.New("webhook: signature does not match")
)

// Notifier posts messages to one endpoint.
type Notifier struct {
	ep     *notify.Endpoint
	url    string
	secret string
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier that posts to t.URL and signs with t.Secret when
// it is set. A nil client means http.DefaultClient and a nil now means
// time.Now. The error never quotes the URL.
func New(t notify.Target, client *http.Client, now func() time.Time) (*Notifier, error) {
	ep, u, err := notify.NewEndpoint(kind, "url", t, client, now)
	if err != nil {
		return nil, err
	}
	if len(u.Path) > 1 {
		ep.Hide(u.Path)
	}
	return &Notifier{ep: ep, url: t.URL, secret: t.Secret}, nil
}

// body is the JSON a delivery carries.
type body struct {
	Schema string `json:"schema"`
	*notify.Message
}

// Notify posts m. It returns nil once the endpoint answered 2xx, and
// otherwise a *notify.Error: retryable for 429, 5xx and network failures,
// permanent for the rest.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	if m == nil {
		return notify.Permanent(kind, 0, "no message")
	}
	b, err := json.Marshal(body{Schema: Schema, Message: m})
	if err != nil {
		return notify.Permanent(kind, 0, "encode message: %v", err)
	}
	ts := n.ep.Now()
	h := http.Header{}
	h.Set(HeaderDelivery, m.ID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	if n.secret != "" {
		h.Set(HeaderSignature, Sign(n.secret, ts, b))
	}
	return n.ep.Send(ctx, n.url, "application/json", b, h, checkAnswer)
}

// checkAnswer sorts the endpoint's answer: 2xx is accepted, 429 and 5xx
// are retried after their Retry-After, the rest is permanent.
func checkAnswer(r *notify.Response, now time.Time) error {
	return notify.CheckStatus(kind, r, now)
}

// Sign returns the X-Storefence-Signature of body sent at ts:
// "sha256=" + hex(HMAC-SHA256(key = secret, message = ts in Unix seconds +
// "." + body)).
func Sign(secret string, ts time.Time, body []byte) string {
	return sign(secret, strconv.FormatInt(ts.Unix(), 10), body)
}

func sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery's headers against its raw body, for a
// receiver: the timestamp must be within maxSkew of now (DefaultMaxSkew
// when maxSkew <= 0) and the signature must be the HMAC of that
// timestamp's text and the body under secret (its hex in either case).
// It returns ErrUnsigned,
// ErrStale or ErrSignature (wrapped with detail), or an error when secret
// is empty; none of them quotes the secret or the signature.
func Verify(secret string, header http.Header, body []byte, now time.Time, maxSkew time.Duration) error {
	if secret == "" {
		return errors.New("webhook: verify: no secret")
	}
	ts, got := header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if ts == "" || got == "" {
		return ErrUnsigned
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not unix seconds", ErrStale, HeaderTimestamp)
	}
	// Compare in seconds, without subtracting sec: a far timestamp would
	// overflow.
	if limit := int64(maxSkew / time.Second); sec < now.Unix()-limit || sec > now.Unix()+limit {
		return fmt.Errorf("%w: %s is more than %s from now", ErrStale, HeaderTimestamp, maxSkew)
	}
	hexSum, ok := strings.CutPrefix(got, "sha256=")
	sum, err := hex.DecodeString(hexSum)
	if !ok || err != nil || len(sum) != sha256.Size {
		return fmt.Errorf("%w: %s is not sha256=<64 hex digits>", ErrSignature, HeaderSignature)
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(sign(secret, ts, body), "sha256="))
	if !hmac.Equal(sum, want) {
		return ErrSignature
	}
	return nil
}
