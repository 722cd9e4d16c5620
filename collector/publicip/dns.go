package publicip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/storefence/storefence/config"
)

// ednsSize is the UDP payload size we advertise: the DNS flag day 2020
// value, which avoids IP fragmentation. Without EDNS0 replies stop at 512
// bytes.
const ednsSize = 1232

// dnsAttempts returns the attempts of DNS provider p: one over the family
// of its server's address, or one per family when the server is a hostname.
func dnsAttempts(p config.Provider) []attempt {
	a := attempt{provider: p.Name, kind: kindDNS, server: p.Server, transport: "udp"}
	q, err := providerQuestion(p)
	if err != nil {
		a.err = err
		return []attempt{a}
	}
	a.question = q
	networks, err := udpNetworks(p.Server)
	if err != nil {
		a.err = err
		return []attempt{a}
	}
	out := make([]attempt, len(networks))
	for i, n := range networks {
		a.transport = n
		out[i] = a
	}
	return out
}

// providerQuestion returns the question that DNS provider p asks.
func providerQuestion(p config.Provider) (dns.Question, error) {
	qtype := dns.StringToType[strings.ToUpper(p.Type)]
	if qtype != dns.TypeA && qtype != dns.TypeAAAA && qtype != dns.TypeTXT {
		return dns.Question{}, fmt.Errorf("type %q: must be A, AAAA or TXT", p.Type)
	}
	var qclass uint16
	switch strings.ToUpper(p.Class) {
	case "", "IN":
		qclass = dns.ClassINET
	case "CH":
		qclass = dns.ClassCHAOS
	default:
		return dns.Question{}, fmt.Errorf("class %q: must be IN or CH", p.Class)
	}
	name := dns.Fqdn(p.Query)
	if _, ok := dns.IsDomainName(name); !ok || p.Query == "" {
		return dns.Question{}, fmt.Errorf("query %q: not a domain name", p.Query)
	}
	return dns.Question{Name: name, Qtype: qtype, Qclass: qclass}, nil
}

// udpNetworks returns the networks to reach server over: the family of an
// address literal, or both families for a hostname.
func udpNetworks(server string) ([]string, error) {
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", server, err)
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return []string{"udp4", "udp6"}, nil
	case ip.Unmap().Is4():
		return []string{"udp4"}, nil
	default:
		return []string{"udp6"}, nil
	}
}

// queryDNS asks a's question of a's server and returns the echoed address,
// with the transport that carried the final reply.
func (c *Collector) queryDNS(ctx context.Context, a attempt) result {
	req := newQuery(a.question, false)
	in, transport, err := c.exchange(ctx, a.transport, a.server, req)
	if err != nil {
		return result{transport: transport, err: err}
	}
	addr, err := addrFromReply(req, in, c.allowPrivate)
	return result{addr: addr, transport: transport, err: err}
}

// newQuery returns a query for q that advertises EDNS0. SetQuestion would
// force class IN and recursion; both are set here as asked.
func newQuery(q dns.Question, recursion bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(q.Name, q.Qtype)
	m.Question[0].Qclass = q.Qclass
	m.RecursionDesired = recursion
	m.SetEdns0(ednsSize, false)
	return m
}

// exchange sends req to server over network ("udp", "udp4" or "udp6") and
// returns the reply and the transport that carried it. miekg/dns does not
// fall back to TCP by itself: a truncated UDP reply (TC set, partial answer,
// no error) is asked again over TCP of the same family.
func (c *Collector) exchange(ctx context.Context, network, server string, req *dns.Msg) (*dns.Msg, string, error) {
	in, err := c.exchangeOnce(ctx, network, server, req)
	if err != nil || !in.Truncated {
		return in, network, err
	}
	tcp := "tcp" + strings.TrimPrefix(network, "udp")
	in, err = c.exchangeOnce(ctx, tcp, server, req)
	if err != nil {
		return nil, tcp, fmt.Errorf("retry of truncated reply: %w", err)
	}
	return in, tcp, nil
}

