package publicip

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/storefence/storefence/config"
)

func TestEgressFromReply(t *testing.T) {
	q := dns.Question{Name: "whoami.test.", Qtype: dns.TypeTXT, Qclass: dns.ClassINET}
	tests := []struct {
		name    string
		answer  []dns.RR
		want    []string
		wantErr bool
	}{
		{"ns pair", []dns.RR{txt(q.Name, "ns", ipNS1)}, []string{ipNS1}, false},
		{"ns, ecs, ip and a duplicate", []dns.RR{
			txt(q.Name, "ns", ipNS1), txt(q.Name, "ecs", "198.51.100.0/24/24/0"),
			txt(q.Name, "ip", ipNS2), txt(q.Name, "NS", ipNS1),
		}, []string{ipNS1, ipNS2}, false},
		{"ipv6 resolver", []dns.RR{txt(q.Name, "ns", ipV6)}, []string{ipV6}, false},
		{"ecs only", []dns.RR{txt(q.Name, "ecs", "198.51.100.0/24/24/0")}, nil, true},
		{"not a pair", []dns.RR{txt(q.Name, "ns "+ipNS1), txt(q.Name, "ns", ipNS1, "x")}, nil, true},
		{"bad address", []dns.RR{txt(q.Name, "ns", "resolver.example")}, nil, true},
		{"private resolver egress dropped", []dns.RR{txt(q.Name, "ns", "10.0.0.1"), txt(q.Name, "ns", ipNS2)}, []string{ipNS2}, false},
		{"other owner ignored", []dns.RR{txt("other.test.", "ns", ipNS1)}, nil, true},
		{"empty", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newQuery(q, true)
			in := replyTo(req, func(m *dns.Msg) { m.Answer = tt.answer })
			addrs, err := egressFromReply(req, in, false)
			if (err != nil) != tt.wantErr {
				t.Errorf("egressFromReply() error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, strs(addrs)); diff != "" {
				t.Errorf("egressFromReply() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEgressFromReplyChecksReply(t *testing.T) {
	q := dns.Question{Name: "whoami.test.", Qtype: dns.TypeTXT, Qclass: dns.ClassINET}
	req := newQuery(q, true)
	in := replyTo(req, func(m *dns.Msg) {
		m.Rcode = dns.RcodeServerFailure
		m.Answer = []dns.RR{txt(q.Name, "ns", ipNS1)}
	})
	if _, err := egressFromReply(req, in, false); err == nil {
		t.Error("egressFromReply() accepted a SERVFAIL reply")
	}
}

func TestEgressViaOS(t *testing.T) {
	tests := []struct {
		name    string
		txts    []string
		err     error
		want    []string
		wantErr bool
	}{
		{"joined pairs", []string{"ns" + ipNS1, "ecs198.51.100.0/24/24/0", "ip" + ipNS2, "ns" + ipNS1}, nil, []string{ipNS1, ipNS2}, false},
		{"ipv6", []string{"ns" + ipV6}, nil, []string{ipV6}, false},
		{"nothing usable", []string{"n", "", "xx" + ipNS1}, nil, nil, true},
		{"lookup fails", nil, errors.New("no such host"), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCollector(prepare(config.PublicIP{}))
			c.lookupTXT = func(_ context.Context, name string) ([]string, error) {
				if name != defaultEgressQuery {
					t.Errorf("lookupTXT(%q), want %q", name, defaultEgressQuery)
				}
				return tt.txts, tt.err
			}
			addrs, err := c.egressViaOS(t.Context())
			if (err != nil) != tt.wantErr {
				t.Errorf("egressViaOS() error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, strs(addrs)); diff != "" {
				t.Errorf("egressViaOS() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProbeEgressTriesNextServer(t *testing.T) {
	failing := startDNS(t, rcode(dns.RcodeServerFailure))
	good := startDNS(t, egressHandler())
	c := newTestCollector(prepare(config.PublicIP{}))
	c.egress = config.ResolverEgress{Query: "whoami.test."}
	addrs, err := c.probeServers(t.Context(), []string{failing, good})
	if err != nil {
		t.Fatalf("probeServers() error = %v", err)
	}
	if diff := cmp.Diff([]string{ipNS1, ipNS2}, strs(addrs)); diff != "" {
		t.Errorf("probeServers() mismatch (-want +got):\n%s", diff)
	}
}

// strs returns addrs as strings, nil for none.
func strs(addrs []netip.Addr) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}
