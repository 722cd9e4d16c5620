package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/storefence/storefence/report"
)

// Client sends reports to the server.
type Client struct {
	base  string // the server URL without a trailing slash
	token string
	http  *http.Client
}

// SendError is a failed delivery. Retry says whether sending the same
// report again later may succeed; After is the server's Retry-After.
type SendError struct {
	Status int // 0 when the server was not reached
	Retry  bool
	After  time.Duration
	Msg    string
}

func (e *SendError) Error() string {
	if e.Status == 0 {
		return "send: " + e.Msg
	}
	return fmt.Sprintf("send: server answered %d: %s", e.Status, e.Msg)
}

// NewClient returns a client for the server at base, authenticating with
// the token in tokenFile and, when caFile is set, trusting only that CA.
func NewClient(base, tokenFile, caFile string) (*Client, error) {
	base = strings.TrimSuffix(base, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("agent: server: want an http(s) URL")
	}
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("agent: token_file: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("agent: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("agent: ca_file: no PEM certificate in it")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{base: base, token: strings.TrimSpace(string(tok)), http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// Send delivers r, gzipped. It returns nil when the server stored the
// report now or had it already, and a *SendError otherwise.
func (c *Client) Send(ctx context.Context, r *report.Report) error {
	_, err := c.post(ctx, c.base+"/api/v1/reports", r)
	return err
}

// Preflight asks the server whether operating store from the machine that r
// describes would link store to another one (POST /api/v1/preflight). It
// returns the server's storefence.preflight/v1 document as sent, or a
// *SendError. The server stores nothing.
func (c *Client) Preflight(ctx context.Context, store string, r *report.Report) ([]byte, error) {
	return c.post(ctx, c.base+"/api/v1/preflight?store="+url.QueryEscape(store), r)
}

// Host is the scheme and host of the server, for logs: never the path,
// query or credentials of the configured URL.
func (c *Client) Host() string {
	u, err := url.Parse(c.base)
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host
}

// post sends r gzipped to target with the token and returns the body of a
// 200 or 202 answer, or a *SendError.
func (c *Client) post(ctx context.Context, target string, r *report.Report) ([]byte, error) {
	var body bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&body)
	err := json.NewEncoder(zw).Encode(r)
	if err == nil {
		err = zw.Close()
	}
	gzipWriters.Put(zw)
	if err != nil {
		return nil, &SendError{Msg: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, &body)
	if err != nil {
		return nil, &SendError{Msg: "bad request"}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry credentials
		}
		return nil, &SendError{Retry: true, Msg: err.Error()}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		if err != nil {
			return nil, &SendError{Retry: true, Msg: "reading the answer: " + err.Error()}
		}
		return data, nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return nil, statusError(resp, msg)
}

// gzipWriters keeps gzip writers for reuse: each holds some 800 KB of
// compression state, which a spool being drained would otherwise allocate
// per report.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// maxAnswer bounds what the agent reads of a successful answer.
const maxAnswer = 16 << 20

// statusError classifies a failed answer: 408, 429 and 5xx may succeed
// later, and so may 401, which is about the agent's token, not the report
// (a revoked or mistyped token is fixed by the operator, and the backlog
// must still be there when it is); anything else will not, for the same
// report.
func statusError(resp *http.Response, body []byte) *SendError {
	var apiErr struct{ Error string }
	if json.Unmarshal(body, &apiErr) != nil || apiErr.Error == "" {
		apiErr.Error = http.StatusText(resp.StatusCode)
	}
	code := resp.StatusCode
	e := &SendError{Status: code, Msg: apiErr.Error}
	e.Retry = code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code == http.StatusUnauthorized || code >= 500
	e.After = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}
