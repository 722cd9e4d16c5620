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
	"time"

	"github.com/storefence/storefence/report"
)

// Client sends reports to the server.
type Client struct {
	url   string // …/api/v1/reports
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
	u, err := url.Parse(strings.TrimSuffix(base, "/") + "/api/v1/reports")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
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
	return &Client{url: u.String(), token: strings.TrimSpace(string(tok)), http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// Send delivers r, gzipped. It returns nil when the server stored the
// report now or had it already, and a *SendError otherwise.
func (c *Client) Send(ctx context.Context, r *report.Report) error {
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	if err := json.NewEncoder(zw).Encode(r); err != nil {
		return &SendError{Msg: err.Error()}
	}
	zw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, &body)
	if err != nil {
		return &SendError{Msg: "bad request"}
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
		return &SendError{Retry: true, Msg: err.Error()}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK:
		return nil
	}
	var apiErr struct{ Error string }
	if json.Unmarshal(msg, &apiErr) != nil || apiErr.Error == "" {
		apiErr.Error = http.StatusText(resp.StatusCode)
	}
	e := &SendError{Status: resp.StatusCode, Msg: apiErr.Error}
	e.Retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.After = time.Duration(s) * time.Second
	}
	return e
}
