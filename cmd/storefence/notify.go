//go:build !agentonly

package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/notify/dispatch"
)

// newDispatcher wires the notification lifecycle of server.yaml's notify
// section to the database.
func newDispatcher(cfg *config.Server, d db.DB, log zerolog.Logger, reg prometheus.Registerer) (*dispatch.Dispatcher, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	chans, err := dispatch.Channels(cfg.Notify, client, time.Now)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var nonce [4]byte
	rand.Read(nonce[:])
	return dispatch.New(dispatch.Options{
		DB: d, Channels: chans, RepeatInterval: time.Duration(cfg.Notify.RepeatInterval), Digest: cfg.Notify.Digest,
		Log: log.With().Str("component", "notify").Logger(), Reg: reg, Owner: fmt.Sprintf("%s/%d/%x", host, os.Getpid(), nonce), // containers share host names and pid 1
	})
}

// runNotify is `storefence notify test [--channel NAME] --config server.yaml`:
// a test message to each configured channel, each result on its own line;
// exit 1 when any failed.
func runNotify(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "notify")
	cfgPath := fs.String("config", "/etc/storefence/server.yaml", "server.yaml")
	name := fs.String("channel", "", "only this channel")
	if len(args) == 0 || args[0] != "test" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fs.Usage()
			return 0
		}
		fmt.Fprintln(e.stderr, "usage: storefence notify test --config server.yaml [--channel NAME]")
		return 2
	}
	if code := parseFlagsAnyOrder(fs, args[1:]); code >= 0 {
		return code
	}
	cfg, err := config.LoadServer(*cfgPath)
	if err != nil {
		return fail(e, "notify", err)
	}
	if len(cfg.Notify.Channels) == 0 {
		return fail(e, "notify", usageError{*cfgPath + ": notify.channels: none configured"})
	}
	chans, err := dispatch.Channels(cfg.Notify, &http.Client{Timeout: 30 * time.Second}, e.now)
	if err != nil {
		return fail(e, "notify", err)
	}
	disp, err := dispatch.New(dispatch.Options{Channels: chans, Owner: "notify-test", Log: zerolog.Nop()})
	if err != nil {
		return fail(e, "notify", err)
	}
	results, err := disp.Test(ctx, *name)
	if err != nil {
		return fail(e, "notify", usageError{err.Error()})
	}
	code := 0
	for _, r := range results {
		if r.Err != nil {
			code = 1
			fmt.Fprintf(e.stdout, "%-20s %-9s FAILED  %v\n", r.Channel, r.Kind, r.Err)
		} else {
			fmt.Fprintf(e.stdout, "%-20s %-9s ok\n", r.Channel, r.Kind)
		}
	}
	return code
}

// runAck is `storefence ack FINDING --for 24h --reason "…" [--by NAME]
// --config server.yaml`: it mutes one finding's notifications until the
// ack expires, recorded with who and why. `storefence ack --list` shows
// the acks in force.
func runAck(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "ack")
	cfgPath := fs.String("config", "/etc/storefence/server.yaml", "server.yaml")
	dur := fs.Duration("for", 24*time.Hour, "how long the finding stays muted")
	reason := fs.String("reason", "", "why (required)")
	by := fs.String("by", os.Getenv("USER"), "who acknowledges")
	list := fs.Bool("list", false, "list the acks in force instead")
	if code := parseFlagsAnyOrder(fs, args); code >= 0 {
		return code
	}
	cfg, err := config.LoadServer(*cfgPath)
	if err != nil {
		return fail(e, "ack", err)
	}
	d, err := openDB(ctx, cfg.Database)
	if err != nil {
		return fail(e, "ack", err)
	}
	defer d.Close()
	now := e.now()
	if *list {
		acks, err := d.Acks(ctx)
		if err != nil {
			return fail(e, "ack", err)
		}
		for _, a := range acks {
			if a.Until.After(now) {
				fmt.Fprintf(e.stdout, "%s\tuntil %s\tby %s\t%s\n", a.Finding, a.Until.UTC().Format(time.RFC3339), a.By, a.Reason)
			}
		}
		return 0
	}
	if fs.NArg() != 1 || strings.TrimSpace(*reason) == "" || *dur <= 0 {
		return fail(e, "ack", usageError{"usage: storefence ack FINDING --for 24h --reason \"…\" [--by NAME] (the finding id is in the audit and in every message)"})
	}
	a := db.Ack{Finding: fs.Arg(0), Until: now.Add(*dur), By: *by, Reason: *reason, CreatedAt: now}
	if err := d.PutAck(ctx, a); err != nil {
		return fail(e, "ack", err)
	}
	fmt.Fprintf(e.stdout, "finding %s muted until %s\n", a.Finding, a.Until.UTC().Format(time.RFC3339))
	return 0
}
