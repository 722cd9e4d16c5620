package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadAgentSpoolKeys(t *testing.T) {
	got, err := LoadAgent("testdata/agent-spool.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	jitter := Duration(45 * time.Second)
	want := DefaultAgent()
	want.AgentID = "vps-1"
	want.Server = "https://audit.example.com:8443"
	want.TokenFile = "/etc/storefence/agent.token"
	want.Schedule = "@every 10m"
	want.Jitter = &jitter
	want.SpoolDir = "/var/lib/storefence/spool"
	want.SpoolMaxBytes = 16 << 20
	want.SpoolMaxAge = Duration(7 * 24 * time.Hour)
	want.SpoolRejectedMax = 20
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("LoadAgent mismatch (-want +got):\n%s", diff)
	}
	if got.JitterMax() != 45*time.Second {
		t.Errorf("JitterMax = %v, want the explicit 45s", got.JitterMax())
	}
}

func TestAgentSpoolDefaults(t *testing.T) {
	a := DefaultAgent()
	if a.SpoolMaxBytes != 64<<20 || time.Duration(a.SpoolMaxAge) != 30*24*time.Hour || a.SpoolRejectedMax != 100 || a.Jitter != nil {
		t.Errorf("defaults: max_bytes %v, max_age %v, rejected_max %d, jitter %v", a.SpoolMaxBytes, a.SpoolMaxAge, a.SpoolRejectedMax, a.Jitter)
	}
}

func TestLoadAgentSpoolBad(t *testing.T) {
	tests := []struct{ file, want string }{
		{"jitter-too-long.bad.yml", "jitter-too-long.bad.yml:2: jitter: must be shorter than the schedule's interval (1m0s)"},
		{"bad-size.bad.yml", `bad-size.bad.yml:1: size "lots"`},
		{"small-spool.bad.yml", "small-spool.bad.yml:1: spool_max_bytes: must be at least 1MiB"},
		{"spool-age.bad.yml", "spool-age.bad.yml:2: spool_max_age: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := LoadAgent(filepath.Join("testdata", tt.file))
			var ce *Error
			if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadAgent = %v, want a *config.Error containing %q", err, tt.want)
			}
		})
	}
}

func TestIntervalAndJitter(t *testing.T) {
	d := func(s string) *Duration { v, _ := ParseDuration(s); return &v }
	tests := []struct {
		schedule string
		jitter   *Duration
		interval time.Duration
		max      time.Duration
	}{
		{"@every 5m", nil, 5 * time.Minute, 30 * time.Second},
		{"@every 1m", nil, time.Minute, 6 * time.Second},
		{"@every 100ms", nil, time.Second, 100 * time.Millisecond}, // robfig/cron runs @every at whole seconds
		{"*/10 * * * *", nil, 10 * time.Minute, 30 * time.Second},
		{"0 9,17 * * *", nil, 8 * time.Hour, 30 * time.Second},
		{"@hourly", d("0s"), time.Hour, 0},
		{"@hourly", d("2m"), time.Hour, 2 * time.Minute},
	}
	for _, tt := range tests {
		a := DefaultAgent()
		a.Schedule, a.Jitter = tt.schedule, tt.jitter
		if err := a.Validate(); err != nil {
			t.Errorf("%s: %v", tt.schedule, err)
		}
		if got := a.Interval(); got != tt.interval {
			t.Errorf("%s: Interval = %v, want %v", tt.schedule, got, tt.interval)
		}
		if got := a.JitterMax(); got != tt.max {
			t.Errorf("%s jitter %v: JitterMax = %v, want %v", tt.schedule, tt.jitter, got, tt.max)
		}
	}
}

func TestByteSize(t *testing.T) {
	good := map[string]ByteSize{
		"0": 0, "1500": 1500, "1500B": 1500, "512KiB": 512 << 10, "64MiB": 64 << 20, "1GiB": 1 << 30,
		"2TiB": 2 << 40, "10MB": 10e6, "3 KB": 3000,
	}
	for in, want := range good {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1MiB", "1.5MiB", "MiB", "9999999999TiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded, want an error", in)
		}
	}
	for in, want := range map[ByteSize]string{64 << 20: "64MiB", 1536: "1536B" /* 1.5KiB */, 2048: "2KiB", 1 << 30: "1GiB", 0: "0B", 10e6: "10000000B"} {
		if got := in.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(in), got, want)
		}
	}
}
