package sessions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	"github.com/shirou/gopsutil/v3/host"

	"github.com/storefence/storefence/collector"
	"github.com/storefence/storefence/report"
)

// testCollector returns a Linux amd64 Collector whose seams fail the test
// when a case uses one it did not set up: no utmp users, no loginctl, no
// wtmp file, no WTS. The log goes to logs.
func testCollector(t *testing.T, logs io.Writer) *Collector {
	t.Helper()
	return &Collector{
		log:    zerolog.New(logs).Level(zerolog.DebugLevel),
		goos:   "linux",
		goarch: "amd64",
		users:  func(context.Context) ([]host.UserStat, error) { return nil, nil },
		loginctl: func(_ context.Context, args ...string) ([]byte, error) {
			t.Errorf("unexpected loginctl %q", args)
			return nil, errors.New("unexpected loginctl")
		},
		openWtmp: func() (io.ReadCloser, error) {
			return nil, &fs.PathError{Op: "open", Path: "/var/log/wtmp", Err: fs.ErrNotExist}
		},
		wts: func(context.Context) ([]report.Session, error) {
			t.Error("unexpected WTS call")
			return nil, nil
		},
		now: func() time.Time { return testNow },
	}
}

// run is one fake loginctl result.
type run struct {
	out string
	err error
}

// fakeLoginctl answers loginctl invocations from runs, keyed by the
// space-joined arguments.
func fakeLoginctl(t *testing.T, runs map[string]run) func(context.Context, ...string) ([]byte, error) {
	return func(_ context.Context, args ...string) ([]byte, error) {
		r, ok := runs[strings.Join(args, " ")]
		if !ok {
			t.Errorf("unexpected loginctl %q", args)
			return nil, errors.New("unexpected loginctl")
		}
		return []byte(r.out), r.err
	}
}

func show(id string) string { return strings.Join(showSessionArgs(id), " ") }

const listSessions = "list-sessions --no-legend --no-pager"

// errExit stands for the *exec.ExitError of a loginctl that failed.
var errExit = errors.New("exit status 1")

func exitErr(stderr string) error {
	return &loginctlError{Command: "list-sessions", Stderr: stderr, Err: errExit}
}

func wtmpFile(data []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}

func users(us ...host.UserStat) func(context.Context) ([]host.UserStat, error) {
	return func(context.Context) ([]host.UserStat, error) { return us, nil }
}

func usersErr(err error) func(context.Context) ([]host.UserStat, error) {
	return func(context.Context) ([]host.UserStat, error) { return nil, err }
}

var (
	noUtmp      = &fs.PathError{Op: "open", Path: "/var/run/utmp", Err: fs.ErrNotExist}
	deniedUtmp  = &fs.PathError{Op: "open", Path: "/var/run/utmp", Err: fs.ErrPermission}
	notFound    = &exec.Error{Name: "loginctl", Err: exec.ErrNotFound}
	privateUser = []string{"zoe-private", "yann-private", "xia-private", "wes-private"}
)

// A past remote login of the last Lookback, as wtmp holds it.
func pastLogin() []byte {
	return encodeWtmp(layoutAMD64,
		login("pts/7", "wes-private", "203.0.113.5", v4("203.0.113.5"), at("2026-11-20T10:00:00Z")),
		logout("pts/7", at("2026-11-20T10:30:00Z")))
}

var pastSession = report.Session{User: "wes-private", Terminal: "pts/7", Origin: "203.0.113.5", Started: at("2026-11-20T10:00:00Z"), Ended: ended("2026-11-20T10:30:00Z"), Source: "wtmp"}

