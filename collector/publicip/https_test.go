package publicip

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/report"
)

func TestParseBody(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the address, or "error: " and the error
	}{
		{"plain", ipA, ipA},
		{"plain with newline", ipA + "\r\n", ipA},
		{"plain ipv6", ipV6 + "\n", ipV6},
		{"json", `{"ip":"` + ipA + `"}`, ipA},
		{"json with more fields", `{"ip": "` + ipV6 + `", "country": "NL", "ip_decimal": 4294967295}`, ipV6},
		{"json spaced", " \n{ \"ip\" : \" " + ipA + " \" }\n", ipA},
		{"json without ip", `{"addr":"` + ipA + `"}`, "error: body is not an ip address (22 bytes)"},
		{"json ip not a string", `{"ip":1}`, "error: malformed json body"},
		{"json truncated", `{"ip":"` + ipA, "error: malformed json body"},
		{"empty", "", "error: body is not an ip address (0 bytes)"},
		{"html", "<html>" + ipA + "</html>", "error: body is not an ip address (24 bytes)"},
		{"trace format", "fl=1\nip=" + ipA + "\n", "error: body is not an ip address (20 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, err := parseBody([]byte(tt.in))
			got := str(addr)
			if err != nil {
				got = "error: " + err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseBody(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestQueryHTTPS(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string // the address, or "error: " and the start of the error
	}{
		{"ok", textHandler(ipA), ipA},
		{"status", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTooManyRequests) }, "error: http status 429"},
		{"body at the limit", textHandler(ipA + strings.Repeat(" ", maxBody-len(ipA))), ipA},
		{"body over the limit", textHandler(ipA + strings.Repeat(" ", maxBody)), "error: body larger than 4096 bytes"},
		{"private", textHandler("192.168.1.1"), "error: address 192.168.1.1 is not public"},
		{"garbage", textHandler("<html>"), "error: body is not an ip address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			t.Cleanup(srv.Close)
			c := newTestCollector(prepare(config.PublicIP{}))
			addr, err := c.queryHTTPS(t.Context(), srv.URL)
			got := str(addr)
			if err != nil {
				got = "error: " + err.Error()
				if strings.HasPrefix(got, tt.want) {
					got = tt.want
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("queryHTTPS() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHTTPSDoesNotLeakURL checks that neither the report nor the log holds
// an HTTPS provider's URL, which may carry a token, whatever the failure.
func TestHTTPSDoesNotLeakURL(t *testing.T) {
	const token = "s3cr3t-t0ken"
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	hung := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(hung) })
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/"+token+"/again?key="+token, http.StatusFound)
	}))
	t.Cleanup(redirect.Close)

	cfg := prepare(config.PublicIP{Timeout: 300 * time.Millisecond, Providers: []config.Provider{
		{Name: "refused", Kind: kindHTTPS, URL: closedURL + "/" + token + "?key=" + token},
		{Name: "timeout", Kind: kindHTTPS, URL: slow.URL + "/" + token + "?key=" + token},
		{Name: "redirects", Kind: kindHTTPS, URL: redirect.URL + "/" + token + "?key=" + token},
		{Name: "bad-url", Kind: kindHTTPS, URL: "http://[::1/" + token},
	}})
	var logs bytes.Buffer
	c := New(cfg, zerolog.New(&logs).Level(zerolog.DebugLevel))
	c.httpClient = &http.Client{Transport: &http.Transport{}}
	var r report.Report
	err := c.Collect(t.Context(), &r)
	if err == nil {
		t.Fatal("Collect() succeeded, want every provider to fail")
	}
	for _, a := range r.PublicIP.Answers {
		if a.Error == "" {
			t.Errorf("answer %+v, want an error", a)
		}
	}
	for what, text := range map[string]string{"error": err.Error(), "log": logs.String(), "answers": answersText(r.PublicIP.Answers)} {
		if strings.Contains(text, token) {
			t.Errorf("%s holds the URL's token:\n%s", what, text)
		}
	}
	if !strings.Contains(logs.String(), `"provider":"refused"`) {
		t.Errorf("log does not name the provider:\n%s", logs.String())
	}
}

// answersText is answers as text, for searching.
func answersText(answers []report.Answer) string {
	var b strings.Builder
	for _, a := range answers {
		b.WriteString(a.Provider + " " + a.Transport + " " + a.IP + " " + a.Error + "\n")
	}
	return b.String()
}

// textHandler answers body as text/plain.
func textHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(body))
	}
}

func TestHTTPClientUsesProxyFromEnvironment(t *testing.T) {
	tr, ok := newHTTPClient().Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T, want *http.Transport", newHTTPClient().Transport)
	}
	if tr.Proxy == nil || reflect.ValueOf(tr.Proxy).Pointer() != reflect.ValueOf(http.ProxyFromEnvironment).Pointer() {
		t.Error("transport does not use http.ProxyFromEnvironment")
	}
	if !tr.DisableKeepAlives {
		t.Error("transport keeps connections alive across collections")
	}
}
