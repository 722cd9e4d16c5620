package publicip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/collector"
	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/report"
)

var _ collector.Collector = (*Collector)(nil)

// prepare fills the defaults of a test configuration: a 2s timeout, and no
// resolver egress probe unless the test names a server (the system resolver
// would leave the machine).
func prepare(cfg config.PublicIP) config.PublicIP {
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.ResolverEgress.Server == "" {
		cfg.ResolverEgress.Disabled = true
	}
	return cfg
}

func TestCollect(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T) config.PublicIP // starts the servers
		want    *report.PublicIP                   // an answer's Error is a part of the error
		wantErr error
	}{
		{
			name: "providers agree",
			setup: func(t *testing.T) config.PublicIP {
				v4, v6 := startDNS(t, echo(ipA)), startDNS(t, echo(ipV6))
				ch := dnsProvider("cloudflare", v4, whoamiCH, "TXT")
				ch.Class = "CH"
				return config.PublicIP{Providers: []config.Provider{
					dnsProvider("opendns", v4, myip, "A"),
					dnsProvider("google", v4, "o-o.myaddr.test.", "TXT"),
					ch,
					dnsProvider("opendns-v6", v6, myip, "AAAA"),
				}}
			},
			want: &report.PublicIP{V4: ipA, V6: ipV6, Answers: []report.Answer{
				okAnswer("opendns", "dns", "udp4", ipA),
				okAnswer("google", "dns", "udp4", ipA),
				okAnswer("cloudflare", "dns", "udp4", ipA),
				okAnswer("opendns-v6", "dns", "udp4", ipV6),
			}},
		},
		{
			name: "providers disagree: conflict, first wins the tie",
			setup: func(t *testing.T) config.PublicIP {
				return config.PublicIP{Providers: []config.Provider{
					dnsProvider("p1", startDNS(t, echo(ipA)), myip, "A"),
					dnsProvider("p2", startDNS(t, echo(ipB)), myip, "A"),
				}}
			},
			want: &report.PublicIP{V4: ipA, Conflict: true, Answers: []report.Answer{
				okAnswer("p1", "dns", "udp4", ipA),
				okAnswer("p2", "dns", "udp4", ipB),
			}},
		},
		{
			name: "majority beats order",
			setup: func(t *testing.T) config.PublicIP {
				a, b := startDNS(t, echo(ipA)), startDNS(t, echo(ipB))
				return config.PublicIP{Providers: []config.Provider{
					dnsProvider("p1", b, myip, "A"),
					dnsProvider("p2", a, myip, "A"),
					dnsProvider("p3", a, myip, "TXT"),
				}}
			},
			want: &report.PublicIP{V4: ipA, Conflict: true, Answers: []report.Answer{
				okAnswer("p1", "dns", "udp4", ipB),
				okAnswer("p2", "dns", "udp4", ipA),
				okAnswer("p3", "dns", "udp4", ipA),
			}},
		},
		{
			name:  "nxdomain",
			setup: withGood(dnsProvider("bad", "", myip, "A"), rcode(dns.RcodeNameError)),
			want:  wantWithGood(failedAnswer("bad", "dns", "udp4", "rcode NXDOMAIN")),
		},
		{
			name:  "servfail",
			setup: withGood(dnsProvider("bad", "", myip, "A"), rcode(dns.RcodeServerFailure)),
			want:  wantWithGood(failedAnswer("bad", "dns", "udp4", "rcode SERVFAIL")),
		},
		{
			name:  "empty answer",
			setup: withGood(dnsProvider("bad", "", myip, "A"), respond(func(_, _ *dns.Msg) {})),
			want:  wantWithGood(failedAnswer("bad", "dns", "udp4", "empty answer: no A record for myip.test.")),
		},
		{
			name: "no reply: timeout within the overall deadline",
			setup: func(t *testing.T) config.PublicIP {
				cfg := withGood(dnsProvider("bad", "", myip, "A"), silent)(t)
				cfg.Timeout = 300 * time.Millisecond
				return cfg
			},
			want: wantWithGood(failedAnswer("bad", "dns", "udp4", "no reply: context deadline exceeded")),
		},
		{
			name:  "truncated over udp, full answer over tcp",
			setup: truncatingSetup,
			want:  &report.PublicIP{V4: ipA, Answers: []report.Answer{okAnswer("p1", "dns", "tcp4", ipA)}},
		},
		{
			name: "truncated over udp, wrong id over tcp",
			setup: withGood(dnsProvider("bad", "", myip, "A"), func(w dns.ResponseWriter, req *dns.Msg) {
				m := new(dns.Msg)
				m.SetReply(req)
				m.Answer = []dns.RR{echoRR(req.Question[0], ipB)}
				if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
					m.Truncated = true
				} else {
					m.Id = req.Id + 1
				}
				w.WriteMsg(m)
			}),
			want: wantWithGood(failedAnswer("bad", "dns", "tcp4", "retry of truncated reply: dns: id mismatch")),
		},
		{
			name: "answer for another question",
			setup: withGood(dnsProvider("bad", "", myip, "A"), respond(func(req, m *dns.Msg) {
				m.Question[0].Name = "other.test."
				m.Answer = []dns.RR{echoRR(m.Question[0], ipB)}
			})),
			want: wantWithGood(failedAnswer("bad", "dns", "udp4", "reply is for another question: other.test. IN A")),
		},
		{
			name: "record of another owner is ignored",
			setup: withGood(dnsProvider("bad", "", myip, "A"), respond(func(req, m *dns.Msg) {
				q := req.Question[0]
				q.Name = "other.test."
				m.Answer = []dns.RR{echoRR(q, ipB)}
			})),
			want: wantWithGood(failedAnswer("bad", "dns", "udp4", "empty answer")),
		},
		{
			name: "question name differs only in case",
			setup: func(t *testing.T) config.PublicIP {
				srv := startDNS(t, respond(func(req, m *dns.Msg) {
					m.Question[0].Name = "MyIP.Test."
					m.Answer = []dns.RR{echoRR(m.Question[0], ipA)}
				}))
				return config.PublicIP{Providers: []config.Provider{dnsProvider("p1", srv, myip, "A")}}
			},
			want: &report.PublicIP{V4: ipA, Answers: []report.Answer{okAnswer("p1", "dns", "udp4", ipA)}},
		},
		{
			name: "reply with a wrong id only: ignored, so no reply",
			setup: func(t *testing.T) config.PublicIP {
				cfg := withGoodAt(dnsProvider("bad", startRawUDP(t, wrongIDThenRight(t, false)), myip, "A"))(t)
				cfg.Timeout = 300 * time.Millisecond
				return cfg
			},
			want: wantWithGood(failedAnswer("bad", "dns", "udp4", "no reply")),
		},
		{
			name: "reply with a wrong id, then the right one",
			setup: func(t *testing.T) config.PublicIP {
				return config.PublicIP{Providers: []config.Provider{
					dnsProvider("p1", startRawUDP(t, wrongIDThenRight(t, true)), myip, "A"),
				}}
			},
			want: &report.PublicIP{V4: ipA, Answers: []report.Answer{okAnswer("p1", "dns", "udp4", ipA)}},
		},
		{
			name: "private and cgnat addresses rejected",
			setup: func(t *testing.T) config.PublicIP {
				return config.PublicIP{Providers: []config.Provider{
					dnsProvider("rfc1918", startDNS(t, echo("10.1.2.3")), myip, "A"),
					dnsProvider("cgnat", startDNS(t, echo("100.64.1.1")), myip, "TXT"),
				}}
			},
			want: &report.PublicIP{Answers: []report.Answer{
				failedAnswer("rfc1918", "dns", "udp4", "address 10.1.2.3 is not public"),
				failedAnswer("cgnat", "dns", "udp4", "address 100.64.1.1 is not public"),
			}},
			wantErr: ErrNoAnswer,
		},
		{
			name: "private address accepted with allow_private",
			setup: func(t *testing.T) config.PublicIP {
				return config.PublicIP{AllowPrivate: true, Providers: []config.Provider{
					dnsProvider("rfc1918", startDNS(t, echo("10.1.2.3")), myip, "A"),
				}}
			},
			want: &report.PublicIP{V4: "10.1.2.3", Answers: []report.Answer{okAnswer("rfc1918", "dns", "udp4", "10.1.2.3")}},
		},
		{
			name: "malformed txt",
			setup: withGood(dnsProvider("bad", "", "o-o.myaddr.test.", "TXT"), respond(func(req, m *dns.Msg) {
				m.Answer = []dns.RR{txt(req.Question[0].Name, "not an address", "edns0-client-subnet 198.51.100.0/24")}
			})),
			want: wantWithGood(failedAnswer("bad", "dns", "udp4", "malformed answer: no address in 1 TXT records")),
		},
		{
			name: "chaos class answered, class in refused with nxdomain",
			setup: func(t *testing.T) config.PublicIP {
				srv := startDNS(t, respond(func(req, m *dns.Msg) {
					if q := req.Question[0]; q.Qclass == dns.ClassCHAOS {
						m.Answer = []dns.RR{echoRR(q, ipA)}
						return
					}
					m.Rcode = dns.RcodeNameError
				}))
				ch := dnsProvider("cloudflare-ch", srv, whoamiCH, "TXT")
				ch.Class = "CH"
				return config.PublicIP{Providers: []config.Provider{ch, dnsProvider("cloudflare-in", srv, whoamiCH, "TXT")}}
			},
			want: &report.PublicIP{V4: ipA, Answers: []report.Answer{
				okAnswer("cloudflare-ch", "dns", "udp4", ipA),
				failedAnswer("cloudflare-in", "dns", "udp4", "rcode NXDOMAIN"),
			}},
		},
		{
			name: "google txt with an edns0-client-subnet record",
			setup: func(t *testing.T) config.PublicIP {
				srv := startDNS(t, respond(func(req, m *dns.Msg) {
					name := req.Question[0].Name
					m.Answer = []dns.RR{txt(name, "edns0-client-subnet 198.51.100.0/24"), txt(name, ipA)}
				}))
				return config.PublicIP{Providers: []config.Provider{dnsProvider("google", srv, "o-o.myaddr.test.", "TXT")}}
			},
			want: &report.PublicIP{V4: ipA, Answers: []report.Answer{okAnswer("google", "dns", "udp4", ipA)}},
		},
		{
			name: "https plain text agrees with dns",
			setup: func(t *testing.T) config.PublicIP {
				return config.PublicIP{Providers: []config.Provider{
					dnsProvider("opendns", startDNS(t, echo(ipA)), myip, "A"),
					{Name: "ipify", Kind: kindHTTPS, URL: startHTTP(t, "text/plain", ipA+"\n")},
				}}
			},
			want: &report.PublicIP{V4: ipA, Answers: []report.Answer{
				okAnswer("opendns", "dns", "udp4", ipA),
				okAnswer("ipify", "https", "https", ipA),
			}},
		},
		{
			name: "https json disagrees with dns: a second line",
			setup: func(t *testing.T) config.PublicIP {
				return config.PublicIP{Providers: []config.Provider{
					dnsProvider("opendns", startDNS(t, echo(ipA)), myip, "A"),
					{Name: "ipify", Kind: kindHTTPS, URL: startHTTP(t, "application/json", `{"ip":"`+ipB+`"}`)},
				}}
			},
			want: &report.PublicIP{V4: ipA, Conflict: true, Answers: []report.Answer{
				okAnswer("opendns", "dns", "udp4", ipA),
				okAnswer("ipify", "https", "https", ipB),
			}},
		},
		{
			name: "https error status",
			setup: func(t *testing.T) config.PublicIP {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					http.Error(w, "busy", http.StatusServiceUnavailable)
				}))
				t.Cleanup(srv.Close)
				return withGoodAt(config.Provider{Name: "bad", Kind: kindHTTPS, URL: srv.URL})(t)
			},
			want: wantWithGood(failedAnswer("bad", "https", "https", "http status 503")),
		},
		{
			name: "resolver egress pairs",
			setup: func(t *testing.T) config.PublicIP {
				cfg := withGoodAt()(t)
				cfg.ResolverEgress = config.ResolverEgress{Query: "whoami.test.", Server: startDNS(t, egressHandler())}
				return cfg
			},
			want: func() *report.PublicIP {
				w := wantWithGood()
				w.ResolverEgress = []string{ipNS1, ipNS2}
				return w
			}(),
		},
		{
			name: "resolver egress failure does not fail the collector",
			setup: func(t *testing.T) config.PublicIP {
				cfg := withGoodAt()(t)
				cfg.ResolverEgress = config.ResolverEgress{Query: "whoami.test.", Server: startDNS(t, rcode(dns.RcodeServerFailure))}
				return cfg
			},
			want: wantWithGood(),
		},
		{
			name: "no valid answer: error, answers still reported",
			setup: func(t *testing.T) config.PublicIP {
				return config.PublicIP{Providers: []config.Provider{
					dnsProvider("p1", startDNS(t, rcode(dns.RcodeRefused)), myip, "A"),
					{Name: "p2", Kind: "dns", Server: "127.0.0.1:53", Query: myip, Type: "MX"},
				}}
			},
			want: &report.PublicIP{Answers: []report.Answer{
				failedAnswer("p1", "dns", "udp4", "rcode REFUSED"),
				failedAnswer("p2", "dns", "udp", `type "MX": must be A, AAAA or TXT`),
			}},
			wantErr: ErrNoAnswer,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := prepare(tt.setup(t))
			c := newTestCollector(cfg)
			var r report.Report
			start := time.Now()
			err := c.Collect(t.Context(), &r)
			if elapsed := time.Since(start); elapsed > cfg.Timeout+time.Second {
				t.Errorf("Collect took %v, deadline %v", elapsed, cfg.Timeout)
			}
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("Collect() error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, normalise(r.PublicIP, tt.want)); diff != "" {
				t.Errorf("Collect() PublicIP mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// truncatingSetup starts a server that truncates over UDP, with a partial
// answer holding another address, and answers in full over TCP.
func truncatingSetup(t *testing.T) config.PublicIP {
	srv := startDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			m.Truncated = true
			m.Answer = []dns.RR{echoRR(req.Question[0], ipB)}
		} else {
			m.Answer = []dns.RR{echoRR(req.Question[0], ipA)}
		}
		w.WriteMsg(m)
	})
	return config.PublicIP{Providers: []config.Provider{dnsProvider("p1", srv, myip, "A")}}
}

