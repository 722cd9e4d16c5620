package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxResponse is how much of a receiver's answer is read.
const MaxResponse = 64 << 10

// Response is a receiver's answer, its body read up to MaxResponse.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Post sends body to rawURL with content type ct (and any extra headers)
// and reads the answer. A request that got no answer (refused, reset,
// timed out) is a retryable *Error whose text names neither the URL nor
// anything in it; a URL that cannot be parsed is a permanent one.
func Post(ctx context.Context, client *http.Client, kind, rawURL, ct string, body []byte, hdr http.Header) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, Permanent(kind, 0, "bad webhook url (%s)", Redact(rawURL))
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", "storefence")
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, Retryable(kind, 0, 0, "post %s: %s", Redact(rawURL), transportReason(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
	if err != nil {
		return nil, Retryable(kind, resp.StatusCode, 0, "read answer: %s", transportReason(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponse)) // let the connection be reused
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// transportReason describes a transport error without the URL that
// *url.Error carries.
func transportReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	s := err.Error()
	// A nested error can still quote a URL (a redirect to one, say).
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[:max(0, strings.LastIndexByte(s[:i], ' ')+1)] + "<url>"
	}
	return s
}

// Redact returns u reduced to its scheme and host, for logs and errors:
// webhook URLs carry their credential in the path or the query.
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "<url>"
	}
	return p.Scheme + "://" + p.Host + "/<redacted>"
}

// CheckStatus sorts an HTTP answer the way STYLE and every vendor we
// support agree on: 2xx succeeds; 429 and 5xx are retryable (with their
// Retry-After); anything else is permanent. The reason quotes at most a
// short, single-line piece of the body.
func CheckStatus(kind string, r *Response, now time.Time) error {
	switch {
	case r.Status >= 200 && r.Status < 300:
		return nil
	case r.Status == http.StatusTooManyRequests || r.Status >= 500:
		return Retryable(kind, r.Status, RetryAfter(r.Header, now), "%s", Snippet(r.Body))
	default:
		return Permanent(kind, r.Status, "%s", Snippet(r.Body))
	}
}

// RetryAfter reads a Retry-After header in seconds or as an HTTP date,
// relative to now; 0 when absent or unreadable. The wait is capped at a
// day, so a receiver cannot park a message for ever.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return Seconds(f)
	}
	if t, err := http.ParseTime(v); err == nil {
		return clampWait(t.Sub(now))
	}
	return 0
}

// Seconds converts a vendor's retry_after in (possibly fractional)
// seconds to a wait, with RetryAfter's bounds.
func Seconds(f float64) time.Duration {
	// Bound f before converting: a float beyond int64 (1e300, +Inf)
	// converts to an arbitrary value, and NaN to anything.
	switch {
	case !(f > 0):
		return 0
	case f >= maxWait.Seconds():
		return maxWait
	}
	return time.Duration(math.Round(f * float64(time.Second)))
}

// maxWait caps a receiver's requested wait.
const maxWait = 24 * time.Hour

func clampWait(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d > maxWait:
		return maxWait
	}
	return d
}

// Snippet is b as a short single line for an error message.
func Snippet(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if s == "" {
		return "(empty answer)"
	}
	if strings.Contains(s, "://") { // never echo a URL a receiver put in its answer
		s = "(answer withheld: it contains a URL)"
	}
	return TruncateBytes(s, 200, "…")
}

// TruncateBytes returns s cut to at most n bytes including suffix, at a
// rune boundary; s itself when it fits.
func TruncateBytes(s string, n int, suffix string) string {
	if len(s) <= n {
		return s
	}
	n -= len(suffix)
	if n <= 0 {
		return suffix[:max(0, n+len(suffix))]
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + suffix
}

// Fit returns the longest prefix of plain (cut at a rune boundary, with
// the suffix "…" when cut) whose rendering fits: measure(render(p)) <= limit.
// render escapes or formats text for a vendor, so a message is never cut
// in the middle of an escape sequence or a markup construct.
func Fit(plain string, limit int, render func(string) string, measure func(string) int) (string, error) {
	if measure(render(plain)) <= limit {
		return render(plain), nil
	}
	runes := []rune(plain)
	lo, hi := 0, len(runes) // the answer is in [lo, hi)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if measure(render(string(runes[:mid])+"…")) <= limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	out := render(string(runes[:lo]) + "…")
	if measure(out) > limit {
		return "", fmt.Errorf("notify: nothing of the message fits in %d", limit)
	}
	return out, nil
}

// Bytes measures a string in bytes (WeCom, Feishu, Teams count bytes).
func Bytes(s string) int { return len(s) }

// Runes measures a string in characters (Slack, Discord, Telegram count
// characters).
func Runes(s string) int { return utf8.RuneCountInString(s) }
