// Command storefence is the single binary of storefence: the agent that
// fingerprints a machine, the server that keeps the history, and the audit
// that says whether a seller's stores are isolated. See `storefence help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/config"
)

// Set by the Makefile with -ldflags "-X main.version=…".
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// env is what every command gets from main: its output streams and clock.
type env struct {
	stdout, stderr io.Writer
	now            func() time.Time
}

// command is one subcommand. run returns the process exit code.
type command struct {
	name    string
	args    string // synopsis of the arguments
	summary string
	run     func(ctx context.Context, e *env, args []string) int
}

// commands lists every command of this build: the machine side (what an
// agent-only build keeps), then the central side (see central.go).
func commands() []command {
	cs := []command{
		{"collect", "[--config agent.yaml] [--format json|table]", "run every collector once on this machine and print the report", runCollect},
		{"agent", "--config agent.yaml [--once] [--check-config]", "collect on a schedule and send reports to the server", runAgent},
		{"preflight", "--store ID [--config agent.yaml] [--format table|json]", "on a machine: say whether operating store ID here would link it to another store", runPreflight},
	}
	cs = append(cs, centralCommands()...)
	return append(cs, command{"version", "", "print version, commit and build date", runVersion})
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdout: stdout, stderr: stderr, now: time.Now}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "--help":
		return runHelp(e, rest)
	case "--version", "-version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, e, rest)
		}
	}
	fmt.Fprintf(stderr, "storefence: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "storefence keeps a seller's store accounts apart.\n\nUsage: storefence <command> [flags]\n\nCommands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'storefence help <command>' for a command's flags.")
}

func runHelp(e *env, args []string) int {
	if len(args) == 0 {
		usage(e.stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			// Every command prints its own flag help on -h.
			return c.run(context.Background(), &env{stdout: e.stdout, stderr: e.stdout, now: e.now}, []string{"-h"})
		}
	}
	fmt.Fprintf(e.stderr, "storefence help: unknown command %q\n", args[0])
	return 2
}

// newFlagSet returns a flag set for command c whose -h prints the command's
// synopsis and flags to e.stderr.
func newFlagSet(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		for _, c := range commands() {
			if c.name == name {
				fmt.Fprintf(e.stderr, "Usage: storefence %s %s\n\n%s.\n\nFlags:\n", name, c.args, upperFirst(c.summary))
			}
		}
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs and returns the exit code to stop with, or
// -1 to go on: 0 after -h, 2 after a usage error.
func parseFlags(fs *flag.FlagSet, args []string) int {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(fs.Output(), "storefence %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2
	}
	return -1
}

// logFlags are the logging flags every long-running or talkative command has.
type logFlags struct{ level, format string }

func (l *logFlags) register(fs *flag.FlagSet, defaultLevel string) {
	fs.StringVar(&l.level, "log-level", defaultLevel, "log level: debug, info, warn, error")
	fs.StringVar(&l.format, "log-format", "json", "log format: json (for journald) or console (for people)")
}

// logger builds the process logger: JSON lines on stderr, or console text.
func (l *logFlags) logger(w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(l.level)
	if err != nil || l.level == "" {
		return zerolog.Nop(), fmt.Errorf("--log-level %q: want debug, info, warn or error", l.level)
	}
	switch l.format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	default:
		return zerolog.Nop(), fmt.Errorf("--log-format %q: want json or console", l.format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// fail prints err for command name and returns its exit code: 2 for bad
// input (configuration, usage), 1 otherwise.
func fail(e *env, name string, err error) int {
	fmt.Fprintf(e.stderr, "storefence %s: %v\n", name, err)
	var ce *config.Error
	var ue usageError
	if errors.As(err, &ce) || errors.As(err, &ue) {
		return 2
	}
	return 1
}

// usageError marks an error in how the command was called (exit 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func runVersion(_ context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "version")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	fmt.Fprintf(e.stdout, "storefence %s (commit %s, built %s)\n", version, commit, date)
	return 0
}
