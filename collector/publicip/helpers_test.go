package publicip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/internal/dnstest"
	"github.com/storefence/storefence/report"
)

// Test addresses: documentation ranges, which checkAddr accepts.
const (
	ipA   = "203.0.113.7"
	ipB   = "198.51.100.9"
	ipV6  = "2001:db8::7"
	ipNS1 = "203.0.113.53"
	ipNS2 = "203.0.113.54"

	myip     = "myip.test."
	whoamiCH = "whoami.cloudflare."
)

// startDNS starts h on UDP and TCP on one loopback port and returns that
// address ("127.0.0.1:port"). The servers stop when the test ends.
func startDNS(tb testing.TB, h dns.HandlerFunc) string { return dnstest.Start(tb, h) }

// startRawUDP starts a UDP responder that is not a DNS server: for each
// query it sends the packets that respond returns, whatever they hold.
func startRawUDP(tb testing.TB, respond func(req *dns.Msg) [][]byte) string {
	tb.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed by Cleanup
			}
			req := new(dns.Msg)
			if req.Unpack(buf[:n]) != nil {
				continue
			}
			for _, p := range respond(req) {
				pc.WriteTo(p, from)
			}
		}
	}()
	tb.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().String()
}

// respond returns a handler that replies to each query with the reply that
// fill completes; fill starts from a NOERROR reply with the query's question.
func respond(fill func(req, m *dns.Msg)) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		fill(req, m)
		w.WriteMsg(m)
	}
}

// echo returns an echo server's handler: it answers any A, AAAA or TXT
// question with ip, in the question's class. It answers REFUSED to a query
// that asks for recursion and FORMERR to one without EDNS0 of ednsSize,
// since echo queries must have neither.
func echo(ip string) dns.HandlerFunc {
	return respond(func(req, m *dns.Msg) {
		if !checkEchoQuery(req, m) {
			return
		}
		m.Answer = []dns.RR{echoRR(req.Question[0], ip)}
	})
}

// checkEchoQuery sets m's rcode and returns false when req is not shaped as
// the collector's echo queries should be.
func checkEchoQuery(req, m *dns.Msg) bool {
	switch opt := req.IsEdns0(); {
	case req.RecursionDesired:
		m.Rcode = dns.RcodeRefused
	case opt == nil || opt.UDPSize() != ednsSize:
		m.Rcode = dns.RcodeFormatError
	default:
		return true
	}
	return false
}

// echoRR returns the record of q's type that carries ip.
func echoRR(q dns.Question, ip string) dns.RR {
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: q.Qclass, Ttl: 60}
	switch q.Qtype {
	case dns.TypeA:
		return &dns.A{Hdr: hdr, A: net.ParseIP(ip)}
	case dns.TypeAAAA:
		return &dns.AAAA{Hdr: hdr, AAAA: net.ParseIP(ip)}
	default:
		return &dns.TXT{Hdr: hdr, Txt: []string{ip}}
	}
}

// txt returns a TXT record of name in class IN with strings ss.
func txt(name string, ss ...string) dns.RR {
	return &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: ss}
}

// rcode returns a handler that answers every query with rcode.
func rcode(rc int) dns.HandlerFunc {
	return respond(func(_, m *dns.Msg) { m.Rcode = rc })
}

// silent is a handler that never replies.
func silent(dns.ResponseWriter, *dns.Msg) {}

// dnsProvider returns a DNS provider config for server.
func dnsProvider(name, server, query, typ string) config.Provider {
	return config.Provider{Name: name, Kind: kindDNS, Server: server, Query: query, Type: typ}
}

// newTestCollector returns a collector for cfg whose HTTPS client ignores
// the environment's proxy, so tests never leave the machine.
func newTestCollector(cfg config.PublicIP) *Collector {
	c := New(cfg, zerolog.Nop())
	c.httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	return c
}

// okAnswer is a valid answer as the report lists it, without its RTT.
func okAnswer(provider, kind, transport, ip string) report.Answer {
	return report.Answer{Provider: provider, Kind: kind, Transport: transport, IP: ip}
}

// failedAnswer is a failed answer whose error contains errPart.
func failedAnswer(provider, kind, transport, errPart string) report.Answer {
	return report.Answer{Provider: provider, Kind: kind, Transport: transport, Error: errPart}
}

// normalise prepares got for comparison with want: RTTs are zeroed, and an
// error that contains the wanted error text becomes that text, since error
// messages carry ephemeral ports.
func normalise(got, want *report.PublicIP) *report.PublicIP {
	if got == nil || want == nil {
		return got
	}
	out := *got
	out.Answers = make([]report.Answer, len(got.Answers))
	for i, a := range got.Answers {
		a.RTTMs = 0
		if i < len(want.Answers) && want.Answers[i].Error != "" && strings.Contains(a.Error, want.Answers[i].Error) {
			a.Error = want.Answers[i].Error
		}
		out.Answers[i] = a
	}
	return &out
}

// mustAddr parses s or fails the test.
func mustAddr(tb testing.TB, s string) netip.Addr {
	tb.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// delayed wraps h so that it answers after d: simulated network latency,
// not synchronisation.
func delayed(d time.Duration, h dns.HandlerFunc) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		t := time.NewTimer(d)
		defer t.Stop()
		<-t.C
		h(w, req)
	}
}
