//go:build !agentonly

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/registry"
	"github.com/storefence/storefence/render"
	"github.com/storefence/storefence/report"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func runAudit(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "audit")
	storesPath := fs.String("stores", "", "the store registry (YAML)")
	var reports listFlag
	fs.Var(&reports, "reports", "report file or folder (JSON, JSON Lines, gzip); repeatable, and further paths may follow the flags")
	policyPath := fs.String("policy", "", "policy file (default: SPEC's defaults)")
	nowFlag := fs.String("now", "", "evaluation time, RFC3339 (default: the clock)")
	format := fs.String("format", "table", "output: "+strings.Join(render.Formats, ", "))
	output := fs.String("output", "", "write the result to this file instead of stdout")
	dbDSN := fs.String("db", "", "read sightings from this database (SQLite file or postgres:// URL) instead of report files")
	serverURL := fs.String("server", "", "ask this storefence server for its audit instead (with --token-file)")
	tokenFile := fs.String("token-file", "", "admin token for --server")
	failOn := fs.String("fail-on", "", "exit 1 on an unexempted finding at or above: low, medium, high, critical, none (default: the policy's fail_on, high)")
	secretFlag := secretFileFlag(fs)
	// Report paths may follow the flags: audit --reports a b c.
	if code := parseFlagsAnyOrder(fs, args); code >= 0 {
		return code
	}
	reports = append(reports, fs.Args()...)
	// Every error of audit is exit 2: 1 means "findings".
	a, err := evaluateAudit(ctx, e, auditArgs{
		stores: *storesPath, reports: reports, policy: *policyPath, now: *nowFlag,
		format: *format, failOn: *failOn, secretFile: *secretFlag,
		db: *dbDSN, server: *serverURL, tokenFile: *tokenFile,
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "storefence audit: %v\n", err)
		return 2
	}
	var out bytes.Buffer
	color := *output == "" && *format == "table" && os.Getenv("NO_COLOR") == "" && isTerminal(e.stdout)
	err = render.Write(&out, *format, a.audit, render.Options{Color: color})
	if err == nil {
		err = writeOutput(e, *output, out.Bytes())
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "storefence audit: %v\n", err)
		return 2
	}
	if a.audit.Fails(a.failOn) {
		return 1
	}
	return 0
}

type auditArgs struct {
	stores, policy, now, format, failOn, secretFile string
	db, server, tokenFile                           string
	reports                                         []string
}

type auditResult struct {
	audit  *policy.Audit
	failOn policy.Severity
}

// evaluateAudit runs the audit over a registry and report files, a
// database, or asks a server for it.
func evaluateAudit(ctx context.Context, e *env, args auditArgs) (*auditResult, error) {
	bad := func(format string, a ...any) (*auditResult, error) {
		return nil, usageError{fmt.Sprintf(format, a...)}
	}
	if !contains(render.Formats, args.format) {
		return bad("--format %q: want one of %s", args.format, strings.Join(render.Formats, ", "))
	}
	now := e.now()
	if args.now != "" {
		t, err := time.Parse(time.RFC3339, args.now)
		if err != nil {
			return bad("--now %q: want RFC3339 such as 2026-11-22T10:00:00Z", args.now)
		}
		now = t
	}
	pol, err := policy.Load(args.policy)
	if err != nil {
		return nil, err
	}
	failOn := pol.FailOn
	if args.failOn != "" {
		if failOn, err = policy.ParseSeverity(args.failOn); err != nil {
			return bad("--fail-on: %v", err)
		}
	}
	sources := 0
	for _, set := range []bool{len(args.reports) > 0, args.db != "", args.server != ""} {
		if set {
			sources++
		}
	}
	switch {
	case sources > 1:
		return bad("give one of --reports, --db and --server")
	case args.server != "":
		a, err := fetchAudit(ctx, args.server, args.tokenFile, args.now)
		if err != nil {
			return nil, err
		}
		return &auditResult{audit: a, failOn: failOn}, nil
	case args.stores == "" && sources == 0:
		return bad("nothing to audit: give --stores, --reports or both")
	}
	in := &policy.Input{}
	if args.stores != "" {
		reg, err := registry.Load(args.stores)
		if err != nil {
			return nil, err
		}
		why := ""
		if reg.HasRawValues() {
			why = "the registry holds raw registration values, which need the digest key"
		}
		keyer, err := loadKeyer(args.secretFile, why)
		if err != nil {
			return nil, err
		}
		if in, err = reg.PolicyInput(keyer); err != nil {
			return nil, err
		}
	}
	if args.db != "" {
		d, err := openDB(ctx, args.db)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		if in.Sightings, err = d.Sightings(ctx); err != nil {
			return nil, err
		}
		if in.Agents, err = d.Agents(ctx); err != nil {
			return nil, err
		}
		return &auditResult{audit: policy.Evaluate(in, pol, now), failOn: failOn}, nil
	}
	agg := policy.NewAggregator(now)
	if err := report.ReadPaths(args.reports, func(r *report.Report) error { agg.Add(r); return nil }); err != nil {
		return nil, err
	}
	agg.Fill(in)
	return &auditResult{audit: policy.Evaluate(in, pol, now), failOn: failOn}, nil
}

