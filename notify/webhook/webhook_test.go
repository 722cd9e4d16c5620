package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/notify/notifytest"
)

var clock = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

func now() time.Time { return clock }

const secret = "whsec_fAkE0123456789abcdef"

func newPair(t *testing.T, secretOfReceiver, secretOfSender string) (*notifytest.Webhook, *Notifier) {
	t.Helper()
	r := notifytest.NewWebhook(secretOfReceiver, now)
	t.Cleanup(r.Close)
	n, err := New(notify.Target{Name: "hook", URL: r.WebhookURL(), Secret: secretOfSender}, r.Server.Client(), now)
	if err != nil {
		t.Fatal(err)
	}
	return r, n
}

// credentials are what no error may name: the URL and the secret.
func credentials(r *notifytest.Webhook) []string {
	return []string{r.WebhookURL(), secret, notifytest.WebhookPath}
}

func TestNotify(t *testing.T) {
	r, n := newPair(t, secret, secret)
	m := notifytest.SampleMessage()
	m.Keyword = "never sent"
	for range 2 { // a retry repeats the delivery id
		if err := n.Notify(context.Background(), m); err != nil {
			t.Fatalf("Notify: %v (rejected: %v)", err, r.Rejected())
		}
	}
	got := r.Accepted()
	if len(got) != 2 || r.Repeats() != 1 {
		t.Fatalf("accepted %d, %d repeats; want 2, 1", len(got), r.Repeats())
	}
	if diff := cmp.Diff(m.Plain(), got[0].Text); diff != "" {
		t.Errorf("text mismatch (-want +got):\n%s", diff)
	}
	d := got[0]
	if err := Verify(secret, d.Header, d.Body, clock.Add(time.Minute), 0); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if h := d.Header; h.Get(HeaderDelivery) != m.ID || h.Get(HeaderTimestamp) != strconv.FormatInt(clock.Unix(), 10) || h.Get(HeaderSignature) != Sign(secret, clock, d.Body) {
		t.Errorf("headers %v", h)
	}
	var b map[string]any
	if err := json.Unmarshal(d.Body, &b); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"schema":   "storefence.notification/v1",
		"id":       m.ID,
		"kind":     "alert",
		"language": "en",
		"severity": "critical",
		"title":    m.Title,
		"sections": []any{map[string]any{
			"title":  m.Sections[0].Title,
			"fields": []any{map[string]any{"name": "Stores", "value": "A, B"}, map[string]any{"name": "IP", "value": "203.0.113.7"}},
			"text":   m.Sections[0].Text,
		}},
		"footer":  m.Footer,
		"created": "2025-06-01T09:00:00Z",
	}
	if diff := cmp.Diff(want, b); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s", diff)
	}
}

func TestNotifyUnsigned(t *testing.T) {
	r, n := newPair(t, "", "")
	if err := n.Notify(context.Background(), notifytest.SampleMessage()); err != nil {
		t.Fatal(err)
	}
	if h := r.Accepted()[0].Header; h.Get(HeaderSignature) != "" || h.Get(HeaderTimestamp) == "" {
		t.Errorf("headers %v: want a timestamp and no signature", h)
	}
}

