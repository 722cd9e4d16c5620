package notify

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNewEndpoint(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://example.com/hook/secretXYZ?k=secretXYZ", ""},
		{"http://user:secretXYZ@127.0.0.1:8080/", ""},
		{"", "x: webhook url is not an absolute http(s) url"},
		{"example.com/secretXYZ", "x: webhook url is not an absolute http(s) url"},
		{"ftp://example.com/secretXYZ", "x: webhook url is not an absolute http(s) url"},
		{"https:///secretXYZ", "x: webhook url is not an absolute http(s) url"},
		{"https://[::1/secretXYZ", "x: webhook url does not parse"},
		{"https://example.com/%zz/secretXYZ", "x: webhook url does not parse"},
	}
	for _, tt := range tests {
		e, u, err := NewEndpoint("x", "webhook url", Target{URL: tt.url}, nil, nil)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want || strings.Contains(got, "secretXYZ") {
			t.Errorf("NewEndpoint(%q) error = %q, want %q", tt.url, got, tt.want)
		}
		if err == nil && (e.client != http.DefaultClient || e.now == nil || u.String() != tt.url) {
			t.Errorf("NewEndpoint(%q) = %+v, %v: want the defaults and the url parsed", tt.url, e, u)
		}
	}
}

// TestSend checks that Send parses with the endpoint's clock and scrubs
// the URL, its parts, the secret and what Hide added from the error.
func TestSend(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte("bad " + r.URL.RawQuery + " " + r.URL.Path + " " + r.Header.Get("X-Echo")))
	}))
	defer srv.Close()
	now := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	e, _, err := NewEndpoint("x", "url", Target{URL: srv.URL + "/hook/pathToken?k=queryToken", Secret: "signingSecret"}, srv.Client(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	e.Hide("/hook/pathToken")
	var at time.Time
	err = e.Send(context.Background(), srv.URL+"/hook/pathToken?k=queryToken", "application/json", nil, http.Header{"X-Echo": {"signingSecret"}},
		func(r *Response, now time.Time) error {
			at = now
			return CheckStatus("x", r, now)
		})
	if want := "x: http 400: bad <redacted> <redacted> <redacted>"; err == nil || err.Error() != want {
		t.Errorf("Send = %v, want %q", err, want)
	}
	if !at.Equal(now) {
		t.Errorf("parse was given %v, want the endpoint's clock %v", at, now)
	}
	err = e.SendJSON(context.Background(), srv.URL, "application/json", math.Inf(1), nil)
	if retry, _ := Classify(err); err == nil || retry || !strings.HasPrefix(err.Error(), "x: encode message: ") {
		t.Errorf("SendJSON of +Inf = %v (retry %v), want a permanent encoding error", err, retry)
	}
}