// withGood returns a setup that starts a server with h for bad (whose
// Server it sets) and puts bad first, then a provider that answers ipA.
func withGood(bad config.Provider, h dns.HandlerFunc) func(t *testing.T) config.PublicIP {
	return func(t *testing.T) config.PublicIP {
		bad.Server = startDNS(t, h)
		return withGoodAt(bad)(t)
	}
}

// withGoodAt returns a setup listing providers, then a provider "good" that
// answers ipA.
func withGoodAt(providers ...config.Provider) func(t *testing.T) config.PublicIP {
	return func(t *testing.T) config.PublicIP {
		good := dnsProvider("good", startDNS(t, echo(ipA)), myip, "A")
		return config.PublicIP{Providers: append(providers, good)}
	}
}

// wantWithGood is the report of withGood and withGoodAt: answers, then the
// good provider's.
func wantWithGood(answers ...report.Answer) *report.PublicIP {
	return &report.PublicIP{V4: ipA, Answers: append(answers, okAnswer("good", "dns", "udp4", ipA))}
}

// wrongIDThenRight returns a raw responder that replies with the wrong id
// and the address ipB, then, when right, with the right id and ipA.
func wrongIDThenRight(tb testing.TB, right bool) func(req *dns.Msg) [][]byte {
	return func(req *dns.Msg) [][]byte {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Answer = []dns.RR{echoRR(req.Question[0], ipB)}
		m.Id = req.Id + 1
		spoof, err := m.Pack()
		if err != nil {
			tb.Error(err)
		}
		if !right {
			return [][]byte{spoof}
		}
		m.Id = req.Id
		m.Answer = []dns.RR{echoRR(req.Question[0], ipA)}
		good, err := m.Pack()
		if err != nil {
			tb.Error(err)
		}
		return [][]byte{spoof, good}
	}
}

