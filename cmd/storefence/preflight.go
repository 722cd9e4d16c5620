package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/storefence/storefence/agent"
	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

// runPreflight is `storefence preflight --store ID`: collect this machine
// now, ask the server whether operating store ID from it would link ID to
// another store, print the findings. Exit 0: it would not; 1: it would; 2:
// no answer (usage, configuration, or the server could not answer).
func runPreflight(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "preflight")
	store := fs.String("store", "", "the store to check (required). Exit 0: no link; 1: it would link; 2: no answer (usage, configuration, server)")
	cfgPath := fs.String("config", "/etc/storefence/agent.yaml", "agent.yaml: the server, the token and the collectors")
	format := fs.String("format", "table", "output format: table or json (storefence.preflight/v1)")
	var lf logFlags
	lf.register(fs, "warn")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if !report.ValidID(*store) {
		return preflightFail(e, usageError{"--store ID is required: letters, digits, '.', '_' or '-'"})
	}
	if *format != "table" && *format != "json" {
		return preflightFail(e, usageError{fmt.Sprintf("--format %q: want table or json", *format)})
	}
	log, err := lf.logger(e.stderr)
	if err != nil {
		return preflightFail(e, usageError{err.Error()})
	}
	cfg, err := config.LoadAgent(*cfgPath)
	if err != nil {
		return preflightFail(e, err)
	}
	if cfg.Server == "" {
		return preflightFail(e, &config.Error{File: *cfgPath, Key: "server", Reason: "required for preflight: the server holds the other stores' history"})
	}
	c, err := agent.NewClient(cfg.Server, cfg.TokenFile, cfg.CAFile)
	if err != nil {
		return preflightFail(e, &config.Error{File: *cfgPath, Reason: err.Error()})
	}
	r, _ := agent.Collect(ctx, cfg, agent.Collectors(cfg, log), e.now(), version, log)
	body, err := c.Preflight(ctx, *store, r)
	if err != nil {
		return preflightFail(e, fmt.Errorf("asking %s: %w", c.Host(), err))
	}
	var p policy.Preflight
	if err := json.Unmarshal(body, &p); err != nil || p.Schema != policy.PreflightSchema {
		return preflightFail(e, fmt.Errorf("asking %s: the answer is not %s", c.Host(), policy.PreflightSchema))
	}
	if *format == "json" {
		var out bytes.Buffer
		if json.Indent(&out, bytes.TrimSpace(body), "", "  ") != nil {
			out.Reset()
			out.Write(body)
		}
		out.WriteByte('\n')
		e.stdout.Write(out.Bytes())
	} else {
		writePreflight(e.stdout, &p, r)
	}
	if p.WouldLink {
		return 1
	}
	return 0
}

// preflightFail prints err and returns 2: no verdict, whatever went wrong,
// so that 1 always means "would link".
func preflightFail(e *env, err error) int {
	fmt.Fprintf(e.stderr, "storefence preflight: %v\n", err)
	return 2
}

// writePreflight prints the verdict and one line per finding for people.
func writePreflight(w io.Writer, p *policy.Preflight, r *report.Report) {
	verdict := "would NOT link it to another store"
	if p.WouldLink {
		verdict = "WOULD LINK it to another store"
	}
	fmt.Fprintf(w, "Operating %s from this machine (agent %s) %s (fails at %s and above).\n", p.Store, p.Agent, verdict, p.FailOn)
	for _, ce := range r.Errors {
		fmt.Fprintf(w, "Note: collector %s failed (%s): what it would have seen is not checked.\n", ce.Collector, ce.Error)
	}
	if len(p.Findings) == 0 {
		fmt.Fprintln(w, "No finding involves this store.")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SIGNAL\tVALUE\tOTHER STORES\tSEVERITY\tFIX")
	for _, f := range p.Findings {
		var others []string
		for _, s := range f.Stores {
			if s != p.Store {
				others = append(others, s)
			}
		}
		sev := f.Severity.String()
		switch {
		case f.Exempted:
			sev += " (exempted: " + f.Exemption + ")"
		case f.Escalated:
			sev += " (raised: a linked store is suspended or closed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Signal, f.Value, strings.Join(others, ", "), sev, policy.Advice(f.Signal))
	}
	tw.Flush()
}
