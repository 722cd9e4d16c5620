// Command fleetgen writes a generated fleet for benchmarking the offline
// audit: a registry of N stores and one report per store as JSON Lines,
// with 1% of stores sharing an address with another, as in BENCHMARKS.md.
//
//	go run ./internal/tools/fleetgen -stores 100000 -out /tmp/big
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/storefence/storefence/report"
)

func main() {
	n := flag.Int("stores", 100000, "number of stores (and agents)")
	out := flag.String("out", ".", "folder to write stores.yaml, stores-digest.yaml and reports.jsonl to")
	flag.Parse()
	if err := run(*n, *out); err != nil {
		fmt.Fprintln(os.Stderr, "fleetgen:", err)
		os.Exit(1)
	}
}

func run(n int, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var raw, ids strings.Builder
	raw.WriteString("default_region: CN\nstores:\n")
	ids.WriteString("stores:\n")
	for i := range n {
		fmt.Fprintf(&raw, "  - id: shop-%06d\n    registration:\n      phones: [\"+86 138%08d\"]\n      emails: [\"ops%d@example%d.com\"]\n", i, i, i, i%997)
		fmt.Fprintf(&ids, "  - id: shop-%06d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "stores.yaml"), []byte(raw.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "stores-digest.yaml"), []byte(ids.String()), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "reports.jsonl"))
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	rng := rand.New(rand.NewPCG(1, 1))
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	for i := range n {
		last := 7
		if rng.IntN(100) == 0 {
			last = 9 // a mistake: the address of another store
		}
		ip := fmt.Sprintf("%d.%d.%d.%d", 11+i>>16, i>>8&255, i&255, last)
		mac := func(p byte) string { return fmt.Sprintf("00:%02x:00:%02x:%02x:%02x", p, i>>16&255, i>>8&255, i&255) }
		r := report.Report{
			Schema: report.Schema, ID: fmt.Sprintf("r%d", i), Agent: fmt.Sprintf("vps-%06d", i),
			Stores: []string{fmt.Sprintf("shop-%06d", i)}, CollectedAt: at,
			PublicIP: &report.PublicIP{V4: ip, Answers: []report.Answer{{Provider: "p1", IP: ip, RTTMs: 3}, {Provider: "p2", IP: ip, RTTMs: 4}}},
			Device: &report.Device{HostID: fmt.Sprintf("%032x", i), MachineID: fmt.Sprintf("%032x", i+7), Hostname: fmt.Sprintf("host-%d", i),
				OS: "linux", Platform: "debian 12", MACs: []string{mac(0x1b)}, DiskSerials: []string{fmt.Sprintf("d%d", i)}},
			Network:  &report.Network{GatewayIP: "10.0.0.1", GatewayMAC: mac(0x1c)},
			Sessions: []report.Session{{User: "root", Terminal: "pts/0", Origin: fmt.Sprintf("%d.%d.%d.1", 50+i>>16, i>>8&255, i&255), Started: at.Add(-time.Hour)}},
		}
		if err := enc.Encode(&r); err != nil {
			return err
		}
	}
	return w.Flush()
}
