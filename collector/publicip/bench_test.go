package publicip

import (
	"testing"
	"time"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/report"
)

// benchmarkCollect measures Collect against four loopback providers (A,
// TXT, CHAOS TXT and AAAA) that each answer after delay.
func benchmarkCollect(b *testing.B, delay time.Duration) {
	wrap := func(ip string) string {
		h := echo(ip)
		if delay > 0 {
			h = delayed(delay, h)
		}
		return startDNS(b, h)
	}
	ch := dnsProvider("cloudflare", wrap(ipA), whoamiCH, "TXT")
	ch.Class = "CH"
	cfg := prepare(config.PublicIP{Timeout: 2 * time.Second, Providers: []config.Provider{
		dnsProvider("opendns", wrap(ipA), myip, "A"),
		dnsProvider("google", wrap(ipA), "o-o.myaddr.test.", "TXT"),
		ch,
		dnsProvider("opendns-v6", wrap(ipV6), myip, "AAAA"),
	}})
	c := newTestCollector(cfg)
	b.ReportAllocs()
	for b.Loop() {
		var r report.Report
		if err := c.Collect(b.Context(), &r); err != nil {
			b.Fatal(err)
		}
		if r.PublicIP.V4 != ipA || r.PublicIP.V6 != ipV6 || r.PublicIP.Conflict {
			b.Fatalf("PublicIP = %+v", r.PublicIP)
		}
	}
}

// BenchmarkCollect queries four providers that answer at once.
func BenchmarkCollect(b *testing.B) { benchmarkCollect(b, 0) }

// BenchmarkCollectDelayed queries four providers that each answer after
// 50 ms: about 50 ms per operation shows that they are asked in parallel
// (sequential queries would take 200 ms).
func BenchmarkCollectDelayed(b *testing.B) { benchmarkCollect(b, 50*time.Millisecond) }
