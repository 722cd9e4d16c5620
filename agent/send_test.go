package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func tokenFile(t *testing.T, tok string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSendClassifiesEveryStatus: which answers are retried, which are
// final, and that the Retry-After of any of them is kept.
func TestSendClassifiesEveryStatus(t *testing.T) {
	var status int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sft_x" || r.Header.Get("Content-Encoding") != "gzip" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":"status %d"}`, status)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL+"/", tokenFile(t, "sft_x"), "")
	if err != nil {
		t.Fatal(err)
	}
	retry := map[int]bool{401: true, 408: true, 429: true, 500: true, 502: true, 503: true, 504: true}
	for _, status = range []int{200, 202, 400, 401, 403, 404, 408, 413, 415, 429, 500, 502, 503, 504} {
		err := c.Send(context.Background(), testReport(t0))
		if status == 200 || status == 202 {
			if err != nil {
				t.Errorf("%d: %v", status, err)
			}
			continue
		}
		var se *SendError
		if !errors.As(err, &se) || se.Status != status || se.Retry != retry[status] || se.After != 3*time.Second {
			t.Errorf("%d: %#v, want retry %v after 3s", status, err, retry[status])
		}
		if se != nil && se.Msg != fmt.Sprintf("status %d", status) {
			t.Errorf("%d: message %q", status, se.Msg)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		" 120 ":                         2 * time.Minute,
		"0":                             0,
		"-5":                            0,
		"soon":                          0,
		"999999999":                     24 * time.Hour, // capped
		"Sun, 22 Nov 2026 10:00:30 GMT": 30 * time.Second,
		"Sun, 22 Nov 2026 09:00:00 GMT": 0, // past
	}
	for in, want := range tests {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestSendErrorsHoldNoCredentials: an unreachable server's error names
// neither the URL's password nor the token.
func TestSendErrorsHoldNoCredentials(t *testing.T) {
	c, err := NewClient("http://operator:hunter2@127.0.0.1:1", tokenFile(t, "sft_supersecret"), "")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Send(context.Background(), testReport(t0))
	var se *SendError
	if !errors.As(err, &se) || !se.Retry || se.Status != 0 {
		t.Fatalf("Send to a closed port = %#v, want a retryable SendError", err)
	}
	for _, s := range []string{"hunter2", "operator", "supersecret"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q holds %q", err, s)
		}
	}
	if h := c.Host(); h != "http://127.0.0.1:1" {
		t.Errorf("Host() = %q", h)
	}
}

func TestNewClientRejects(t *testing.T) {
	tok := tokenFile(t, "sft_x")
	for _, u := range []string{"ftp://x", "http://x/?a=b", "http://x/#frag", "::"} {
		if _, err := NewClient(u, tok, ""); err == nil {
			t.Errorf("NewClient(%q) succeeded", u)
		}
	}
	if _, err := NewClient("http://x", "/nonexistent", ""); err == nil || !strings.Contains(err.Error(), "token_file") {
		t.Errorf("missing token file: %v", err)
	}
}

func TestPreflightRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/base/api/v1/preflight" || r.URL.Query().Get("store") != "shop-a" {
			http.Error(w, `{"error":"wrong request"}`, http.StatusBadRequest)
			return
		}
		w.Write([]byte(`{"schema":"storefence.preflight/v1","would_link":false}`))
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL+"/base", tokenFile(t, "sft_x"), "")
	if err != nil {
		t.Fatal(err)
	}
	body, err := c.Preflight(context.Background(), "shop-a", testReport(t0))
	if err != nil || !strings.Contains(string(body), "storefence.preflight/v1") {
		t.Errorf("Preflight = %s, %v", body, err)
	}
}
