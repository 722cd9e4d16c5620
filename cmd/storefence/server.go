//go:build !agentonly

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/postgres"
	"github.com/storefence/storefence/db/sqlite"
	"github.com/storefence/storefence/internal/sdnotify"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/registry"
	"github.com/storefence/storefence/report"
	"github.com/storefence/storefence/server"
)

// openDB opens the database a DSN names: postgres:// URLs (and key=value
// strings with host=) go to PostgreSQL, anything else is a SQLite file.
func openDB(ctx context.Context, dsn string) (db.DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") || strings.Contains(dsn, "host=") {
		return postgres.Open(ctx, dsn, postgres.Options{})
	}
	return sqlite.Open(ctx, dsn, sqlite.Options{})
}

// inputsLoader loads the registry (keyed with the secret) and the policy of
// cfg, for the server's start and every reload.
func inputsLoader(cfg *config.Server) server.Loader {
	return func() (*server.Inputs, error) {
		reg, err := registry.Load(cfg.StoresFile)
		if err != nil {
			return nil, err
		}
		why := ""
		if reg.HasRawValues() {
			why = "the registry holds raw registration values, which need the digest key"
		}
		keyer, err := loadKeyer(cfg.SecretFile, why)
		if err != nil {
			return nil, err
		}
		in, err := reg.PolicyInput(keyer)
		if err != nil {
			return nil, err
		}
		pol, err := policy.Load(cfg.PolicyFile)
		if err != nil {
			return nil, err
		}
		return &server.Inputs{Registry: in, Policy: pol}, nil
	}
}

func runServer(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "server")
	cfgPath := fs.String("config", "/etc/storefence/server.yaml", "server.yaml")
	var lf logFlags
	lf.register(fs, "")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, err := config.LoadServer(*cfgPath)
	if err != nil {
		return fail(e, "server", err)
	}
	if lf.level == "" {
		lf.level = cfg.LogLevel
	}
	log, err := lf.logger(e.stderr)
	if err != nil {
		return fail(e, "server", usageError{err.Error()})
	}
	d, err := openDB(ctx, cfg.Database)
	if err != nil {
		return fail(e, "server", err)
	}
	defer d.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	disp, err := newDispatcher(cfg, d, log, reg)
	if err != nil {
		return fail(e, "server", err)
	}
	srv, err := server.New(server.Options{Config: cfg, DB: d, Load: inputsLoader(cfg), Log: log, Reg: reg, OnEvaluate: disp.OnEvaluate})
	if err != nil {
		return fail(e, "server", err)
	}
	dispCtx, stopDisp := context.WithCancel(context.Background())
	dispDone := make(chan struct{})
	go func() { defer close(dispDone); disp.Run(dispCtx) }()
	defer func() { stopDisp(); <-dispDone }() // after the last evaluation: what it queued stays in the outbox
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := srv.Reload(); err != nil {
				log.Error().Err(err).Msg("reload failed; keeping the registry and policy loaded before")
			} else {
				log.Info().Msg("reloaded the registry and policy")
			}
		}
	}()
	// systemd (Type=notify): READY once the listener is open, the watchdog
	// while serving, STOPPING at shutdown; nothing without NOTIFY_SOCKET.
	n := sdnotify.New(log)
	stopWatchdog := n.StartWatchdog(ctx, nil)
	defer stopWatchdog()
	stopping := context.AfterFunc(ctx, n.Stopping)
	defer stopping()
	err = srv.Run(ctx, func(addr string) {
		scheme := "http"
		if cfg.TLS.CertFile != "" {
			scheme = "https"
		}
		fmt.Fprintf(e.stdout, "storefence server listening on %s://%s\n", scheme, addr)
		n.Ready()
	})
	if err != nil {
		return fail(e, "server", err)
	}
	return 0
}

func runToken(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "token")
	cfgPath := fs.String("config", "/etc/storefence/server.yaml", "server.yaml")
	agentID := fs.String("agent", "", "the agent the new token is for (create)")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fs.Usage()
			return 0
		}
		fmt.Fprintln(e.stderr, "usage: storefence token create|list|revoke --config server.yaml [--agent ID] [TOKEN-ID]")
		return 2
	}
	sub, args := args[0], args[1:]
	if code := parseFlagsAnyOrder(fs, args); code >= 0 {
		return code
	}
	cfg, err := config.LoadServer(*cfgPath)
	if err != nil {
		return fail(e, "token", err)
	}
	d, err := openDB(ctx, cfg.Database)
	if err != nil {
		return fail(e, "token", err)
	}
	defer d.Close()
	switch sub {
	case "create":
		if !report.ValidID(*agentID) || fs.NArg() != 0 {
			return fail(e, "token", usageError{"token create needs --agent ID (letters, digits, '.', '_', '-')"})
		}
		tok, id, err := server.NewToken()
		if err == nil {
			err = d.CreateToken(ctx, db.Token{ID: id, Agent: *agentID, CreatedAt: e.now().UTC()}, server.HashToken(tok))
		}
		if err != nil {
			return fail(e, "token", err)
		}
		fmt.Fprintf(e.stderr, "token %s for agent %s; it is shown once: put it in the agent's token_file\n", id, *agentID)
		fmt.Fprintln(e.stdout, tok)
	case "list":
		toks, err := d.Tokens(ctx)
		if err != nil {
			return fail(e, "token", err)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tAGENT\tCREATED\tREVOKED")
		for _, t := range toks {
			revoked := "-"
			if !t.RevokedAt.IsZero() {
				revoked = t.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Agent, t.CreatedAt.Format(time.RFC3339), revoked)
		}
		tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			return fail(e, "token", usageError{"token revoke needs the token id (see token list)"})
		}
		if err := d.RevokeToken(ctx, fs.Arg(0), e.now().UTC()); err != nil {
			if errors.Is(err, db.ErrNotFound) {
				return fail(e, "token", usageError{fmt.Sprintf("no token %q", fs.Arg(0))})
			}
			return fail(e, "token", err)
		}
		fmt.Fprintf(e.stderr, "token %s revoked\n", fs.Arg(0))
	default:
		return fail(e, "token", usageError{fmt.Sprintf("unknown subcommand %q: want create, list or revoke", sub)})
	}
	return 0
}