// egressHandler answers like whoami.ds.akahelp.net through a resolver: "ns"
// pairs (one repeated), an "ecs" pair and an "ip" pair. It answers REFUSED
// to a query without recursion.
func egressHandler() dns.HandlerFunc {
	return respond(func(req, m *dns.Msg) {
		if !req.RecursionDesired {
			m.Rcode = dns.RcodeRefused
			return
		}
		name := req.Question[0].Name
		m.Answer = []dns.RR{
			txt(name, "ns", ipNS1),
			txt(name, "ecs", "198.51.100.0/24/24/0"),
			txt(name, "ns", ipNS1),
			txt(name, "ip", ipNS2),
			txt(name, "ns", "10.0.0.1"),
		}
	})
}

// startHTTP starts an HTTP echo that answers body as contentType and returns
// its URL.
func startHTTP(t *testing.T, contentType, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/ip"
}

func TestCollectHonoursDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	cfg := prepare(config.PublicIP{Timeout: timeout, Providers: []config.Provider{
		dnsProvider("hung-udp", startDNS(t, silent), myip, "A"),
		dnsProvider("hung-raw", startRawUDP(t, func(*dns.Msg) [][]byte { return nil }), myip, "TXT"),
		dnsProvider("good", startDNS(t, echo(ipA)), myip, "A"),
	}})
	c := newTestCollector(cfg)
	var r report.Report
	start := time.Now()
	if err := c.Collect(t.Context(), &r); err != nil {
		t.Fatalf("Collect() error = %v", err)
	}
	if elapsed := time.Since(start); elapsed < timeout || elapsed > timeout+time.Second {
		t.Errorf("Collect took %v, want about the %v deadline", elapsed, timeout)
	}
	if r.PublicIP.V4 != ipA {
		t.Errorf("V4 = %q, want %q", r.PublicIP.V4, ipA)
	}
}

