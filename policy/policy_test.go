package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadExample(t *testing.T) {
	p, err := Load("../configs/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Signals[Hostname]; got.Window != 90*day || got.Severity != Low {
		t.Errorf("hostname policy = %+v, want low / 90d", got)
	}
	// Keys the file leaves out keep their defaults.
	if got := p.Signals[PublicIP]; got != (SignalPolicy{Critical, 180 * day}) {
		t.Errorf("public_ip policy = %+v, want the default", got)
	}
	if !p.ignored(PublicIP, "198.51.100.10") || p.ignored(PublicIP, "198.51.100.11") {
		t.Errorf("ignore.addresses not applied")
	}
	if !p.ignored(Hostname, "build-box") {
		t.Errorf("ignore.hostnames not applied")
	}
}

func TestLoadDefaults(t *testing.T) {
	p, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if p.FailOn != High || p.ClusterMinSeverity != High || p.StaleAfter != time.Hour {
		t.Errorf("defaults wrong: %+v", p)
	}
	for _, s := range Signals() {
		if _, ok := p.Signals[s]; !ok {
			t.Errorf("no default policy for signal %s", s)
		}
	}
}

func TestLoadBad(t *testing.T) {
	tests := map[string]string{
		"unknown-signal.bad.yml": "unknown-signal.bad.yml:3: signals.pubic_ip: unknown signal",
		"bad-severity.bad.yml":   `bad-severity.bad.yml:1: severity "sometimes"`,
		"bad-address.bad.yml":    `bad-address.bad.yml:2: ignore.addresses[1]: "not-an-ip" is not an IP address or CIDR`,
		"bad-window.bad.yml":     `bad-window.bad.yml:3: duration "3 weeks"`,
	}
	for file, want := range tests {
		t.Run(file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", file))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Load = %v, want an error containing %q", err, want)
			}
		})
	}
}

func TestParseSeverity(t *testing.T) {
	for _, s := range []string{"none", "low", "medium", "high", "critical"} {
		v, err := ParseSeverity(s)
		if err != nil || v.String() != s {
			t.Errorf("ParseSeverity(%q) = %v, %v", s, v, err)
		}
	}
	if _, err := ParseSeverity("CRITICAL"); err == nil {
		t.Errorf("ParseSeverity is case-sensitive by contract")
	}
}

func FuzzLoadPolicy(f *testing.F) {
	for _, p := range []string{"../configs/policy.yaml", "testdata/unknown-signal.bad.yml", "testdata/bad-address.bad.yml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "policy.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		pol, err := Load(p)
		if err != nil {
			return
		}
		// A policy that loads must be usable.
		Evaluate(&Input{}, pol, time.Now())
	})
}
