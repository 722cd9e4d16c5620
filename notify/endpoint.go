package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// An Endpoint is what every integration's Notifier posts through: its
// kind, HTTP client and clock, and the credentials scrubbed from every
// error Send returns.
type Endpoint struct {
	kind    string
	client  *http.Client
	now     func() time.Time
	secrets []string
}

// NewEndpoint checks t.URL for kind's integration and returns the
// endpoint and the URL parsed, for the integration's own checks. The URL
// must be an absolute http(s) URL; what names it in errors ("webhook
// url", "bot api url"), which never quote it. A nil client means
// http.DefaultClient and a nil now means time.Now. The endpoint scrubs
// t.URL, the URL as parsed, its query and password, and t.Secret from
// errors; Hide adds the integration's own credentials (a token in the
// path, say).
func NewEndpoint(kind, what string, t Target, client *http.Client, now func() time.Time) (*Endpoint, *url.URL, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s does not parse", kind, what)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, nil, fmt.Errorf("%s: %s is not an absolute http(s) url", kind, what)
	}
	if client == nil {
		client = http.DefaultClient
	}
	if now == nil {
		now = time.Now
	}
	secrets := []string{t.URL, u.String(), u.RawQuery, t.Secret}
	if p, ok := u.User.Password(); ok {
		secrets = append(secrets, p)
	}
	return &Endpoint{kind: kind, client: client, now: now, secrets: secrets}, u, nil
}

// Hide adds credentials to scrub from the errors Send returns.
func (e *Endpoint) Hide(secrets ...string) { e.secrets = append(e.secrets, secrets...) }

// Now is the endpoint's clock.
func (e *Endpoint) Now() time.Time { return e.now() }

// Send posts body to rawURL as Post does and sorts the answer with parse
// (given the endpoint's clock), returning nil when the receiver accepted
// it and otherwise an error scrubbed of the endpoint's credentials.
func (e *Endpoint) Send(ctx context.Context, rawURL, ct string, body []byte, hdr http.Header, parse func(*Response, time.Time) error) error {
	resp, err := Post(ctx, e.client, e.kind, rawURL, ct, body, hdr)
	if err == nil {
		err = parse(resp, e.now())
	}
	return Scrub(err, e.secrets...)
}

// SendJSON is Send with v, encoded as JSON, as the body; a v that does
// not encode is a permanent *Error.
func (e *Endpoint) SendJSON(ctx context.Context, rawURL, ct string, v any, parse func(*Response, time.Time) error) error {
	body, err := json.Marshal(v)
	if err != nil {
		return Permanent(e.kind, 0, "encode message: %v", err)
	}
	return e.Send(ctx, rawURL, ct, body, nil, parse)
}
