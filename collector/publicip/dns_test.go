package publicip

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

var (
	qA    = dns.Question{Name: myip, Qtype: dns.TypeA, Qclass: dns.ClassINET}
	qAAAA = dns.Question{Name: myip, Qtype: dns.TypeAAAA, Qclass: dns.ClassINET}
	qTXT  = dns.Question{Name: "o-o.myaddr.test.", Qtype: dns.TypeTXT, Qclass: dns.ClassINET}
	qCH   = dns.Question{Name: whoamiCH, Qtype: dns.TypeTXT, Qclass: dns.ClassCHAOS}
)

// replyTo returns a NOERROR reply to req whose answer section edit fills.
func replyTo(req *dns.Msg, edit func(m *dns.Msg)) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	edit(m)
	return m
}

func TestAddrFromReply(t *testing.T) {
	answer := func(ip string) func(m *dns.Msg) {
		return func(m *dns.Msg) { m.Answer = []dns.RR{echoRR(m.Question[0], ip)} }
	}
	tests := []struct {
		name         string
		q            dns.Question
		edit         func(m *dns.Msg)
		allowPrivate bool
		want         string // the address, or "error: " and the error
	}{
		{"a", qA, answer(ipA), false, ipA},
		{"aaaa", qAAAA, answer(ipV6), false, ipV6},
		{"txt", qTXT, answer(ipA), false, ipA},
		{"txt ipv6", qTXT, answer(ipV6), false, ipV6},
		{"txt quoted and spaced", qTXT, answer(` "` + ipA + `" `), false, ipA},
		{"txt v4-mapped is unmapped", qTXT, answer("::ffff:" + ipA), false, ipA},
		{"chaos", qCH, answer(ipA), false, ipA},
		{"wrong id", qA, func(m *dns.Msg) { answer(ipA)(m); m.Id++ }, false, "error: reply id"},
		{"not a response", qA, func(m *dns.Msg) { answer(ipA)(m); m.Response = false }, false, "error: reply is not a response"},
		{"opcode", qA, func(m *dns.Msg) { answer(ipA)(m); m.Opcode = dns.OpcodeNotify }, false, "error: reply opcode 4"},
		{"truncated", qA, func(m *dns.Msg) { answer(ipA)(m); m.Truncated = true }, false, "error: reply is truncated"},
		{"nxdomain", qA, func(m *dns.Msg) { m.Rcode = dns.RcodeNameError }, false, "error: rcode NXDOMAIN"},
		{"unknown rcode", qA, func(m *dns.Msg) { m.Rcode = 13 }, false, "error: rcode 13"},
		{"no question", qA, func(m *dns.Msg) { m.Question = nil }, false, "error: reply has 0 questions"},
		{"other name", qA, func(m *dns.Msg) { m.Question[0].Name = "x.test."; answer(ipA)(m) }, false,
			"error: reply is for another question: x.test. IN A"},
		{"other type", qA, func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA }, false,
			"error: reply is for another question: myip.test. IN AAAA"},
		{"other class", qCH, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassINET; answer(ipA)(m) }, false,
			"error: reply is for another question: whoami.cloudflare. IN TXT"},
		{"name case ignored", qA, func(m *dns.Msg) {
			m.Question[0].Name = "MYIP.test."
			answer(ipA)(m)
		}, false, ipA},
		{"record class differs", qCH, func(m *dns.Msg) {
			m.Answer = []dns.RR{txt(whoamiCH, ipA)} // class IN
		}, false, "error: empty answer: no TXT record for whoami.cloudflare."},
		{"record type differs", qA, func(m *dns.Msg) {
			m.Answer = []dns.RR{txt(myip, ipA)}
		}, false, "error: empty answer"},
		{"record owner differs, other ignored", qA, func(m *dns.Msg) {
			q := m.Question[0]
			other := q
			other.Name = "evil.test."
			m.Answer = []dns.RR{echoRR(other, ipB), echoRR(q, ipA)}
		}, false, ipA},
		{"cname is not followed", qA, func(m *dns.Msg) {
			m.Answer = []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: myip, Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: "x.test."}}
		}, false, "error: empty answer"},
		{"aaaa holding an ipv4-mapped address", qAAAA, func(m *dns.Msg) {
			m.Answer = []dns.RR{&dns.AAAA{Hdr: dns.RR_Header{Name: myip, Rrtype: dns.TypeAAAA, Class: dns.ClassINET}, AAAA: net.ParseIP("::ffff:" + ipA)}}
		}, false, "error: malformed answer: no address in 1 AAAA records"},
		{"google ecs string", qTXT, func(m *dns.Msg) {
			m.Answer = []dns.RR{txt(qTXT.Name, ipA, "edns0-client-subnet 198.51.100.0/24")}
		}, false, ipA},
		{"malformed txt", qTXT, func(m *dns.Msg) {
			m.Answer = []dns.RR{txt(qTXT.Name, "hello"), txt(qTXT.Name, "203.0.113.300")}
		}, false, "error: malformed answer: no address in 2 TXT records"},
		{"duplicate records count once", qA, func(m *dns.Msg) { answer(ipA)(m); m.Answer = append(m.Answer, m.Answer[0]) }, false, ipA},
		{"two addresses are ambiguous", qA, func(m *dns.Msg) {
			m.Answer = []dns.RR{echoRR(m.Question[0], ipA), echoRR(m.Question[0], ipB)}
		}, false, "error: ambiguous answer: " + ipA + " and " + ipB},
		{"private rejected", qA, answer("192.168.1.2"), false, "error: address 192.168.1.2 is not public"},
		{"private allowed", qA, answer("192.168.1.2"), true, "192.168.1.2"},
		{"loopback rejected", qA, answer("127.0.0.1"), false, "error: address 127.0.0.1 is not public"},
		{"ula rejected", qAAAA, answer("fd00::1"), false, "error: address fd00::1 is not public"},
		{"multicast rejected even when allowed", qA, answer("224.0.0.1"), true, "error: address 224.0.0.1 is not unicast"},
		{"txt zone rejected", qTXT, answer("fe80::1%eth0"), true, "error: address fe80::1%eth0 has a zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newQuery(tt.q, false)
			in := replyTo(req, tt.edit)
			// Round-trip through the wire format, as a real reply would.
			packed, err := in.Pack()
			if err != nil {
				t.Fatal(err)
			}
			in = new(dns.Msg)
			if err := in.Unpack(packed); err != nil {
				t.Fatal(err)
			}
			addr, err := addrFromReply(req, in, tt.allowPrivate)
			got := str(addr)
			if err != nil {
				got = "error: " + err.Error()
				if len(tt.want) < len(got) && got[:len(tt.want)] == tt.want {
					got = tt.want // the rest of the message is detail
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("addrFromReply() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewQuery(t *testing.T) {
	m := newQuery(qCH, false)
	if m.RecursionDesired {
		t.Error("echo query asks for recursion")
	}
	if got := m.Question[0]; got != qCH {
		t.Errorf("question = %v, want %v", got, qCH)
	}
	if opt := m.IsEdns0(); opt == nil || opt.UDPSize() != ednsSize {
		t.Errorf("EDNS0 = %v, want a %d-byte buffer", opt, ednsSize)
	}
	if !newQuery(qTXT, true).RecursionDesired {
		t.Error("resolver query does not ask for recursion")
	}
}

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		in           string
		allowPrivate bool
		wantErr      bool
	}{
		{ipA, false, false},
		{"192.0.2.1", false, false},
		{"198.51.100.1", false, false},
		{ipV6, false, false},
		{"8.8.8.8", false, false},
		{"2606:4700:4700::1111", false, false},
		{"10.0.0.1", false, true},
		{"172.16.0.1", false, true},
		{"192.168.0.1", false, true},
		{"100.64.0.1", false, true},
		{"100.127.255.254", false, true},
		{"127.0.0.1", false, true},
		{"169.254.1.1", false, true},
		{"0.1.2.3", false, true},
		{"198.18.0.1", false, true},
		{"240.0.0.1", false, true},
		{"::1", false, true},
		{"fe80::1", false, true},
		{"fc00::1", false, true},
		{"fd12::1", false, true},
		{"100::1", false, true},
		{"10.0.0.1", true, false},
		{"100.64.0.1", true, false},
		{"127.0.0.1", true, false},
		{"fd12::1", true, false},
		{"0.0.0.0", true, true},
		{"::", true, true},
		{"255.255.255.255", true, true},
		{"239.1.1.1", true, true},
		{"ff02::1", true, true},
		{"::ffff:203.0.113.7", true, true},
	}
	for _, tt := range tests {
		err := checkAddr(mustAddr(t, tt.in), tt.allowPrivate)
		if (err != nil) != tt.wantErr {
			t.Errorf("checkAddr(%s, allowPrivate=%v) = %v, want error %v", tt.in, tt.allowPrivate, err, tt.wantErr)
		}
	}
}
