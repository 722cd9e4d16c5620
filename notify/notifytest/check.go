package notifytest

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/notify"
)

// NoSecrets fails t when err's text contains any of the non-empty
// secrets (a webhook URL, a token, a signing secret). A nil err has none.
func NoSecrets(t testing.TB, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains the credential %q", err, s)
		}
	}
}

// WantError fails t unless err is a *notify.Error of kind that
// notify.Classify sorts as retry, after.
func WantError(t testing.TB, err error, kind string, retry bool, after time.Duration) {
	t.Helper()
	var e *notify.Error
	if !errors.As(err, &e) || e.Kind != kind {
		t.Errorf("error %v is not a %s *notify.Error", err, kind)
	}
	if gotRetry, gotAfter := notify.Classify(err); gotRetry != retry || gotAfter != after {
		t.Errorf("Classify(%v) = %v, %v, want %v, %v", err, gotRetry, gotAfter, retry, after)
	}
}

// Answer is one scripted answer and what a notifier must make of it.
type Answer struct {
	Name  string
	Fault Fault
	Retry bool          // the error is retryable
	After time.Duration // the wait it asks for
	Text  string        // the error's text; "" when the answer is accepted
}

// RunAnswers runs each answer as a subtest of t: send scripts a.Fault on
// a new receiver and notifies kind's integration through it, returning
// the credentials the error's text must not contain and the error.
func RunAnswers(t *testing.T, kind string, answers []Answer, send func(t *testing.T, f Fault) (secrets []string, err error)) {
	t.Helper()
	for _, a := range answers {
		t.Run(a.Name, func(t *testing.T) {
			secrets, err := send(t, a.Fault)
			NoSecrets(t, err, secrets...)
			if a.Text == "" {
				if err != nil {
					t.Fatalf("Notify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			WantError(t, err, kind, a.Retry, a.After)
			if err.Error() != a.Text {
				t.Errorf("error = %q, want %q", err, a.Text)
			}
		})
	}
}

// CheckAnswer fails t when err, what an integration of kind made of an
// answer with HTTP status, breaks the rules they all keep: nil only for a
// 2xx; otherwise a *notify.Error of kind that waits at most a day, and
// not at all unless retryable, whose text is one line of valid UTF-8
// that quotes no URL. Fuzz targets call it.
func CheckAnswer(t testing.TB, kind string, status int, err error) {
	t.Helper()
	if err == nil {
		if status < 200 || status > 299 {
			t.Fatalf("accepted with status %d", status)
		}
		return
	}
	var e *notify.Error
	if !errors.As(err, &e) || e.Kind != kind {
		t.Fatalf("answer %d: %#v, want a %s *notify.Error", status, err, kind)
	}
	if retry, after := notify.Classify(err); after < 0 || after > 24*time.Hour || !retry && after != 0 {
		t.Fatalf("status %d: Classify = %v, %v", status, retry, after)
	}
	if s := err.Error(); strings.Contains(s, "://") || strings.ContainsAny(s, "\n\r") || !utf8.ValidString(s) {
		t.Fatalf("error text %q", s)
	}
}

// CheckStatusAnswer is CheckAnswer for an integration that goes by the
// HTTP status alone, as notify.CheckStatus does: besides, every 2xx is
// accepted, and 429 and 5xx are retryable and nothing else is.
func CheckStatusAnswer(t testing.TB, kind string, status int, err error) {
	t.Helper()
	CheckAnswer(t, kind, status, err)
	if err == nil {
		return
	}
	if status >= 200 && status < 300 {
		t.Fatalf("status %d: err = %v", status, err)
	}
	if retry, _ := notify.Classify(err); retry != (status == 429 || status >= 500) {
		t.Fatalf("status %d: retry = %v", status, retry)
	}
}

// Outcome is what one Notify through a receiver must come to.
type Outcome struct {
	Err      bool          // Notify fails, and the receiver accepts nothing
	Retry    bool          // the error is retryable
	After    time.Duration // the wait it asks for
	Rejected []string      // why the receiver rejected each request
}

// CheckOutcome fails t unless err, what one Notify of kind's integration
// through r returned, and r's record come to want, and err names none of
// the secrets. It returns the delivery r accepted, nil when want.Err.
func CheckOutcome(t testing.TB, r *Receiver, kind string, err error, want Outcome, secrets ...string) *Delivery {
	t.Helper()
	if (err != nil) != want.Err {
		t.Fatalf("Notify error = %v, want error %v (rejected: %q)", err, want.Err, r.Rejected())
	}
	if err != nil {
		NoSecrets(t, err, secrets...)
		WantError(t, err, kind, want.Retry, want.After)
	}
	if diff := cmp.Diff(want.Rejected, r.Rejected()); diff != "" {
		t.Errorf("rejections mismatch (-want +got):\n%s", diff)
	}
	acc := r.Accepted()
	if want.Err {
		if len(acc) != 0 {
			t.Errorf("accepted %d messages, want none", len(acc))
		}
		return nil
	}
	if len(acc) != 1 {
		t.Fatalf("accepted %d messages, want 1", len(acc))
	}
	return &acc[0]
}

// ParseCase is a receiver's answer and what a parser must make of it.
type ParseCase struct {
	Name   string
	Status int
	Header http.Header
	Body   string
	Want   *notify.Error // nil: accepted
}

// RunParse runs each case as a subtest of t: parse, given the answer and
// now, must return the case's Want.
func RunParse(t *testing.T, parse func(*notify.Response, time.Time) error, now time.Time, cases []ParseCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			err := parse(&notify.Response{Status: c.Status, Header: c.Header, Body: []byte(c.Body)}, now)
			var got *notify.Error
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("parse = %v, not a *notify.Error", err)
			}
			if diff := cmp.Diff(c.Want, got); diff != "" {
				t.Errorf("parse(%d, %q) mismatch (-want +got):\n%s", c.Status, c.Body, diff)
			}
		})
	}
}
