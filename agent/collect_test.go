package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/collector"
	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/report"
)

type fake struct {
	fn func(*report.Report) error
}

func (fake) Name() string                                        { return "fake" }
func (f fake) Collect(_ context.Context, r *report.Report) error { return f.fn(r) }

func TestCollect(t *testing.T) {
	cfg := config.DefaultAgent()
	cfg.AgentID, cfg.Stores = "vps-1", []string{"shop-a"}
	now := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	tests := []struct {
		name string
		fn   func(*report.Report) error
		ok   bool
	}{
		{"success", func(*report.Report) error { return nil }, true},
		{"failure with no fact", func(r *report.Report) error {
			r.PublicIP = &report.PublicIP{Answers: []report.Answer{{Provider: "p", Error: "timeout"}}}
			return errors.New("publicip: all failed")
		}, false},
		{"failure with a fact", func(r *report.Report) error {
			r.Device = &report.Device{Hostname: "h"}
			return errors.New("device: disk serials: permission denied")
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := Collect(context.Background(), &cfg, []collector.Collector{fake{tt.fn}}, now, "v1.2.3", zerolog.Nop())
			if ok != tt.ok {
				t.Errorf("ok = %v, want %v", ok, tt.ok)
			}
			if err := r.Validate(); err != nil {
				t.Errorf("Collect made an invalid report: %v", err)
			}
			if r.Agent != "vps-1" || r.Stores[0] != "shop-a" || r.Version != "v1.2.3" ||
				!r.CollectedAt.Equal(now.Truncate(time.Millisecond)) || r.CollectedAt.Location() != time.UTC {
				t.Errorf("report header = %+v", r)
			}
		})
	}
	a, _ := Collect(context.Background(), &cfg, nil, now, "", zerolog.Nop())
	b, _ := Collect(context.Background(), &cfg, nil, now, "", zerolog.Nop())
	if a.ID == b.ID {
		t.Error("two reports share an id")
	}
}

func TestCollectorsFollowConfig(t *testing.T) {
	cfg := config.DefaultAgent()
	cfg.Collectors = []string{"sessions", "publicip"}
	var names []string
	for _, c := range Collectors(&cfg, zerolog.Nop()) {
		names = append(names, c.Name())
	}
	if len(names) != 2 || names[0] != "publicip" || names[1] != "sessions" {
		t.Errorf("Collectors = %v, want [publicip sessions] in the fixed order", names)
	}
	cfg.Collectors = nil
	if got := len(Collectors(&cfg, zerolog.Nop())); got != len(config.CollectorNames) {
		t.Errorf("all collectors: got %d, want %d", got, len(config.CollectorNames))
	}
}

func TestAgentIDFromHostname(t *testing.T) {
	tests := map[string]string{
		"vps-shop-a":                  "vps-shop-a",
		"DESKTOP-7Q2M1KA":             "DESKTOP-7Q2M1KA",
		"shop a (office)":             "shopaoffice",
		"-leading":                    "unnamed", // an id starts with a letter or digit
		"":                            "unnamed",
		"办公室":                         "unnamed",
		"h" + strings.Repeat("x", 80): "h" + strings.Repeat("x", 63),
	}
	for in, want := range tests {
		if got := idFromHostname(in); got != want {
			t.Errorf("idFromHostname(%q) = %q, want %q", in, got, want)
		}
	}
	cfg := config.DefaultAgent()
	if id := AgentID(&cfg); !report.ValidID(id) {
		t.Errorf("AgentID from this host's name = %q, not a valid id", id)
	}
}