func TestNotifyRejected(t *testing.T) {
	for _, tt := range []struct {
		name, receiver, sender string
		clock                  time.Duration // the receiver's clock, ahead of the sender's
		want                   string
	}{
		{"wrong secret", secret, "whsec_other", 0, `webhook: http 401: {"error":"bad signature"}`},
		{"unsigned", secret, "", 0, `webhook: http 401: {"error":"unsigned"}`},
		{"stale", secret, secret, 6 * time.Minute, `webhook: http 401: {"error":"stale timestamp"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := notifytest.NewWebhook(tt.receiver, func() time.Time { return clock.Add(tt.clock) })
			defer r.Close()
			n, err := New(notify.Target{URL: r.WebhookURL(), Secret: tt.sender}, r.Server.Client(), now)
			if err != nil {
				t.Fatal(err)
			}
			err = n.Notify(context.Background(), notifytest.SampleMessage())
			notifytest.NoSecrets(t, err, credentials(r)...)
			if retry, _ := notify.Classify(err); err == nil || retry || err.Error() != tt.want {
				t.Errorf("Notify = %v (retry %v), want %q", err, retry, tt.want)
			}
		})
	}
}

func TestNotifyAnswers(t *testing.T) {
	notifytest.RunAnswers(t, kind, []notifytest.Answer{
		{Name: "bad request", Fault: notifytest.Fault{Status: 400, Body: "bad"}, Text: "webhook: http 400: bad"},
		{Name: "gone", Fault: notifytest.Fault{Status: 410}, Text: "webhook: http 410: (empty answer)"},
		{Name: "redirect", Fault: notifytest.Fault{Status: 304}, Text: "webhook: http 304: (empty answer)"},
		{Name: "rate limited", Fault: notifytest.Fault{Status: 429, Header: map[string]string{"Retry-After": "120"}}, Retry: true, After: 2 * time.Minute, Text: "webhook: http 429: (empty answer) (retry after 2m0s)"},
		{Name: "server error", Fault: notifytest.Fault{Status: 500, Body: "boom"}, Retry: true, Text: "webhook: http 500: boom"},
		{Name: "unavailable", Fault: notifytest.Fault{Status: 503, Header: map[string]string{"Retry-After": clock.Add(30 * time.Second).Format(http.TimeFormat)}}, Retry: true, After: 30 * time.Second, Text: "webhook: http 503: (empty answer) (retry after 30s)"},
		{Name: "echoes the secret", Fault: notifytest.Fault{Status: 401, Body: "bad key " + secret}, Text: "webhook: http 401: bad key <redacted>"},
		{Name: "echoes the path", Fault: notifytest.Fault{Status: 404, Body: "no " + notifytest.WebhookPath}, Text: "webhook: http 404: no <redacted>"},
	}, func(t *testing.T, f notifytest.Fault) ([]string, error) {
		r, n := newPair(t, secret, secret)
		r.Script(f)
		return credentials(r), n.Notify(context.Background(), notifytest.SampleMessage())
	})
}

func TestNotifyNetwork(t *testing.T) {
	r, n := newPair(t, secret, secret)
	r.Close()
	err := n.Notify(context.Background(), notifytest.SampleMessage())
	notifytest.NoSecrets(t, err, credentials(r)...)
	notifytest.WantError(t, err, kind, true, 0)
}

func TestNotifyHuge(t *testing.T) {
	r, n := newPair(t, secret, secret)
	m := notifytest.HugeMessage()
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatalf("Notify: %v (rejected: %v)", err, r.Rejected())
	}
	if got := r.Accepted()[0].Text; got != m.Plain() {
		t.Error("the huge message was not delivered whole")
	}
}

func TestSign(t *testing.T) {
	// Computed apart: printf '1748768400.{"a":1}' | openssl dgst -sha256 -hmac key
	const want = "sha256=b3ceb4ed84f96460298a31f3de6368e544d0d6fd227fb5bb21a5e2f43db77c58"
	if got := Sign("key", clock, []byte(`{"a":1}`)); got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	b := []byte(`{"schema":"storefence.notification/v1"}`)
	signed := func(ts time.Time, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		if sig != "" {
			h.Set(HeaderSignature, sig)
		}
		return h
	}
	good := Sign(secret, clock, b)
	tests := []struct {
		name   string
		secret string
		header http.Header
		body   []byte
		now    time.Time
		skew   time.Duration
		want   error
	}{
		{"good", secret, signed(clock, good), b, clock, 0, nil},
		{"good, 5 min late", secret, signed(clock, good), b, clock.Add(5 * time.Minute), 0, nil},
		{"good, 5 min early", secret, signed(clock, good), b, clock.Add(-5 * time.Minute), 0, nil},
		{"stale", secret, signed(clock, good), b, clock.Add(5*time.Minute + time.Second), 0, ErrStale},
		{"future", secret, signed(clock, good), b, clock.Add(-6 * time.Minute), 0, ErrStale},
		{"wider skew", secret, signed(clock, good), b, clock.Add(time.Hour), 2 * time.Hour, nil},
		{"body changed", secret, signed(clock, good), append(b, ' '), clock, 0, ErrSignature},
		{"timestamp changed", secret, signed(clock.Add(time.Second), good), b, clock, 0, ErrSignature},
		{"wrong secret", "other", signed(clock, good), b, clock, 0, ErrSignature},
		{"upper-case hex", secret, signed(clock, "sha256="+strings.ToUpper(good[7:])), b, clock, 0, nil},
		{"not hex", secret, signed(clock, "sha256=zz"), b, clock, 0, ErrSignature},
		{"no prefix", secret, signed(clock, strings.TrimPrefix(good, "sha256=")), b, clock, 0, ErrSignature},
		{"unsigned", secret, signed(clock, ""), b, clock, 0, ErrUnsigned},
		{"no headers", secret, http.Header{}, b, clock, 0, ErrUnsigned},
		{"bad timestamp", secret, http.Header{HeaderTimestamp: {"yesterday"}, HeaderSignature: {good}}, b, clock, 0, ErrStale},
		{"far timestamp", secret, http.Header{HeaderTimestamp: {"-9223372036854775808"}, HeaderSignature: {good}}, b, clock, 0, ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, tt.body, tt.now, tt.skew)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), good[7:])) {
				t.Errorf("error %q quotes the secret or the signature", err)
			}
		})
	}
	if err := Verify("", signed(clock, good), b, clock, 0); err == nil {
		t.Error("Verify with no secret succeeded")
	}
}

func TestNew(t *testing.T) {
	for _, u := range []string{"", "example.com/hook?token=secretXYZ", "ftp://example.com/secretXYZ", "https://", "http://[::1/secretXYZ"} {
		_, err := New(notify.Target{URL: u, Secret: secret}, nil, nil)
		if err == nil {
			t.Errorf("New(%q) succeeded", u)
			continue
		}
		if strings.Contains(err.Error(), "secretXYZ") || strings.Contains(err.Error(), secret) || !strings.HasPrefix(err.Error(), "webhook: ") {
			t.Errorf("New(%q) = %q: want a webhook: error without the url or secret", u, err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	b := []byte(`{"schema":"storefence.notification/v1"}`)
	f.Add(strconv.FormatInt(clock.Unix(), 10), Sign(secret, clock, b), b, int64(0))
	f.Add("-9223372036854775808", "sha256=", b, int64(-1))
	f.Add("+1748768400", "sha256="+strings.Repeat("0", 64), []byte{}, int64(1<<62))
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte, skew int64) {
		h := http.Header{HeaderTimestamp: {ts}, HeaderSignature: {sig}}
		err := Verify(secret, h, body, clock, time.Duration(skew))
		if err == nil {
			// Only the right HMAC of this very timestamp text passes
			// (its hex in either case: the same bytes).
			if !strings.EqualFold(sig, sign(secret, ts, body)) {
				t.Fatalf("Verify accepted %q for %q", sig, ts)
			}
			return
		}
		if !errors.Is(err, ErrUnsigned) && !errors.Is(err, ErrStale) && !errors.Is(err, ErrSignature) {
			t.Fatalf("Verify = %v: not one of its errors", err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error %q quotes the secret", err)
		}
	})
}

func FuzzCheckAnswer(f *testing.F) {
	f.Add(200, "", []byte(""))
	f.Add(429, "120", []byte("slow down"))
	f.Add(503, "Sun, 01 Jun 2025 09:00:30 GMT", []byte(""))
	f.Add(400, "", []byte("see https://example.com/docs"))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		r := &notify.Response{Status: status, Header: http.Header{"Retry-After": {retryAfter}}, Body: body}
		notifytest.CheckStatusAnswer(t, kind, status, checkAnswer(r, clock))
	})
}