func TestCollectCancelledContext(t *testing.T) {
	cfg := prepare(config.PublicIP{Timeout: 5 * time.Second, Providers: []config.Provider{
		dnsProvider("hung", startDNS(t, silent), myip, "A"),
	}})
	c := newTestCollector(cfg)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var r report.Report
	start := time.Now()
	err := c.Collect(ctx, &r)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Collect() error = %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Collect took %v after cancellation", elapsed)
	}
	if r.PublicIP == nil || len(r.PublicIP.Answers) != 1 || r.PublicIP.Answers[0].Error == "" {
		t.Errorf("PublicIP = %+v, want one failed answer", r.PublicIP)
	}
}

// TestCollectQueriesInParallel proves parallelism without timing: each
// server holds its reply until all have been asked, which sequential
// queries would never reach before the deadline.
func TestCollectQueriesInParallel(t *testing.T) {
	const n = 4
	var arrived atomic.Int32
	var once sync.Once
	all := make(chan struct{})
	barrier := func(w dns.ResponseWriter, req *dns.Msg) {
		if arrived.Add(1) == n {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
			echo(ipA)(w, req)
		case <-time.After(3 * time.Second): // bounds a failing test
		}
	}
	var providers []config.Provider
	for i := range n {
		providers = append(providers, dnsProvider(fmt.Sprintf("p%d", i), startDNS(t, barrier), myip, "A"))
	}
	c := newTestCollector(prepare(config.PublicIP{Timeout: 2 * time.Second, Providers: providers}))
	var r report.Report
	if err := c.Collect(t.Context(), &r); err != nil {
		t.Fatalf("Collect() error = %v", err)
	}
	for _, a := range r.PublicIP.Answers {
		if a.IP != ipA {
			t.Errorf("answer %+v, want %s", a, ipA)
		}
	}
}