// secretFileFlag registers --secret-file, defaulting to $STOREFENCE_SECRET_FILE.
func secretFileFlag(fs *flag.FlagSet) *string {
	return fs.String("secret-file", os.Getenv("STOREFENCE_SECRET_FILE"), "key of the registration digests (default $STOREFENCE_SECRET_FILE)")
}

// loadKeyer loads the digest key from path. When path is empty it returns
// nil, or an error saying why the key is needed if why is not empty.
func loadKeyer(path, why string) (*registry.Keyer, error) {
	if path == "" {
		if why != "" {
			return nil, usageError{why + ": give --secret-file or STOREFENCE_SECRET_FILE"}
		}
		return nil, nil
	}
	secret, err := registry.LoadSecret(path)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	k, err := registry.NewKeyer(secret)
	if err != nil {
		return nil, usageError{fmt.Sprintf("%s: %v", path, err)}
	}
	return k, nil
}

// parseFlagsAnyOrder is parseFlags for commands that take positional
// arguments: flags may stand after them ("--reports a b --format json"), as
// people type them. It leaves the positional arguments in fs.Args().
func parseFlagsAnyOrder(fs *flag.FlagSet, args []string) int {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if f := fs.Lookup(name); f != nil && !hasValue && !isBool(f) && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	if err := fs.Parse(append(append(flags, "--"), pos...)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	return -1
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// writeOutput writes data to path atomically, or to stdout when path is "".
func writeOutput(e *env, path string, data []byte) error {
	if path == "" {
		_, err := e.stdout.Write(data)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".storefence-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fetchAudit asks a storefence server for its audit as of now (RFC3339, or
// "" for the server's clock).
func fetchAudit(ctx context.Context, base, tokenFile, now string) (*policy.Audit, error) {
	if tokenFile == "" {
		return nil, usageError{"--server needs --token-file with the admin token"}
	}
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(strings.TrimSuffix(base, "/") + "/api/v1/audit")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, usageError{"--server: want an http(s) URL"}
	}
	if now != "" {
		u.RawQuery = url.Values{"now": {now}}.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server: %w", redactURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var ae struct{ Error string }
		json.Unmarshal(body, &ae)
		return nil, fmt.Errorf("server answered %s: %s", resp.Status, ae.Error)
	}
	var a policy.Audit
	if err := json.Unmarshal(body, &a); err != nil || a.Schema != policy.AuditSchema {
		return nil, fmt.Errorf("server: not a %s answer", policy.AuditSchema)
	}
	return &a, nil
}

// redactURL drops the URL from a client error: it may carry credentials.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
