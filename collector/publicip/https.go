package publicip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// maxBody caps what is read of an HTTPS echo's body: an address needs at
// most 45 bytes, a JSON object with a few more fields far less than this.
const maxBody = 4 << 10

// newHTTPClient returns the client for HTTPS providers. It goes through the
// proxy named by HTTP_PROXY, HTTPS_PROXY and NO_PROXY, as a browser's traffic
// would, so that its answer shows the proxy's exit. Keep-alives are off: a
// connection kept from an earlier run would report the line it was opened
// on, not the current one.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{}).DialContext,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableKeepAlives:   true,
	}}
}

// queryHTTPS fetches rawURL and returns the address its body holds. Errors
// never contain the URL, which may carry a token.
func (c *Collector) queryHTTPS(ctx context.Context, rawURL string) (netip.Addr, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return netip.Addr{}, errors.New("invalid url")
	}
	req.Header.Set("Accept", "text/plain, application/json")
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return netip.Addr{}, transportError(ctx, withoutURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return netip.Addr{}, fmt.Errorf("http status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("read body: %w", transportError(ctx, err))
	}
	if len(body) > maxBody {
		return netip.Addr{}, fmt.Errorf("body larger than %d bytes", maxBody)
	}
	addr, err := parseBody(body)
	if err != nil {
		return netip.Addr{}, err
	}
	return addr, checkAddr(addr, c.allowPrivate)
}

// withoutURL strips the URL that net/http puts in its errors, keeping the
// operation and the cause.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// parseBody returns the address in an HTTPS echo's body: the address as
// plain text (ipify, ifconfig.co/ip) or a JSON object with an "ip" member
// (ipify ?format=json, ifconfig.co/json). Errors do not quote the body.
func parseBody(body []byte) (netip.Addr, error) {
	text := bytes.TrimSpace(body)
	if len(text) > 0 && text[0] == '{' {
		var v struct {
			IP string `json:"ip"`
		}
		if err := json.Unmarshal(text, &v); err != nil {
			return netip.Addr{}, errors.New("malformed json body")
		}
		text = []byte(v.IP)
	}
	addr, ok := parseTextAddr(string(text))
	if !ok {
		return netip.Addr{}, fmt.Errorf("body is not an ip address (%d bytes)", len(body))
	}
	return addr, nil
}
