package publicip

import (
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// fuzzID is the id of every fuzzed query, so that seeds can match it.
const fuzzID = 0x5eed

// fuzzQuery returns the query for q with id fuzzID.
func fuzzQuery(q dns.Question, recursion bool) *dns.Msg {
	m := newQuery(q, recursion)
	m.Id = fuzzID
	return m
}

// addPacked adds the wire form of each reply as a seed.
func addPacked(f *testing.F, replies ...*dns.Msg) {
	f.Helper()
	for _, m := range replies {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzAddrFromReply feeds arbitrary DNS messages to the validation and
// extraction of echo replies: it must not panic, and what it accepts must
// be an address of the asked type that checkAddr accepts.
func FuzzAddrFromReply(f *testing.F) {
	questions := []dns.Question{qA, qAAAA, qTXT, qCH}
	for _, q := range questions {
		req := fuzzQuery(q, false)
		addPacked(f,
			replyTo(req, func(m *dns.Msg) { m.Answer = []dns.RR{echoRR(q, ipA)} }),
			replyTo(req, func(m *dns.Msg) { m.Answer = []dns.RR{echoRR(q, ipV6)} }),
			replyTo(req, func(m *dns.Msg) { m.Answer = []dns.RR{txt(q.Name, "edns0-client-subnet 198.51.100.0/24", ipA)} }),
			replyTo(req, func(m *dns.Msg) { m.Rcode = dns.RcodeNameError }),
		)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := new(dns.Msg)
		if in.Unpack(data) != nil {
			return
		}
		for _, q := range questions {
			for _, allowPrivate := range []bool{false, true} {
				addr, err := addrFromReply(fuzzQuery(q, false), in, allowPrivate)
				if err != nil {
					continue
				}
				if err := checkAddr(addr, allowPrivate); err != nil {
					t.Fatalf("accepted %s for %v: %v", addr, q, err)
				}
				if (q.Qtype == dns.TypeA && !addr.Is4()) || (q.Qtype == dns.TypeAAAA && !addr.Is6()) {
					t.Fatalf("accepted %s for a %s question", addr, dns.Type(q.Qtype))
				}
			}
		}
	})
}

// FuzzParseBody feeds arbitrary HTTPS bodies to parseBody: it must not
// panic, and what it accepts must be a valid, unmapped address.
func FuzzParseBody(f *testing.F) {
	for _, s := range []string{ipA, ipV6 + "\n", `{"ip":"` + ipA + `"}`, `{"ip":1}`, "", "<html>", `{"ip":"::ffff:` + ipA + `"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		addr, err := parseBody(body)
		if err != nil {
			return
		}
		if !addr.IsValid() || addr.Is4In6() {
			t.Fatalf("parseBody(%q) = %v", body, addr)
		}
		checkAddr(addr, false) // must not panic either
	})
}

// FuzzResolverEgress feeds arbitrary DNS messages to egressFromReply, and
// arbitrary strings to joinedEgressAddr: they must not panic, and the
// addresses returned must be distinct and accepted by checkAddr.
func FuzzResolverEgress(f *testing.F) {
	q := dns.Question{Name: defaultEgressQuery, Qtype: dns.TypeTXT, Qclass: dns.ClassINET}
	req := fuzzQuery(q, true)
	reply, err := replyTo(req, func(m *dns.Msg) {
		m.Answer = []dns.RR{txt(q.Name, "ns", ipNS1), txt(q.Name, "ecs", "198.51.100.0/24/24/0"), txt(q.Name, "ip", ipNS2)}
	}).Pack()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(reply, "ns"+ipNS1)
	f.Add([]byte{}, "ecs198.51.100.0/24/24/0")
	f.Add([]byte{}, "ip"+ipV6)
	f.Fuzz(func(t *testing.T, data []byte, joined string) {
		if a, ok := joinedEgressAddr(joined); ok && !a.IsValid() {
			t.Fatalf("joinedEgressAddr(%q) = %v, true", joined, a)
		}
		in := new(dns.Msg)
		if in.Unpack(data) != nil {
			return
		}
		addrs, err := egressFromReply(req, in, false)
		if err != nil {
			return
		}
		for i, a := range addrs {
			if err := checkAddr(a, false); err != nil || slices.Contains(addrs[:i], a) {
				t.Fatalf("egressFromReply() = %v: %v is invalid or repeated", addrs, a)
			}
		}
	})
}