func TestCollect(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, c *Collector)
		want    []report.Session
		wantErr []error // the error wraps each; nil: no error
		notErr  []error // the error wraps none of these
	}{
		{
			name: "utmp and wtmp",
			setup: func(t *testing.T, c *Collector) {
				c.users = users(
					host.UserStat{User: "zoe-private", Terminal: "tty2", Started: int(at("2026-11-28T09:00:00Z").Unix())},
					host.UserStat{User: "yann-private", Terminal: "pts/0", Host: "198.51.100.4", Started: int(at("2026-11-29T07:00:00Z").Unix())},
					host.UserStat{User: "xia-private", Terminal: "pts/1", Host: ":pts/0:S.0", Started: int(at("2026-11-29T08:00:00Z").Unix())},
				)
				c.openWtmp = wtmpFile(cat(pastLogin(), encodeWtmp(layoutAMD64,
					// the wtmp record of yann's current session
					login("pts/0", "yann-private", "198.51.100.4", v4("198.51.100.4"), at("2026-11-29T07:00:00Z")))))
			},
			want: []report.Session{
				{User: "xia-private", Terminal: "pts/1", Started: at("2026-11-29T08:00:00Z"), Source: "utmp"},
				{User: "yann-private", Terminal: "pts/0", Origin: "198.51.100.4", Started: at("2026-11-29T07:00:00Z"), Source: "utmp"},
				{User: "zoe-private", Terminal: "tty2", Started: at("2026-11-28T09:00:00Z"), Source: "utmp"},
				pastSession,
			},
		},
		{
			name: "no utmp: loginctl",
			setup: func(t *testing.T, c *Collector) {
				c.users = usersErr(noUtmp)
				c.loginctl = fakeLoginctl(t, map[string]run{
					listSessions: {out: "      1 1000 zoe-private seat0 tty2\n      3 1001 yann-private       pts/0\n     c1  120 gdm   seat0 tty1\n      4 1002 xia-private - -\n      5 1001 yann-private - -\n"},
					show("1"):    {out: "Name=zoe-private\nTTY=tty2\nRemoteHost=\nRemote=no\nTimestamp=Sat 2026-11-28 09:00:00 UTC\nClass=user\n"},
					show("3"):    {out: "Name=yann-private\nTTY=pts/0\nRemoteHost=198.51.100.4\nRemote=yes\nTimestamp=Sun 2026-11-29 07:00:00 UTC\nClass=user\n"},
					show("c1"):   {out: "Name=gdm\nTTY=tty1\nRemoteHost=\nRemote=no\nTimestamp=Sat 2026-11-28 08:59:00 UTC\nClass=greeter\n"},
					show("4"):    {err: &loginctlError{Command: "show-session", Stderr: "Failed to get session path: No session '4' known.", Err: errors.New("exit status 1")}},
					show("5"):    {out: "Name=yann-private\nTTY=\nRemoteHost=198.51.100.9\nRemote=yes\nTimestamp=Sun 2026-11-29 07:30:00 UTC\nClass=user\n"},
				})
			},
			want: []report.Session{
				{User: "yann-private", Origin: "198.51.100.9", Started: at("2026-11-29T07:30:00Z"), Source: "loginctl"},
				{User: "yann-private", Terminal: "pts/0", Origin: "198.51.100.4", Started: at("2026-11-29T07:00:00Z"), Source: "loginctl"},
				{User: "zoe-private", Terminal: "tty2", Started: at("2026-11-28T09:00:00Z"), Source: "loginctl"},
			},
		},
		{
			name: "no utmp, no sessions",
			setup: func(t *testing.T, c *Collector) {
				c.users = usersErr(noUtmp)
				c.loginctl = fakeLoginctl(t, map[string]run{listSessions: {}})
			},
		},
		{
			name: "no utmp, no loginctl",
			setup: func(t *testing.T, c *Collector) {
				c.users = usersErr(noUtmp)
				c.loginctl = fakeLoginctl(t, map[string]run{listSessions: {err: notFound}})
				c.openWtmp = wtmpFile(pastLogin())
			},
			want:    []report.Session{pastSession},
			wantErr: []error{collector.ErrUnsupported, exec.ErrNotFound},
		},
		{
			name: "no utmp, no systemd",
			setup: func(t *testing.T, c *Collector) {
				c.users = usersErr(noUtmp)
				c.loginctl = fakeLoginctl(t, map[string]run{listSessions: {err: exitErr("System has not been booted with systemd as init system (PID 1). Can't operate.")}})
			},
			wantErr: []error{collector.ErrUnsupported},
		},
		{
			name: "no utmp, loginctl fails",
			setup: func(t *testing.T, c *Collector) {
				c.users = usersErr(noUtmp)
				c.loginctl = fakeLoginctl(t, map[string]run{listSessions: {err: exitErr("Access denied")}})
				c.openWtmp = wtmpFile(pastLogin())
			},
			want:    []report.Session{pastSession},
			wantErr: []error{errExit},
			notErr:  []error{collector.ErrUnsupported},
		},
		{
			name: "no utmp, one session unreadable",
			setup: func(t *testing.T, c *Collector) {
				c.users = usersErr(noUtmp)
				c.loginctl = fakeLoginctl(t, map[string]run{
					listSessions: {out: "1 1000 zoe-private seat0 tty2\n2 1001 yann-private - pts/0\n"},
					show("1"):    {err: &loginctlError{Command: "show-session", Stderr: "Access denied", Err: errExit}},
					show("2"):    {out: "Name=yann-private\nTTY=pts/0\nRemoteHost=198.51.100.4\nTimestamp=Sun 2026-11-29 07:00:00 UTC\nClass=user\n"},
				})
			},
			want:    []report.Session{{User: "yann-private", Terminal: "pts/0", Origin: "198.51.100.4", Started: at("2026-11-29T07:00:00Z"), Source: "loginctl"}},
			wantErr: []error{errExit},
			notErr:  []error{collector.ErrUnsupported},
		},
		{
			name: "utmp unreadable: no fallback",
			setup: func(t *testing.T, c *Collector) {
				c.users = usersErr(deniedUtmp)
				c.openWtmp = wtmpFile(pastLogin())
			},
			want:    []report.Session{pastSession},
			wantErr: []error{fs.ErrPermission},
			notErr:  []error{collector.ErrUnsupported},
		},
		{
			name: "wtmp unreadable",
			setup: func(t *testing.T, c *Collector) {
				c.users = users(host.UserStat{User: "zoe-private", Terminal: "tty2", Started: int(at("2026-11-28T09:00:00Z").Unix())})
				c.openWtmp = func() (io.ReadCloser, error) {
					return nil, &fs.PathError{Op: "open", Path: "/var/log/wtmp", Err: fs.ErrPermission}
				}
			},
			want:    []report.Session{{User: "zoe-private", Terminal: "tty2", Started: at("2026-11-28T09:00:00Z"), Source: "utmp"}},
			wantErr: []error{fs.ErrPermission},
			notErr:  []error{collector.ErrUnsupported},
		},
		{
			name: "wtmp read error",
			setup: func(t *testing.T, c *Collector) {
				c.openWtmp = func() (io.ReadCloser, error) {
					return io.NopCloser(io.MultiReader(bytes.NewReader(pastLogin()), iotest.ErrReader(fs.ErrClosed))), nil
				}
			},
			want:    []report.Session{pastSession},
			wantErr: []error{fs.ErrClosed},
		},
		{
			name: "wtmp of an unknown architecture",
			setup: func(t *testing.T, c *Collector) {
				c.goarch = "sparc64"
				c.users = users(host.UserStat{User: "zoe-private", Terminal: "tty2", Started: int(at("2026-11-28T09:00:00Z").Unix())})
			},
			want:    []report.Session{{User: "zoe-private", Terminal: "tty2", Started: at("2026-11-28T09:00:00Z"), Source: "utmp"}},
			wantErr: []error{collector.ErrUnsupported},
		},
		{
			name: "macOS: utmpx, no wtmp",
			setup: func(t *testing.T, c *Collector) {
				c.goos = "darwin"
				c.users = users(host.UserStat{User: "zoe-private", Terminal: "ttys000", Host: "198.51.100.4", Started: int(at("2026-11-28T09:00:00Z").Unix())})
				c.openWtmp = func() (io.ReadCloser, error) {
					t.Error("wtmp read on macOS")
					return nil, fs.ErrNotExist
				}
			},
			want: []report.Session{{User: "zoe-private", Terminal: "ttys000", Origin: "198.51.100.4", Started: at("2026-11-28T09:00:00Z"), Source: "utmp"}},
		},
		{
			name: "macOS: no utmpx is an error, no loginctl",
			setup: func(t *testing.T, c *Collector) {
				c.goos = "darwin"
				c.users = usersErr(&fs.PathError{Op: "open", Path: "/var/run/utmpx", Err: fs.ErrNotExist})
			},
			wantErr: []error{fs.ErrNotExist},
			notErr:  []error{collector.ErrUnsupported},
		},
		{
			name: "Windows",
			setup: func(t *testing.T, c *Collector) {
				c.goos = "windows"
				c.wts = func(context.Context) ([]report.Session, error) {
					return []report.Session{
						{User: "zoe-private", Terminal: "Console", Started: at("2026-11-28T09:00:00Z"), Source: "wts"},
						{User: "yann-private", Terminal: "RDP-Tcp#3", Origin: "198.51.100.4", Started: at("2026-11-29T07:00:00Z"), Source: "wts"},
					}, nil
				}
				c.users = usersErr(errors.New("gopsutil: not implemented yet"))
			},
			want: []report.Session{
				{User: "yann-private", Terminal: "RDP-Tcp#3", Origin: "198.51.100.4", Started: at("2026-11-29T07:00:00Z"), Source: "wts"},
				{User: "zoe-private", Terminal: "Console", Started: at("2026-11-28T09:00:00Z"), Source: "wts"},
			},
		},
		{
			name: "Windows, some sessions unreadable",
			setup: func(t *testing.T, c *Collector) {
				c.goos = "windows"
				c.wts = func(context.Context) ([]report.Session, error) {
					return []report.Session{{User: "zoe-private", Terminal: "Console", Source: "wts"}}, fs.ErrPermission
				}
			},
			want:    []report.Session{{User: "zoe-private", Terminal: "Console", Source: "wts"}},
			wantErr: []error{fs.ErrPermission},
		},
		{
			name:    "other OS",
			setup:   func(t *testing.T, c *Collector) { c.goos = "plan9" },
			wantErr: []error{collector.ErrUnsupported},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			c := testCollector(t, &logs)
			tt.setup(t, c)
			r := &report.Report{}
			err := c.Collect(context.Background(), r)
			if diff := cmp.Diff(tt.want, r.Sessions); diff != "" {
				t.Errorf("Collect sessions mismatch (-want +got):\n%s", diff)
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("Collect error = %v, want nil", err)
			case tt.wantErr != nil && err == nil:
				t.Errorf("Collect error = nil, want one wrapping %v", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !errors.Is(err, w) {
					t.Errorf("Collect error = %v, want one wrapping %v", err, w)
				}
			}
			for _, w := range tt.notErr {
				if errors.Is(err, w) {
					t.Errorf("Collect error = %v wraps %v", err, w)
				}
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "sessions: ") || strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q: want one line with the prefix \"sessions: \"", err)
				}
				assertNoPersonalData(t, "error", err.Error(), r.Sessions)
			}
			assertNoPersonalData(t, "log", logs.String(), r.Sessions)
		})
	}
}

