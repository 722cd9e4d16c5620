package sessions

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/report"
)

func TestParseSessionIDs(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{
			name: "systemd 252",
			in: "      1 1000 alice seat0 tty2\n" +
				"      3 1000 alice       pts/0\n" +
				"     c1  120 gdm   seat0 tty1\n",
			want: []string{"1", "3", "c1"},
		},
		{
			name: "systemd 256 columns",
			in: "1 1000 alice seat0 1234 user    tty2 no -\n" +
				"5 0    root  -     5678 manager -    no -\n",
			want: []string{"1", "5"},
		},
		{"legend lines", "SESSION  UID USER  SEAT  TTY\n\n2 sessions listed.\nNo sessions.\n", nil},
		{"option-like and odd ids", "-p 1000 x\n--help 0 y\n3/4 0 z\nä 0 w\nok 12a v\n", nil},
		{"id only", "7\n", nil},
		{"CRLF", "4 1000 alice seat0 tty2\r\n", []string{"4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseSessionIDs([]byte(tt.in))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseSessionIDs(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseShowSession(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want logindSession
		user bool
	}{
		{
			name: "local graphical login",
			in:   "Name=alice\nTTY=tty2\nRemoteHost=\nRemote=no\nTimestamp=Sat 2026-11-28 09:58:00 UTC\nClass=user\n",
			want: logindSession{Name: "alice", TTY: "tty2", Timestamp: at("2026-11-28T09:58:00Z"), Class: "user"},
			user: true,
		},
		{
			name: "remote ssh login",
			in:   "Name=bob\nTTY=pts/0\nRemoteHost=198.51.100.4\nRemote=yes\nTimestamp=Sun 2026-11-29 07:00:01 UTC\nClass=user\n",
			want: logindSession{Name: "bob", TTY: "pts/0", RemoteHost: "198.51.100.4", Remote: true, Timestamp: at("2026-11-29T07:00:01Z"), Class: "user"},
			user: true,
		},
		{
			name: "greeter",
			in:   "Name=gdm\nTTY=tty1\nClass=greeter\nTimestamp=Sat 2026-11-28 09:00:00 UTC\n",
			want: logindSession{Name: "gdm", TTY: "tty1", Timestamp: at("2026-11-28T09:00:00Z"), Class: "greeter"},
		},
		{
			name: "manager",
			in:   "Name=alice\nClass=manager\n",
			want: logindSession{Name: "alice", Class: "manager"},
		},
		{
			name: "systemd 256 early user class",
			in:   "Name=carol\nClass=user-early\n",
			want: logindSession{Name: "carol", Class: "user-early"},
			user: true,
		},
		{
			name: "no user name",
			in:   "Name=\nClass=user\n",
			want: logindSession{Class: "user"},
		},
		{
			name: "unknown keys, junk and a value with =",
			in:   "Id=3\njunk\nName=dave\nRemoteHost=a=b\nTimestamp=n/a\nClass=user",
			want: logindSession{Name: "dave", RemoteHost: "a=b", Class: "user"},
			user: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseShowSession([]byte(tt.in))
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(logindSession{})); diff != "" {
				t.Errorf("parseShowSession(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if got.isUser() != tt.user {
				t.Errorf("isUser() = %v, want %v", got.isUser(), tt.user)
			}
		})
	}
}

func TestLogindSessionSession(t *testing.T) {
	ls := logindSession{Name: "bob", TTY: "/dev/pts/0", RemoteHost: "198.51.100.4", Timestamp: at("2026-11-29T07:00:01Z"), Class: "user"}
	want := report.Session{User: "bob", Terminal: "pts/0", Origin: "198.51.100.4", Started: at("2026-11-29T07:00:01Z"), Source: "loginctl"}
	if diff := cmp.Diff(want, ls.session()); diff != "" {
		t.Errorf("session() mismatch (-want +got):\n%s", diff)
	}
}

func TestParseLogindTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"Sat 2026-11-28 09:58:00 UTC", at("2026-11-28T09:58:00Z")},
		{" Sat 2026-11-28 09:58:00 UTC ", at("2026-11-28T09:58:00Z")},
		{"Sat 2026-11-28 09:58:00.123456 UTC", at("2026-11-28T09:58:00.123456Z")},
		{"2026-11-28 09:58:00 UTC", at("2026-11-28T09:58:00Z")},
		{"Sat 2026-11-28 10:58:00 CET", time.Time{}}, // zone offset unknown to Parse
		{"n/a", time.Time{}},
		{"", time.Time{}},
	}
	for _, tt := range tests {
		if got := parseLogindTime(tt.in); !got.Equal(tt.want) {
			t.Errorf("parseLogindTime(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNoLogind(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"not installed", &exec.Error{Name: "loginctl", Err: exec.ErrNotFound}, true},
		{"no systemd", &loginctlError{Command: "list-sessions", Stderr: "System has not been booted with systemd as init system (PID 1). Can't operate.", Err: errors.New("exit status 1")}, true},
		{"no bus", &loginctlError{Command: "list-sessions", Stderr: "Failed to connect to bus: Host is down", Err: errors.New("exit status 1")}, true},
		{"access denied", &loginctlError{Command: "list-sessions", Stderr: "Access denied", Err: errors.New("exit status 1")}, false},
		{"other", errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := noLogind(tt.err); got != tt.want {
			t.Errorf("noLogind(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// fakeLoginctlBinary puts a shell script named loginctl first in PATH.
func fakeLoginctlBinary(t *testing.T, script string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs a POSIX shell")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "loginctl"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
}

func TestRunLoginctl(t *testing.T) {
	t.Run("environment and arguments", func(t *testing.T) {
		fakeLoginctlBinary(t, `echo "$TZ $LC_ALL $*"`)
		out, err := runLoginctl(context.Background(), "show-session", "--", "3")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(out), "UTC C show-session -- 3\n"; got != want {
			t.Errorf("output = %q, want %q", got, want)
		}
	})
	t.Run("failure keeps the first stderr line", func(t *testing.T) {
		fakeLoginctlBinary(t, "echo 'System has not been booted with systemd as init system (PID 1). Can'\\''t operate.' >&2\necho 'Failed to connect to bus: Host is down' >&2\nexit 1\n")
		_, err := runLoginctl(context.Background(), "list-sessions")
		var le *loginctlError
		if !errors.As(err, &le) {
			t.Fatalf("error = %v, want a *loginctlError", err)
		}
		if want := "System has not been booted with systemd as init system (PID 1). Can't operate"; le.Stderr != want {
			t.Errorf("Stderr = %q, want %q", le.Stderr, want)
		}
		if !noLogind(err) {
			t.Errorf("noLogind(%v) = false", err)
		}
	})
	t.Run("not installed", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := runLoginctl(context.Background(), "list-sessions")
		if !errors.Is(err, exec.ErrNotFound) || !noLogind(err) {
			t.Errorf("error = %v, want exec.ErrNotFound", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		fakeLoginctlBinary(t, "exec /bin/sleep 10\n")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := runLoginctl(ctx, "list-sessions")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
	})
}

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"\n\n  x  \ny\n":          "x",
		"\xff bad":                "? bad",
		"No session '4' known.\n": "No session '4' known",
		strings.Repeat("a", 300):  strings.Repeat("a", 200),
	} {
		if got := firstLine([]byte(in)); got != want {
			t.Errorf("firstLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseSessionIDs(f *testing.F) {
	f.Add([]byte("      1 1000 alice seat0 tty2\n      3 1000 alice       pts/0\n"))
	f.Add([]byte("No sessions.\n"))
	f.Add([]byte("-x 0\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		for _, id := range parseSessionIDs(out) {
			if !validSessionID(id) || strings.HasPrefix(id, "-") {
				t.Fatalf("invalid id %q", id)
			}
		}
	})
}

func FuzzParseShowSession(f *testing.F) {
	f.Add([]byte("Name=bob\nTTY=pts/0\nRemoteHost=198.51.100.4\nRemote=yes\nTimestamp=Sun 2026-11-29 07:00:01 UTC\nClass=user\n"))
	f.Add([]byte("Name=\xff\nRemoteHost=:0\nTimestamp=Mon 2006-01-02 15:04:05 MST\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		ls := parseShowSession(out)
		s := ls.session()
		for _, v := range []string{s.User, s.Terminal, s.Origin} {
			if !utf8.ValidString(v) || len(v) > report.MaxString {
				t.Fatalf("field %q is not valid for a report", v)
			}
		}
		if !s.Started.IsZero() && s.Started.Location() != time.UTC {
			t.Fatalf("Started %v not in UTC", s.Started)
		}
	})
}
