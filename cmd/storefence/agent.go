package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/agent"
	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/internal/sdnotify"
)

func runAgent(ctx context.Context, e *env, args []string) int {
	if len(args) > 0 && (args[0] == "install" || args[0] == "uninstall") {
		return runAgentService(e, args[0], args[1:])
	}
	fs := newFlagSet(e, "agent")
	cfgPath := fs.String("config", "/etc/storefence/agent.yaml", "agent.yaml")
	once := fs.Bool("once", false, "collect once, spool, deliver the spool, print the report and exit (non-zero when the report was not delivered; it stays spooled)")
	checkConfig := fs.Bool("check-config", false, "validate the configuration and exit")
	var lf logFlags
	lf.register(fs, "info")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	// Under the Windows service control manager nothing reads stderr: the
	// log goes to the Application event log, and stops come from the
	// manager rather than from a signal.
	service, err := agent.IsWindowsService()
	if err != nil {
		return fail(e, "agent", err)
	}
	logTo := e.stderr
	if service && !*once && !*checkConfig {
		w, err := agent.OpenEventLog(agent.ServiceName)
		if err != nil {
			return fail(e, "agent", err)
		}
		defer w.Close()
		logTo, lf.format = w, "json"
	}
	log, err := lf.logger(logTo)
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
	if *once {
		d, err := newDaemon(*cfgPath, cfg, log, e.now, nil)
		if err != nil {
			return fail(e, "agent", err)
		}
		return agentOnce(ctx, e, d, cfg, log)
	}
	n := sdnotify.New(log)
	d, err := newDaemon(*cfgPath, cfg, log, e.now, n)
	if err != nil {
		return fail(e, "agent", err)
	}
	stopWatchdog := n.StartWatchdog(ctx, d.Healthy)
	defer stopWatchdog()
	if service {
		err = agent.RunService(agent.ServiceName, d.Run)
	} else {
		err = d.Run(ctx)
	}
	if err != nil {
		log.Error().Err(err).Msg("agent failed")
		return fail(e, "agent", err)
	}
	return 0
}

// newDaemon opens the spool and the client of cfg (read from path). A spool
// directory, token or CA file that cannot be used is a configuration error
// (exit 2). n, when not nil, hears of readiness and shutdown.
func newDaemon(path string, cfg *config.Agent, log zerolog.Logger, now func() time.Time, n *sdnotify.Notifier) (*agent.Daemon, error) {
	spool, err := agent.OpenSpool(cfg.SpoolDir, agent.SpoolOptions{
		MaxBytes: int64(cfg.SpoolMaxBytes), MaxAge: time.Duration(cfg.SpoolMaxAge),
		RejectedMax: cfg.SpoolRejectedMax, Now: now, Log: log,
	})
	if err != nil {
		return nil, &config.Error{File: path, Key: "spool_dir", Reason: err.Error()}
	}
	opt := agent.DaemonOptions{Config: cfg, Collectors: agent.Collectors(cfg, log), Spool: spool, Log: log, Version: version}
	if cfg.Server != "" {
		c, err := agent.NewClient(cfg.Server, cfg.TokenFile, cfg.CAFile)
		if err != nil {
			return nil, &config.Error{File: path, Reason: err.Error()}
		}
		opt.Sender = c
	}
	if n != nil {
		opt.OnReady, opt.OnStopping = n.Ready, n.Stopping
	}
	return agent.NewDaemon(opt)
}

// agentOnce is `agent --once`: one run, the report on stdout, exit 0 when
// it was delivered (or spooled, with no server configured).
func agentOnce(ctx context.Context, e *env, d *agent.Daemon, cfg *config.Agent, log zerolog.Logger) int {
	res := d.RunOnce(ctx)
	if res.Report != nil {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res.Report)
	}
	switch {
	case res.Report == nil:
		return fail(e, "agent", fmt.Errorf("stopped before collecting: %w", res.Err))
	case !res.Collected:
		return fail(e, "agent", errors.New("no collector could see anything on this machine"))
	case cfg.Server == "":
		log.Info().Str("report", res.Report.ID).Msg("no server configured: the report is spooled")
		return 0
	case res.Delivered:
		log.Info().Str("report", res.Report.ID).Int("sent", len(res.Sent)).Int("queued", res.Queued).Msg("report sent")
		return 0
	case slices.Contains(res.Rejected, res.Report.ID):
		return fail(e, "agent", fmt.Errorf("the server refused report %s; it is in %s/rejected", res.Report.ID, cfg.SpoolDir))
	case res.Err != nil:
		return fail(e, "agent", fmt.Errorf("report %s not delivered, it stays spooled: %w", res.Report.ID, res.Err))
	}
	return fail(e, "agent", fmt.Errorf("report %s not delivered, it stays spooled", res.Report.ID))
}

// runAgentService is `storefence agent install|uninstall [--config F]`: the
// agent as a Windows service (elsewhere: make install and systemd).
func runAgentService(e *env, verb string, args []string) int {
	fs := newFlagSet(e, "agent")
	cfgPath := fs.String("config", `C:\ProgramData\storefence\agent.yaml`, "agent.yaml the service runs with")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	var err error
	if verb == "uninstall" {
		err = agent.UninstallService(agent.ServiceName)
	} else {
		var exe, cfg string
		if exe, err = os.Executable(); err == nil {
			if cfg, err = filepath.Abs(*cfgPath); err == nil {
				// A service starts in System32: every path must be absolute.
				err = agent.InstallService(agent.ServiceName, "storefence agent", exe, []string{"agent", "--config", cfg})
			}
		}
	}
	if errors.Is(err, agent.ErrNotWindows) {
		return fail(e, "agent", usageError{"agent " + verb + " is for Windows; on Linux use make install and the systemd unit"})
	}
	if err != nil {
		return fail(e, "agent", err)
	}
	fmt.Fprintf(e.stderr, "service %s %sed\n", agent.ServiceName, verb)
	return 0
}
