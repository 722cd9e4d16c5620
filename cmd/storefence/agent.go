package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/storefence/storefence/agent"
	"github.com/storefence/storefence/config"
)

func runAgent(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "agent")
	cfgPath := fs.String("config", "/etc/storefence/agent.yaml", "agent.yaml")
	once := fs.Bool("once", false, "collect once, send, print the report and exit (non-zero on failure)")
	checkConfig := fs.Bool("check-config", false, "validate the configuration and exit")
	var lf logFlags
	lf.register(fs, "info")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	log, err := lf.logger(e.stderr)
	if err != nil {
		return fail(e, "agent", usageError{err.Error()})
	}
	cfg, err := config.LoadAgent(*cfgPath)
	if err != nil {
		return fail(e, "agent", err)
	}
	if *checkConfig {
		fmt.Fprintf(e.stdout, "%s: ok\n", *cfgPath)
		return 0
	}
	if !*once {
		return fail(e, "agent", usageError{"the daemon is not built yet: use --once"})
	}
	r, ok := agent.Collect(ctx, cfg, agent.Collectors(cfg, log), e.now(), version, log)
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.Encode(r)
	if !ok {
		return fail(e, "agent", fmt.Errorf("no collector could see anything on this machine"))
	}
	if cfg.Server == "" {
		return 0
	}
	c, err := agent.NewClient(cfg.Server, cfg.TokenFile, cfg.CAFile)
	if err != nil {
		return fail(e, "agent", err)
	}
	if err := c.Send(ctx, r); err != nil {
		return fail(e, "agent", err)
	}
	log.Info().Str("report", r.ID).Msg("report sent")
	return 0
}
