package policy

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// dataset generates a realistic fleet: stores stores, each on its own agent,
// obsPerStore sightings each, mostly distinct values with a few honest
// mistakes (1% of stores share an IP or a MAC with another store). With hot,
// 5% of all sightings fall on 20 hot values, making one giant cluster.
func dataset(stores, obsPerStore int, hot bool) *Input {
	rng := rand.New(rand.NewPCG(1, 2))
	in := &Input{Stores: make([]Store, stores)}
	signals := []string{PublicIP, HostID, MAC, DiskSerial, GatewayMAC, Hostname, SessionOrigin}
	in.Sightings = make([]Sighting, 0, stores*obsPerStore)
	for i := range stores {
		id := fmt.Sprintf("shop-%07d", i)
		in.Stores[i] = Store{ID: id, Status: "active"}
		agent := fmt.Sprintf("vps-%07d", i)
		st := []string{id}
		in.Agents = append(in.Agents, AgentState{Agent: agent, LastSeen: now.Add(-time.Duration(rng.IntN(50)) * time.Minute), Stores: st})
		for j := range obsPerStore {
			sig := signals[j%len(signals)]
			n := i*obsPerStore + j
			switch {
			case hot && rng.IntN(20) == 0:
				n = rng.IntN(20) // a hot value
			case rng.IntN(100) == 0:
				n = rng.IntN(stores * obsPerStore) // a mistake: someone else's value
			}
			in.Sightings = append(in.Sightings, Sighting{
				Agent: agent, Stores: st, Signal: sig, Value: value(sig, n),
				FirstSeen: now.Add(-time.Duration(rng.IntN(90*24)) * time.Hour),
				LastSeen:  now.Add(-time.Duration(rng.IntN(24)) * time.Hour), Count: 1,
			})
		}
	}
	return in
}

// value makes the n-th distinct value of signal, shaped as the signal's
// values are, so that ignore rules apply as in life.
func value(signal string, n int) string {
	switch signal {
	case PublicIP, SessionOrigin:
		return fmt.Sprintf("%d.%d.%d.%d", 11+n>>24&0x7f, n>>16&0xff, n>>8&0xff, n&0xff)
	case MAC, GatewayMAC:
		return fmt.Sprintf("00:1b:%02x:%02x:%02x:%02x", n>>24&0xff, n>>16&0xff, n>>8&0xff, n&0xff)
	case Hostname:
		return fmt.Sprintf("host-%d", n)
	}
	return fmt.Sprintf("%s-%d", signal, n)
}

func BenchmarkEvaluate(b *testing.B) {
	for _, size := range []struct {
		name   string
		stores int
		hot    bool
	}{
		{"stores=10k", 10_000, false},
		{"stores=100k", 100_000, false},
		{"stores=100k/hot", 100_000, true},
		{"stores=1M", 1_000_000, false},
		{"stores=1M/hot", 1_000_000, true},
	} {
		b.Run(size.name, func(b *testing.B) {
			in := dataset(size.stores, 10, size.hot)
			p := Default()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				a := Evaluate(in, p, now)
				b.ReportMetric(float64(len(a.Findings)), "findings")
				b.ReportMetric(float64(len(a.Clusters)), "clusters")
				if len(a.Clusters) > 0 {
					b.ReportMetric(float64(len(a.Clusters[0].Stores)), "largest-cluster")
					b.ReportMetric(float64(len(a.Clusters[0].JoinedBy)), "largest-explained-by")
				}
			}
		})
	}
}
