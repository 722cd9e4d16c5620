//go:build linux

package agent

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/internal/dnstest"
)

// sample is the process's footprint at one cycle.
type sample struct {
	cycle      int
	rss, heap  int64 // bytes: VmRSS, and the live heap after a GC
	goroutines int
	fds        int
	cpu        time.Duration // user+system so far
}

func takeSample(cycle int) sample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, _ := os.ReadDir("/proc/self/fd")
	return sample{cycle: cycle, rss: vmRSS(), heap: int64(ms.HeapAlloc), goroutines: runtime.NumGoroutine(), fds: len(fds), cpu: cpuTime()}
}

// vmRSS reads VmRSS from /proc/self/status, in bytes.
func vmRSS() int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkDaemonSteadyState runs the daemon, with the real cron and every
// collector, on a schedule as fast as it can go, for 1,000 cycles
// (STOREFENCE_SOAK_CYCLES), public-IP providers on loopback (dnstest) and
// a loopback server that takes every report. It samples RSS, the live
// heap, goroutines and open file descriptors at cycle 100 and at the end,
// fails when they grew, and reports CPU per cycle. Run it alone:
//
//	go test -run='^$' -bench=DaemonSteadyState -benchtime=1x ./agent/
func BenchmarkDaemonSteadyState(b *testing.B) {
	cycles := 1000
	if n, err := strconv.Atoi(os.Getenv("STOREFENCE_SOAK_CYCLES")); err == nil && n > 100 {
		cycles = n
	}
	dns := dnstest.Start(b, dnstest.Echo(dnstest.Fixed("203.0.113.7")))
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err == nil {
			io.Copy(io.Discard, zr)
		}
		received.Add(1)
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"accepted"}`)
	}))
	defer srv.Close()
	tok := filepath.Join(b.TempDir(), "token")
	os.WriteFile(tok, []byte("sft_bench\n"), 0o600)
	client, err := NewClient(srv.URL, tok, "")
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig()
	cfg.PublicIP.ResolverEgress.Server = dns
	for _, q := range []struct{ name, query, typ, class string }{
		{"opendns", "myip.opendns.com.", "A", ""}, {"google", "o-o.myaddr.l.google.com.", "TXT", ""},
		{"cloudflare", "whoami.cloudflare.", "TXT", "CH"}, {"akamai", "whoami.akamai.net.", "A", ""},
	} {
		cfg.PublicIP.Providers = append(cfg.PublicIP.Providers, config.Provider{Name: q.name, Kind: "dns", Server: dns, Query: q.query, Type: q.typ, Class: q.class})
	}
	spool := openSpool(b, b.TempDir(), SpoolOptions{MaxBytes: 64 << 20, MaxAge: 30 * 24 * time.Hour, RejectedMax: 100})
	d, err := NewDaemon(DaemonOptions{Config: cfg, Collectors: Collectors(cfg, zerolog.Nop()), Spool: spool, Sender: client,
		Log: zerolog.Nop(), Schedule: every(time.Millisecond)})
	if err != nil {
		b.Fatal(err)
	}
	samples := make(chan sample, 2)
	n := 0
	done := make(chan struct{})
	var failed []string
	d.afterRun = func(r RunResult) {
		n++
		if !r.Delivered && n <= cycles { // later runs meet the stop
			failed = append(failed, strconv.Itoa(n))
		}
		switch n {
		case 100:
			samples <- takeSample(n)
		case cycles:
			samples <- takeSample(n)
			close(done)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	start := time.Now()
	go func() { runErr <- d.Run(ctx) }()
	<-done
	wall := time.Since(start)
	cancel()
	if err := <-runErr; err != nil {
		b.Fatal(err)
	}
	a, z := <-samples, <-samples
	if len(failed) > 0 {
		b.Errorf("%d cycles did not deliver their report (first: %s)", len(failed), failed[0])
	}
	per := float64(z.cycle - a.cycle)
	b.ReportMetric(float64(z.cpu-a.cpu)/per/1e6, "cpu-ms/cycle")
	b.ReportMetric(float64(wall)/float64(cycles)/1e6, "wall-ms/cycle")
	b.ReportMetric(float64(a.rss)/(1<<20), "rss-MiB@100")
	b.ReportMetric(float64(z.rss)/(1<<20), "rss-MiB@end")
	b.ReportMetric(float64(a.heap)/(1<<20), "heap-MiB@100")
	b.ReportMetric(float64(z.heap)/(1<<20), "heap-MiB@end")
	b.ReportMetric(float64(a.goroutines), "goroutines@100")
	b.ReportMetric(float64(z.goroutines), "goroutines@end")
	b.ReportMetric(float64(a.fds), "fds@100")
	b.ReportMetric(float64(z.fds), "fds@end")
	b.Logf("cycles %d, wall %v, server received %d", cycles, wall.Round(time.Millisecond), received.Load())
	if z.goroutines > a.goroutines+2 || z.fds > a.fds+2 {
		b.Errorf("leak: goroutines %d → %d, fds %d → %d", a.goroutines, z.goroutines, a.fds, z.fds)
	}
	if z.heap > a.heap+a.heap/2+(1<<20) || z.rss > a.rss+a.rss/4+(8<<20) {
		b.Errorf("memory grew: heap %d → %d, rss %d → %d", a.heap, z.heap, a.rss, z.rss)
	}
}