func TestCollectHostnameServerUsesBothFamilies(t *testing.T) {
	_, port, err := net.SplitHostPort(startDNS(t, echo(ipA)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := prepare(config.PublicIP{Timeout: time.Second, Providers: []config.Provider{
		dnsProvider("byname", net.JoinHostPort("localhost", port), myip, "A"),
	}})
	c := newTestCollector(cfg)
	var r report.Report
	if err := c.Collect(t.Context(), &r); err != nil {
		t.Fatalf("Collect() error = %v", err)
	}
	got := r.PublicIP.Answers
	if len(got) != 2 || got[0].Transport != "udp4" || got[1].Transport != "udp6" {
		t.Fatalf("answers = %+v, want udp4 then udp6", got)
	}
	if got[0].IP != ipA {
		t.Errorf("udp4 answer = %+v, want %s", got[0], ipA)
	}
	// The server listens on 127.0.0.1 only, so the udp6 attempt fails.
	if got[1].Error == "" {
		t.Errorf("udp6 answer = %+v, want an error", got[1])
	}
}

func TestNewAttempts(t *testing.T) {
	tests := []struct {
		name     string
		provider config.Provider
		want     []string // transport, or "error" for a configuration error
	}{
		{"ipv4 literal", dnsProvider("p", "192.0.2.1:53", myip, "A"), []string{"udp4"}},
		{"ipv6 literal", dnsProvider("p", "[2001:db8::1]:53", myip, "AAAA"), []string{"udp6"}},
		{"hostname", dnsProvider("p", "ns1.example:53", myip, "TXT"), []string{"udp4", "udp6"}},
		{"https", config.Provider{Name: "p", Kind: "https", URL: "https://example.com/"}, []string{"https"}},
		{"empty kind is dns", config.Provider{Name: "p", Server: "192.0.2.1:53", Query: myip, Type: "a"}, []string{"udp4"}},
		{"bad class", config.Provider{Name: "p", Server: "192.0.2.1:53", Query: myip, Type: "A", Class: "HS"}, []string{"error"}},
		{"no port", dnsProvider("p", "192.0.2.1", myip, "A"), []string{"error"}},
		{"no query", dnsProvider("p", "192.0.2.1:53", "", "A"), []string{"error"}},
		{"bad kind", config.Provider{Name: "p", Kind: "smtp"}, []string{"error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCollector(config.PublicIP{Providers: []config.Provider{tt.provider}})
			var got []string
			for _, a := range c.attempts {
				if a.err != nil {
					got = append(got, "error")
				} else {
					got = append(got, a.transport)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("attempts of %+v mismatch (-want +got):\n%s", tt.provider, diff)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c := New(config.PublicIP{}, zerolog.Nop())
	if c.Name() != "publicip" {
		t.Errorf("Name() = %q", c.Name())
	}
	if c.timeout != defaultTimeout || c.egress.Query != defaultEgressQuery {
		t.Errorf("timeout %v, egress query %q: want defaults", c.timeout, c.egress.Query)
	}
	if got, want := len(c.attempts), len(DefaultProviders()); got != want {
		t.Errorf("%d attempts, want one per default provider (%d)", got, want)
	}
}

func TestDefaultProvidersValidate(t *testing.T) {
	agent := config.DefaultAgent()
	agent.PublicIP.Providers = DefaultProviders()
	if err := agent.Validate(); err != nil {
		t.Fatalf("default providers do not validate: %v", err)
	}
	want := map[string]string{
		"opendns-v4": "208.67.222.222:53", "opendns-v6": "[2620:119:35::35]:53",
		"google-v4": "216.239.32.10:53", "google-v6": "[2001:4860:4802:32::a]:53",
		"cloudflare-v4": "1.1.1.1:53", "cloudflare-v6": "[2606:4700:4700::1111]:53",
		"akamai-v4": "193.108.88.1:53",
	}
	got := map[string]string{}
	for _, p := range DefaultProviders() {
		got[p.Name] = p.Server
		wantClass := ""
		if p.Query == "whoami.cloudflare." {
			wantClass = "CH"
		}
		if p.Class != wantClass {
			t.Errorf("%s: class %q, want %q", p.Name, p.Class, wantClass)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DefaultProviders() mismatch (-want +got):\n%s", diff)
	}
}

func TestConsensus(t *testing.T) {
	tests := []struct {
		name         string
		in           []string
		v4, v6       string
		wantConflict bool
	}{
		{"none", nil, "", "", false},
		{"one each", []string{ipA, ipV6}, ipA, ipV6, false},
		{"agreement", []string{ipA, ipA, ipA}, ipA, "", false},
		{"tie: first", []string{ipB, ipA}, ipB, "", true},
		{"majority", []string{ipB, ipA, ipA}, ipA, "", true},
		{"v6 conflict only", []string{ipA, ipV6, "2001:db8::8"}, ipA, ipV6, true},
		{"families do not conflict", []string{ipV6, ipA}, ipA, ipV6, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addrs []netip.Addr
			for _, s := range tt.in {
				addrs = append(addrs, mustAddr(t, s))
			}
			v4, v6, conflict := consensus(addrs)
			got := []string{str(v4), str(v6), fmt.Sprint(conflict)}
			want := []string{tt.v4, tt.v6, fmt.Sprint(tt.wantConflict)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("consensus(%v) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// str is a.String(), or "" for the zero address.
func str(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