// assertNoPersonalData checks that text names none of the test users, nor
// an origin of sessions.
func assertNoPersonalData(t *testing.T, what, text string, sessions []report.Session) {
	t.Helper()
	for _, u := range privateUser {
		if strings.Contains(text, u) {
			t.Errorf("%s names user %s: %s", what, u, text)
		}
	}
	for _, s := range sessions {
		if s.Origin != "" && strings.Contains(text, s.Origin) {
			t.Errorf("%s names origin %s: %s", what, s.Origin, text)
		}
	}
}

func TestCollectCap(t *testing.T) {
	c := testCollector(t, io.Discard)
	c.users = users(
		host.UserStat{User: "a", Terminal: "tty1", Started: int(at("2026-01-01T00:00:00Z").Unix())},
		host.UserStat{User: "b", Terminal: "tty2", Started: int(at("2026-01-02T00:00:00Z").Unix())},
	)
	var recs []wtmpRec
	start := at("2026-11-01T00:00:00Z")
	for i := range report.MaxSessions + 500 {
		t := start.Add(time.Duration(i) * time.Minute)
		line := fmt.Sprintf("pts/%d", i)
		recs = append(recs, login(line, "u", "198.51.100.7", noAddr, t), logout(line, t.Add(30*time.Second)))
	}
	c.openWtmp = wtmpFile(encodeWtmp(layoutAMD64, recs...))
	r := &report.Report{Sessions: []report.Session{{User: "already there"}}}
	if err := c.Collect(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if got, want := len(r.Sessions), 1+report.MaxSessions; got != want {
		t.Fatalf("%d sessions, want %d", got, want)
	}
	got := r.Sessions[1:]
	if got[0].User != "b" || got[1].User != "a" {
		t.Errorf("current sessions not first: %+v %+v", got[0], got[1])
	}
	// Then the most recent past logins.
	last := start.Add(time.Duration(report.MaxSessions+500-1) * time.Minute)
	if !got[2].Started.Equal(last) {
		t.Errorf("first past login started %v, want %v", got[2].Started, last)
	}
	if want := last.Add(-time.Duration(report.MaxSessions-3) * time.Minute); !got[len(got)-1].Started.Equal(want) {
		t.Errorf("last past login started %v, want %v", got[len(got)-1].Started, want)
	}
}

func TestCollectCanceled(t *testing.T) {
	c := testCollector(t, io.Discard)
	c.users = func(context.Context) ([]host.UserStat, error) {
		t.Error("users read after cancel")
		return nil, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &report.Report{}
	if err := c.Collect(ctx, r); !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if len(r.Sessions) != 0 {
		t.Errorf("sessions = %v, want none", r.Sessions)
	}
}

func TestNew(t *testing.T) {
	c := New(zerolog.Nop())
	if c.Name() != "sessions" {
		t.Errorf("Name() = %q", c.Name())
	}
	if c.users == nil || c.loginctl == nil || c.openWtmp == nil || c.wts == nil || c.now == nil {
		t.Errorf("New left a seam unset: %+v", c)
	}
}

func TestNewHostVar(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOST_VAR", dir)
	_, err := New(zerolog.Nop()).openWtmp()
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != filepath.Join(dir, "log", "wtmp") {
		t.Errorf("openWtmp error = %v, want one about %s/log/wtmp", err, dir)
	}
}

func TestMerge(t *testing.T) {
	t0 := at("2026-11-29T07:00:00Z")
	cur := []report.Session{
		{User: "u", Terminal: "pts/0", Origin: "198.51.100.4", Started: t0, Source: "loginctl"},
		{User: "u", Terminal: "tty2", Started: t0.Add(-time.Hour), Source: "loginctl"},
	}
	recent := []report.Session{
		{User: "u", Terminal: "pts/0", Origin: "198.51.100.4", Started: t0.Add(time.Second), Source: "wtmp"}, // same session, stamped later
		{User: "u", Terminal: "pts/0", Origin: "198.51.100.5", Started: t0.Add(-3 * time.Second), Ended: ptr(t0.Add(-2 * time.Second)), Source: "wtmp"},
		{User: "u", Terminal: "pts/1", Origin: "198.51.100.6", Started: t0, Source: "wtmp"},
	}
	want := []report.Session{cur[0], cur[1], recent[2], recent[1]}
	if diff := cmp.Diff(want, merge(cur, recent, 10)); diff != "" {
		t.Errorf("merge mismatch (-want +got):\n%s", diff)
	}
	if got := merge(cur, recent, 1); len(got) != 1 || got[0].Terminal != "pts/0" || got[0].Source != "loginctl" {
		t.Errorf("merge(limit 1) = %+v", got)
	}
}

func TestOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "",
		"  ":                          "",
		":0":                          "",
		":pts/1:S.0":                  "",
		"tmux(1234).%0":               "",
		"198.51.100.4":                "198.51.100.4",
		" host.example ":              "host.example",
		"203.0.113.9 via mosh [4321]": "203.0.113.9",
		"2001:db8::1":                 "2001:db8::1",
		"bad\xffhost":                 "bad?host",
	} {
		if got := origin(in); got != want {
			t.Errorf("origin(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClean(t *testing.T) {
	long := strings.Repeat("a", report.MaxString-1) + "é" // é straddles the limit
	for _, tt := range []struct{ in, want string }{
		{"alice", "alice"},
		{"\xffa\xfe", "?a?"},
		{strings.Repeat("x", 600), strings.Repeat("x", report.MaxString)},
		{long, strings.Repeat("a", report.MaxString-1)},
	} {
		got := clean(tt.in)
		if got != tt.want || !utf8.ValidString(got) || len(got) > report.MaxString {
			t.Errorf("clean(%.20q…) = %.20q… (%d bytes), want %.20q… (%d bytes)", tt.in, got, len(got), tt.want, len(tt.want))
		}
	}
}

// cat concatenates byte slices.
func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