// exchangeOnce performs one exchange. Closing the connection when ctx ends
// makes a cancellation as prompt as the deadline. Over UDP, miekg/dns skips
// replies whose id differs from req's and keeps waiting for the right one;
// over TCP it returns dns.ErrId.
func (c *Collector) exchangeOnce(ctx context.Context, network, server string, req *dns.Msg) (*dns.Msg, error) {
	client := &dns.Client{Net: network, Timeout: c.timeout}
	conn, err := client.DialContext(ctx, server)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	in, _, err := client.ExchangeWithConnContext(ctx, req, conn)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	return in, nil
}

// addrFromReply returns the address that the reply in to req echoes, after
// checking in against req and the address against checkAddr.
func addrFromReply(req, in *dns.Msg, allowPrivate bool) (netip.Addr, error) {
	if err := checkReply(req, in); err != nil {
		return netip.Addr{}, err
	}
	q := req.Question[0]
	rrs := answerRRs(q, in.Answer)
	if len(rrs) == 0 {
		return netip.Addr{}, fmt.Errorf("empty answer: no %s record for %s", dns.Type(q.Qtype), q.Name)
	}
	var addrs []netip.Addr
	for _, rr := range rrs {
		addrs = append(addrs, rrAddrs(rr)...)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("malformed answer: no address in %d %s records", len(rrs), dns.Type(q.Qtype))
	}
	return pickAddr(addrs, allowPrivate)
}

// checkReply returns an error unless in is a successful reply to req's one
// question: same id, the response flag set, a query opcode, not truncated,
// rcode NOERROR, and the same question (name compared without case).
func checkReply(req, in *dns.Msg) error {
	switch {
	case len(req.Question) != 1:
		return errors.New("query must have one question")
	case in.Id != req.Id:
		return fmt.Errorf("reply id %d does not match query id %d", in.Id, req.Id)
	case !in.Response:
		return errors.New("reply is not a response")
	case in.Opcode != dns.OpcodeQuery:
		return fmt.Errorf("reply opcode %d", in.Opcode)
	case in.Truncated:
		return errors.New("reply is truncated")
	case in.Rcode != dns.RcodeSuccess:
		return fmt.Errorf("rcode %s", rcodeString(in.Rcode))
	case len(in.Question) != 1:
		return fmt.Errorf("reply has %d questions", len(in.Question))
	}
	got, want := in.Question[0], req.Question[0]
	if !sameName(got.Name, want.Name) || got.Qtype != want.Qtype || got.Qclass != want.Qclass {
		return fmt.Errorf("reply is for another question: %s %s %s",
			got.Name, dns.Class(got.Qclass), dns.Type(got.Qtype))
	}
	return nil
}

// answerRRs returns the records of rrs that answer q: same owner name
// (without case), type and class. Others, such as RRSIGs or records that an
// interceptor adds, are ignored. CNAME chains are not followed: no echo
// service uses them.
func answerRRs(q dns.Question, rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == q.Qtype && h.Class == q.Qclass && sameName(h.Name, q.Name) {
			out = append(out, rr)
		}
	}
	return out
}

// rrAddrs returns the addresses that rr carries: an A record's IPv4 address,
// an AAAA record's IPv6 address, or every TXT string that is an address
// (Google may add a string such as "edns0-client-subnet 198.51.100.0/24").
func rrAddrs(rr dns.RR) []netip.Addr {
	switch v := rr.(type) {
	case *dns.A:
		if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
			return []netip.Addr{a}
		}
	case *dns.AAAA:
		if a, ok := netip.AddrFromSlice(v.AAAA); ok && a.Is6() && !a.Is4In6() {
			return []netip.Addr{a}
		}
	case *dns.TXT:
		var out []netip.Addr
		for _, s := range v.Txt {
			if a, ok := parseTextAddr(s); ok {
				out = append(out, a)
			}
		}
		return out
	}
	return nil
}

// parseTextAddr parses s, an address written as text, tolerating the
// surrounding space and quotes that some services add. miekg/dns keeps TXT
// strings in presentation form, where a quote is escaped as \", so
// backslashes are trimmed too; no address contains either.
func parseTextAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(s), `\"`))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// sameName reports whether two domain names are equal, ignoring ASCII case
// (RFC 4343).
func sameName(a, b string) bool {
	return dns.CanonicalName(a) == dns.CanonicalName(b)
}

// rcodeString names rcode, such as "NXDOMAIN".
func rcodeString(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprintf("%d", rcode)
}
