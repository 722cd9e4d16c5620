package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/storefence/storefence/agent"
	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/report"
)

func runCollect(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "collect")
	cfgPath := fs.String("config", "", "agent.yaml (default: built-in defaults, no server)")
	format := fs.String("format", "json", "output format: json or table")
	var lf logFlags
	lf.register(fs, "warn")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *format != "json" && *format != "table" {
		return fail(e, "collect", usageError{fmt.Sprintf("--format %q: want json or table", *format)})
	}
	log, err := lf.logger(e.stderr)
	if err != nil {
		return fail(e, "collect", usageError{err.Error()})
	}
	cfg := config.DefaultAgent()
	if *cfgPath != "" {
		c, err := config.LoadAgent(*cfgPath)
		if err != nil {
			return fail(e, "collect", err)
		}
		cfg = *c
	}
	r, ok := agent.Collect(ctx, &cfg, agent.Collectors(&cfg, log), e.now(), version, log)
	if *format == "table" {
		writeTable(e.stdout, r)
	} else {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fail(e, "collect", err)
		}
	}
	if !ok {
		fmt.Fprintln(e.stderr, "storefence collect: no collector could see anything on this machine")
		return 1
	}
	return 0
}

// writeTable prints r for a person: one fact per line, grouped by section.
func writeTable(w io.Writer, r *report.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("agent", r.Agent)
	row("stores", strings.Join(r.Stores, ", "))
	row("collected", r.CollectedAt.Format(time.RFC3339))
	if p := r.PublicIP; p != nil {
		row("public IPv4", p.V4)
		row("public IPv6", p.V6)
		if p.Conflict {
			row("egress conflict", "yes: providers disagree, traffic may leave by two lines")
		}
		for _, a := range p.Answers {
			v := a.IP
			if a.Error != "" {
				v = "error: " + a.Error
			}
			row("  "+a.Provider+" ("+a.Transport+")", fmt.Sprintf("%s  %.1f ms", v, a.RTTMs))
		}
		row("resolver egress", strings.Join(p.ResolverEgress, ", "))
	}
	if d := r.Device; d != nil {
		row("hostname", d.Hostname)
		row("os", strings.TrimSpace(d.OS+" "+d.Platform))
		row("virtualization", d.Virtualization)
		row("host id", d.HostID)
		row("machine id", d.MachineID)
		row("product uuid", d.ProductUUID)
		for _, in := range d.Interfaces {
			note := ""
			if in.LocallyAdministered {
				note = "  (locally administered)"
			}
			row("  mac "+in.Name, in.MAC+note)
		}
		for _, s := range d.DiskSerials {
			row("  disk serial", s)
		}
	}
	if n := r.Network; n != nil {
		row("gateway", strings.TrimSpace(n.GatewayIP+"  "+n.GatewayMAC))
		row("timezone", n.Timezone)
		row("locale", n.Locale)
	}
	for _, s := range r.Sessions {
		v := fmt.Sprintf("%s %s from %s since %s", s.User, s.Terminal, orDash(s.Origin), s.Started.Format(time.RFC3339))
		if s.Ended != nil {
			v += " until " + s.Ended.Format(time.RFC3339)
		}
		row("  session ("+s.Source+")", v)
	}
	for _, ce := range r.Errors {
		row("  error "+ce.Collector, ce.Error)
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
