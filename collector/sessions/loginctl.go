package sessions

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/storefence/storefence/collector"
	"github.com/storefence/storefence/report"
)

// loginctlTimeout bounds one loginctl run, so that a wedged D-Bus cannot
// stall the collection.
const loginctlTimeout = 10 * time.Second

// showSessionArgs returns the loginctl arguments that print the properties
// of session id the collector reads. systemd 252 (Debian 12) has no JSON
// output for loginctl (its -o is the journal output mode of session-status),
// so they are asked for in the key=value form every systemd version prints.
func showSessionArgs(id string) []string {
	return []string{"show-session", "--no-pager",
		"-p", "Name", "-p", "TTY", "-p", "RemoteHost", "-p", "Remote",
		"-p", "Timestamp", "-p", "Class", "--", id}
}

// loginctlError is a loginctl run that failed. Stderr is the first line of
// its standard error: logind's messages name sessions and buses, never users.
type loginctlError struct {
	Command string // "list-sessions", "show-session"
	Stderr  string
	Err     error
}

// Error returns "loginctl <command>: <stderr>: <cause>".
func (e *loginctlError) Error() string {
	if e.Stderr == "" {
		return "loginctl " + e.Command + ": " + e.Err.Error()
	}
	return "loginctl " + e.Command + ": " + e.Stderr + ": " + e.Err.Error()
}

// Unwrap returns the cause: an *exec.ExitError, *exec.Error or context error.
func (e *loginctlError) Unwrap() error { return e.Err }

// runLoginctl runs loginctl with args and returns its standard output. The
// C locale and UTC make its timestamps parseable. A failure is a
// *loginctlError.
func runLoginctl(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, loginctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "loginctl", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=")
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		le := &loginctlError{Command: args[0], Err: err}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			le.Stderr = firstLine(ee.Stderr)
		}
		return nil, le
	}
	return out, nil
}

// loginctlSessions returns the user-class sessions logind knows. It wraps
// collector.ErrUnsupported when there is no loginctl or no logind to ask.
func (c *Collector) loginctlSessions(ctx context.Context) ([]report.Session, error) {
	out, err := c.loginctl(ctx, "list-sessions", "--no-legend", "--no-pager")
	if err != nil {
		if noLogind(err) {
			return nil, fmt.Errorf("%w: %w", err, collector.ErrUnsupported)
		}
		return nil, err
	}
	ids := parseSessionIDs(out)
	if len(ids) > report.MaxSessions {
		ids = ids[:report.MaxSessions]
	}
	var (
		ss       []report.Session
		failed   int
		firstErr error
	)
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return ss, err
		}
		out, err := c.loginctl(ctx, showSessionArgs(id)...)
		if err != nil {
			if sessionGone(err) {
				continue // it ended since list-sessions
			}
			if failed++; firstErr == nil {
				firstErr = err
			}
			continue
		}
		ls := parseShowSession(out)
		if !ls.isUser() {
			continue
		}
		ss = append(ss, ls.session())
	}
	if failed > 0 {
		return ss, fmt.Errorf("%d of %d sessions unreadable: %w", failed, len(ids), firstErr)
	}
	return ss, nil
}

// noLogind reports whether a loginctl failure means that logind cannot be
// asked here at all: no loginctl binary, or no systemd as init (containers,
// WSL) so no bus to reach logind on.
func noLogind(err error) bool {
	if errors.Is(err, exec.ErrNotFound) {
		return true
	}
	var le *loginctlError
	if !errors.As(err, &le) {
		return false
	}
	return strings.Contains(le.Stderr, "System has not been booted with systemd") ||
		strings.Contains(le.Stderr, "Failed to connect to bus")
}

// sessionGone reports whether show-session failed because the session no
// longer exists.
func sessionGone(err error) bool {
	var le *loginctlError
	return errors.As(err, &le) && strings.Contains(le.Stderr, "No session")
}

// parseSessionIDs returns the session ids in the output of
// "loginctl list-sessions --no-legend". Each line starts with the id and the
// numeric uid ("SESSION UID USER SEAT TTY" in systemd 252, more columns
// later); other lines ("No sessions.") and ids that could pass for an option
// are skipped.
func parseSessionIDs(out []byte) []string {
	var ids []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !validSessionID(f[0]) || !allDigits(f[1]) {
			continue
		}
		ids = append(ids, f[0])
	}
	return ids
}

// validSessionID reports whether id looks like a logind session id ("3",
// "c1", "5-greeter"): ASCII letters, digits, '-' and '_', not starting with
// '-', at most 64 bytes.
func validSessionID(id string) bool {
	if id == "" || len(id) > 64 || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// allDigits reports whether s is a non-empty string of ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// logindSession is what "loginctl show-session -p …" says of a session.
type logindSession struct {
	Name       string // user name
	TTY        string
	RemoteHost string
	Remote     bool
	Timestamp  time.Time // zero when absent or unparseable
	Class      string    // "user", "greeter", "lock-screen", "background", "manager", …
}

// parseShowSession parses the key=value lines of "loginctl show-session".
// Unknown keys and malformed lines are ignored.
func parseShowSession(out []byte) logindSession {
	var ls logindSession
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "Name":
			ls.Name = v
		case "TTY":
			ls.TTY = v
		case "RemoteHost":
			ls.RemoteHost = v
		case "Remote":
			ls.Remote = v == "yes"
		case "Timestamp":
			ls.Timestamp = parseLogindTime(v)
		case "Class":
			ls.Class = v
		}
	}
	return ls
}

// isUser reports whether ls is a user's login: a session of class "user"
// (or systemd 256's "user-early", "user-incomplete", "user-light") with a
// user name. Greeters, lock screens, background and manager sessions are
// not logins.
func (ls logindSession) isUser() bool {
	return ls.Name != "" && (ls.Class == "user" || strings.HasPrefix(ls.Class, "user-"))
}

// session converts ls. Sessions without a terminal (sftp, ssh commands) are
// kept: their origin is what matters.
func (ls logindSession) session() report.Session {
	return report.Session{
		User:     clean(ls.Name),
		Terminal: clean(strings.TrimPrefix(ls.TTY, "/dev/")),
		Origin:   origin(ls.RemoteHost),
		Started:  ls.Timestamp,
		Source:   sourceLoginctl,
	}
}

// parseLogindTime parses a timestamp as loginctl prints it under TZ=UTC and
// LC_ALL=C: "Sat 2026-11-28 09:58:00 UTC". It returns the zero time for "",
// "n/a", and times in any other zone: time.Parse would guess the offset of a
// zone abbreviation it does not know as zero.
func parseLogindTime(v string) time.Time {
	v = strings.TrimSpace(v)
	for _, layout := range []string{
		"Mon 2006-01-02 15:04:05 MST",
		"Mon 2006-01-02 15:04:05.000000 MST",
		"2006-01-02 15:04:05 MST",
	} {
		t, err := time.Parse(layout, v)
		if err != nil {
			continue
		}
		if name, _ := t.Zone(); name != "UTC" {
			return time.Time{}
		}
		return t.UTC()
	}
	return time.Time{}
}

// firstLine returns the first non-empty line of b without surrounding
// space and final periods, at most 200 bytes.
func firstLine(b []byte) string {
	for line := range bytes.Lines(b) {
		s := strings.TrimRight(strings.TrimSpace(string(line)), ".")
		if s == "" {
			continue
		}
		if len(s) > 200 {
			s = s[:200]
		}
		return strings.ToValidUTF8(s, "?")
	}
	return ""
}
