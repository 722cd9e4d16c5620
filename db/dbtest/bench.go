package dbtest

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

// Workload is the synthetic fleet of the PutReport benchmarks. Each agent
// reports the same machine every time (nine stable observations) plus one
// session origin drawn from Origins: ten observations a report, most of them
// updating a sighting, some adding one.
type Workload struct {
	Agents  int // distinct agents; two per store
	Origins int // distinct session origins per agent
}

// DefaultWorkload is 10,000 agents with 200 origins each.
func DefaultWorkload() Workload { return Workload{Agents: 10000, Origins: 200} }

func (w Workload) agent(i int) string    { return fmt.Sprintf("agent-%05d", i) }
func (w Workload) stores(i int) []string { return []string{fmt.Sprintf("shop-%05d", i/2)} }
func (w Workload) origin(i, o int) string {
	return fmt.Sprintf("10.%d.%d.%d", o%200, (i>>8)&255, i&255)
}

// Report returns report id of agent i with origin o, collected at t.
func (w Workload) Report(id string, i, o int, t time.Time) *report.Report {
	mac := func(k int) string { return fmt.Sprintf("52:54:%02x:%02x:%02x:%02x", k, (i>>16)&255, (i>>8)&255, i&255) }
	return &report.Report{
		Schema:      report.Schema,
		ID:          id,
		Agent:       w.agent(i),
		Stores:      w.stores(i),
		CollectedAt: t,
		Version:     "1.0.0",
		PublicIP:    &report.PublicIP{V4: fmt.Sprintf("198.18.%d.%d", (i>>8)&255, i&255)},
		Device: &report.Device{
			HostID:      fmt.Sprintf("host-%08x", i),
			MachineID:   fmt.Sprintf("machine-%08x", i),
			Hostname:    w.agent(i) + ".example",
			MACs:        []string{mac(1), mac(2)},
			DiskSerials: []string{fmt.Sprintf("disk-%08x", i)},
		},
		Network:  &report.Network{GatewayMAC: fmt.Sprintf("00:1b:%02x:%02x:%02x:01", (i>>16)&255, (i>>8)&255, i&255)},
		Sessions: []report.Session{{User: "ops", Origin: w.origin(i, o), Started: t.Add(-time.Hour)}},
	}
}

// Preload yields about n sightings of the workload's history, sorted by
// agent, signal, value and stores (the order a bulk insert wants), with
// each agent's stores. Every agent gets its stable observations and
// origins; n is spread evenly.
func (w Workload) Preload(n int) iter.Seq[policy.Sighting] {
	return func(yield func(policy.Sighting) bool) {
		perAgent := max(n/w.Agents, 10)
		t := T0().Add(-24 * time.Hour)
		for i := range w.Agents {
			r := w.Report("", i, 0, t)
			var ss []policy.Sighting
			add := func(signal, value string) {
				ss = append(ss, policy.Sighting{Agent: r.Agent, Stores: r.Stores, Signal: signal, Value: value,
					FirstSeen: t, LastSeen: t, Count: 1})
			}
			for _, ob := range policy.Observe(r) { // nine stable observations and origin 0
				add(ob.Signal, ob.Value)
			}
			for o := 1; o < perAgent-9; o++ {
				add(policy.SessionOrigin, w.origin(i, o))
			}
			slices.SortFunc(ss, func(a, b policy.Sighting) int {
				return cmp.Or(strings.Compare(a.Signal, b.Signal), strings.Compare(a.Value, b.Value))
			})
			for _, s := range ss {
				if !yield(s) {
					return
				}
			}
		}
	}
}

// Bench is what BenchPutReport measured.
type Bench struct {
	Reports  int
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// PerSecond is the throughput.
func (r Bench) PerSecond() float64 { return float64(r.Reports) / r.Elapsed.Seconds() }

// BenchPutReport runs b.N PutReport calls of random agents of w from
// parallelism×GOMAXPROCS goroutines. With rate > 0 the calls are paced
// (open loop) at rate per second and latency counts from when each call was
// due, so that a stall is not hidden; otherwise every goroutine calls as
// fast as it can. It reports reports/s, p50 and p99 latency.
func BenchPutReport(b *testing.B, d db.DB, w Workload, parallelism int, rate float64) Bench {
	prefix := fmt.Sprintf("bench-%d-", time.Now().UnixNano())
	var next, seed atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	var failed atomic.Int64
	start := time.Now()
	interval := time.Duration(0)
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	raw := []byte(strings.Repeat("x", 1024)) // a report's size; its content does not matter here
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(seed.Add(1))))
		var mine []time.Duration
		for pb.Next() {
			k := next.Add(1)
			due := time.Now()
			if interval > 0 {
				due = start.Add(time.Duration(k) * interval)
				time.Sleep(time.Until(due))
			}
			i := rng.IntN(w.Agents)
			r := w.Report(prefix+fmt.Sprint(k), i, rng.IntN(w.Origins), T0().Add(time.Duration(k)*time.Millisecond))
			in := &db.Ingest{Report: r, Raw: raw, Observed: policy.Observe(r), ReceivedAt: time.Now()}
			if _, err := d.PutReport(context.Background(), in); err != nil {
				if failed.Add(1) == 1 {
					b.Errorf("PutReport: %v", err)
				}
			}
			mine = append(mine, time.Since(due))
		}
		mu.Lock()
		lats = append(lats, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	res := Bench{Reports: len(lats), Elapsed: time.Since(start)}
	slices.Sort(lats)
	if len(lats) > 0 {
		res.P50 = lats[len(lats)/2]
		res.P99 = lats[min(len(lats)-1, len(lats)*99/100)]
	}
	b.ReportMetric(res.PerSecond(), "reports/s")
	b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
	return res
}
