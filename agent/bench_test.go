//go:build unix

package agent

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/internal/dnstest"
)

// BenchmarkCollect runs every collector on this machine with four public-IP
// providers on loopback, and reports the CPU time (user+system) and the
// wall time of one collection.
func BenchmarkCollect(b *testing.B) {
	srv := dnstest.Start(b, dnstest.Echo(dnstest.Fixed("203.0.113.7")))
	cfg := config.DefaultAgent()
	cfg.AgentID, cfg.Stores = "bench", []string{"shop-a"}
	cfg.PublicIP.ResolverEgress.Server = srv
	for _, q := range []struct{ name, query, typ, class string }{
		{"opendns", "myip.opendns.com.", "A", ""}, {"google", "o-o.myaddr.l.google.com.", "TXT", ""},
		{"cloudflare", "whoami.cloudflare.", "TXT", "CH"}, {"akamai", "whoami.akamai.net.", "A", ""},
	} {
		cfg.PublicIP.Providers = append(cfg.PublicIP.Providers, config.Provider{Name: q.name, Kind: "dns", Server: srv, Query: q.query, Type: q.typ, Class: q.class})
	}
	cs := Collectors(&cfg, zerolog.Nop())
	ctx := context.Background()
	before := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		if r, _ := Collect(ctx, &cfg, cs, time.Now(), "bench", zerolog.Nop()); r.PublicIP == nil || r.PublicIP.V4 != "203.0.113.7" {
			b.Fatalf("public IP not collected: %+v", r.PublicIP)
		}
	}
	b.ReportMetric(float64(cpuTime()-before)/float64(b.N)/1e6, "cpu-ms/op")
}

// cpuTime is this process's user plus system CPU time (children included,
// as collectors may run commands such as loginctl).
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}
