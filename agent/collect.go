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
	return r, succeeded > 0 || hasFacts(r)
}

// hasFacts reports whether r holds any fact, even from collectors that also
// failed in part.
func hasFacts(r *report.Report) bool {
	p, d, n := r.PublicIP, r.Device, r.Network
	return (p != nil && (p.V4 != "" || p.V6 != "")) ||
		(d != nil && (d.HostID != "" || d.MachineID != "" || d.Hostname != "" || len(d.MACs) > 0)) ||
		(n != nil && *n != report.Network{}) ||
		len(r.Sessions) > 0
}

// AgentID is cfg's agent id, or when unset the host name made a valid id.
func AgentID(cfg *config.Agent) string {
	if cfg.AgentID != "" {
		return cfg.AgentID
	}
	h, _ := os.Hostname()
	return idFromHostname(h)
}

// idFromHostname keeps the characters of h that an id may hold, at most 64.
func idFromHostname(h string) string {
	id := make([]byte, 0, 64)
	for i := 0; i < len(h) && len(id) < 64; i++ {
		switch c := h[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			id = append(id, c)
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
