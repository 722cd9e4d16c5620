// Package agent is the machine-side half of storefence: it wires the
// collectors from agent.yaml, builds reports, and (as a daemon) sends them to
// the server on a schedule.
package agent

import (
	"context"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/collector"
	"github.com/storefence/storefence/collector/device"
	"github.com/storefence/storefence/collector/network"
	"github.com/storefence/storefence/collector/publicip"
	"github.com/storefence/storefence/collector/sessions"
	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/report"
)

// Collectors returns the collectors enabled in cfg, in config.CollectorNames
// order. The list is explicit: adding a collector means adding it here.
func Collectors(cfg *config.Agent, log zerolog.Logger) []collector.Collector {
	all := map[string]func() collector.Collector{
		"publicip": func() collector.Collector { return publicip.New(cfg.PublicIP, log) },
		"device":   func() collector.Collector { return device.New(log) },
		"network":  func() collector.Collector { return network.New(log) },
		"sessions": func() collector.Collector { return sessions.New(log) },
	}
	var out []collector.Collector
	for _, name := range config.CollectorNames {
		if cfg.Enabled(name) {
			out = append(out, all[name]())
		}
	}
	return out
}

// Collect runs cs into a new report for cfg's agent and stores, stamped now.
// ok is false when no collector succeeded and the report holds no fact at all.
func Collect(ctx context.Context, cfg *config.Agent, cs []collector.Collector, now time.Time, version string, log zerolog.Logger) (r *report.Report, ok bool) {
	r = &report.Report{
		Schema:      report.Schema,
		ID:          newID(),
		Agent:       AgentID(cfg),
		Stores:      append([]string{}, cfg.Stores...),
		CollectedAt: now.UTC().Truncate(time.Millisecond),
		Version:     version,
	}
	succeeded := collector.Run(ctx, cs, r, log)
	return r, succeeded > 0 || r.PublicIP != nil || r.Device != nil || r.Network != nil || len(r.Sessions) > 0
}

// AgentID is cfg's agent id, or when unset the host name (made a valid id).
func AgentID(cfg *config.Agent) string {
	if cfg.AgentID != "" {
		return cfg.AgentID
	}
	h, err := os.Hostname()
	if err != nil {
		return "unnamed"
	}
	id := []byte{}
	for _, c := range []byte(h) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			id = append(id, c)
		}
		if len(id) == 64 {
			break
		}
	}
	if !report.ValidID(string(id)) {
		return "unnamed"
	}
	return string(id)
}

// newID returns a time-ordered UUIDv7, so that report ids sort by creation.
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}
