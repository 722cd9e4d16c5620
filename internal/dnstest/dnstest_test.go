package dnstest

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

func TestEchoOverUDPAndTCP(t *testing.T) {
	addr := Start(t, Echo(Source))
	for _, netw := range []string{"udp", "tcp"} {
		for _, q := range []uint16{dns.TypeA, dns.TypeTXT} {
			m := new(dns.Msg)
			m.SetQuestion("myip.test.", q)
			in, _, err := (&dns.Client{Net: netw}).Exchange(m, addr)
			if err != nil {
				t.Fatalf("%s %s: %v", netw, dns.TypeToString[q], err)
			}
			if len(in.Answer) != 1 {
				t.Fatalf("%s %s: %d answers, want 1", netw, dns.TypeToString[q], len(in.Answer))
			}
			var got string
			switch rr := in.Answer[0].(type) {
			case *dns.A:
				got = rr.A.String()
			case *dns.TXT:
				got = rr.Txt[0]
			}
			if got != "127.0.0.1" {
				t.Errorf("%s %s: echoed %q, want the source 127.0.0.1", netw, dns.TypeToString[q], got)
			}
		}
	}
}

func TestFixedAndWrongFamily(t *testing.T) {
	addr := Start(t, Echo(Fixed("2001:db8::1")))
	m := new(dns.Msg)
	m.SetQuestion("myip.test.", dns.TypeA)
	in, _, err := new(dns.Client).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Answer) != 0 {
		t.Errorf("an A question got an answer for an IPv6 address: %v", in.Answer)
	}
	if Source(&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1)}).String() != "192.0.2.1" {
		t.Error("Source of a TCP address")
	}
}
