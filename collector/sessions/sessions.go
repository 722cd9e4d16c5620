// Package sessions collects the login sessions of a machine and where they
// come from, for the session_origin signal: one workstation that administers
// two stores shows up as the same origin in both machines' reports.
//
// Current sessions come from utmp through gopsutil on Linux and macOS, from
// logind (loginctl) on Linux hosts without utmp, and from the Terminal
// Services API on Windows. On Linux, remote logins of the last 30 days
// (Lookback) come from /var/log/wtmp, read by this package's own parser.
//
// Sessions are personal data: the collector logs counts only, and its errors
// never carry user names or origins.
package sessions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/shirou/gopsutil/v3/host"

	"github.com/storefence/storefence/collector"
	"github.com/storefence/storefence/report"
)

// Lookback is how far back Collect reports past logins read from wtmp: a
// session is reported when it started, or was still open, within Lookback of
// the collection time. It matches the 30-day window of the session_origin
// signal.
const Lookback = 30 * 24 * time.Hour

// Values of report.Session.Source.
const (
	sourceUtmp     = "utmp"
	sourceWtmp     = "wtmp"
	sourceLoginctl = "loginctl"
	sourceWTS      = "wts"
)

// sameStart is how far apart two start times of the same terminal may be
// and still name one session: utmp and wtmp share a timestamp, but logind
// stamps its session a moment before the login writes wtmp.
const sameStart = 2 * time.Second

// Collector reports the machine's current login sessions and, on Linux, its
// recent remote logins. Its function fields are the OS seams; tests replace
// them.
type Collector struct {
	log    zerolog.Logger
	goos   string // runtime.GOOS, or the OS a test pretends to be
	goarch string // selects the struct utmp layout of wtmp

	users    func(context.Context) ([]host.UserStat, error)            // utmp via gopsutil
	loginctl func(ctx context.Context, args ...string) ([]byte, error) // runs loginctl, returns stdout
	openWtmp func() (io.ReadCloser, error)                             // the wtmp file
	wts      func(context.Context) ([]report.Session, error)           // Windows sessions
	now      func() time.Time
}

var _ collector.Collector = (*Collector)(nil)

// New returns a Collector that reads this machine. Like gopsutil's utmp
// reader, it looks for wtmp under $HOST_VAR (default /var), so an agent in a
// container can watch the host's /var mounted elsewhere.
func New(log zerolog.Logger) *Collector {
	varDir := os.Getenv("HOST_VAR")
	if varDir == "" {
		varDir = "/var"
	}
	wtmp := filepath.Join(varDir, "log", "wtmp")
	return &Collector{
		log:      log.With().Str("collector", "sessions").Logger(),
		goos:     runtime.GOOS,
		goarch:   runtime.GOARCH,
		users:    host.UsersWithContext,
		loginctl: runLoginctl,
		openWtmp: func() (io.ReadCloser, error) { return os.Open(wtmp) },
		wts:      newWTS(),
		now:      time.Now,
	}
}

// Name returns "sessions".
func (c *Collector) Name() string { return "sessions" }

// Collect appends the current sessions and, on Linux, the remote logins of
// the last Lookback to r.Sessions: at most report.MaxSessions, the current
// sessions first and then the past logins, each most recent first. When one
// source fails it still appends what the others saw and returns an error for
// the failure.
// The error wraps collector.ErrUnsupported when current sessions are not
// observable here (no utmp and no logind, or an OS without a session API);
// a missing wtmp is not an error.
func (c *Collector) Collect(ctx context.Context, r *report.Report) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	var (
		current []report.Session
		source  string
		err     error
		errs    []error
	)
	switch c.goos {
	case "linux", "darwin":
		current, source, err = c.currentUnix(ctx)
	case "windows":
		source = sourceWTS
		current, err = c.wts(ctx)
		if err != nil {
			err = fmt.Errorf("current sessions: %w", err)
		}
	default:
		return fmt.Errorf("sessions: %s: %w", c.goos, collector.ErrUnsupported)
	}
	if err != nil {
		errs = append(errs, err)
	}

	var recent []report.Session
	if c.goos == "linux" && ctx.Err() == nil {
		recent, err = c.recentLogins(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("recent logins: %w", err))
		}
	}

	out := merge(current, recent, report.MaxSessions)
	r.Sessions = append(r.Sessions, out...)
	c.log.Debug().Str("source", source).Int("current", len(current)).
		Int("recent", len(recent)).Int("reported", len(out)).Msg("sessions collected")

	if err := ctx.Err(); err != nil && len(errs) == 0 {
		errs = append(errs, err)
	}
	return joinErrors("sessions: ", errs)
}

// currentUnix returns the sessions in utmp, or on a Linux host without utmp
// the user sessions logind knows, and the name of the source it used.
func (c *Collector) currentUnix(ctx context.Context) ([]report.Session, string, error) {
	users, err := c.users(ctx)
	if err == nil {
		return fromUserStats(users), sourceUtmp, nil
	}
	if c.goos != "linux" || !errors.Is(err, fs.ErrNotExist) {
		return nil, sourceUtmp, fmt.Errorf("current sessions: %w", err)
	}
	// systemd-only hosts (Debian 13), and most containers, have no utmp.
	ss, err := c.loginctlSessions(ctx)
	if err != nil {
		return ss, sourceLoginctl, fmt.Errorf("current sessions: no utmp: %w", err)
	}
	return ss, sourceLoginctl, nil
}

// recentLogins returns the remote logins in wtmp that started or were still
// open within Lookback, most recent first.
func (c *Collector) recentLogins(ctx context.Context) ([]report.Session, error) {
	layout, ok := utmpLayoutFor(c.goarch)
	if !ok {
		return nil, fmt.Errorf("wtmp record layout of %s: %w", c.goarch, collector.ErrUnsupported)
	}
	f, err := c.openWtmp()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // rotated away, or never kept (containers, Debian 13)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ss, st, err := readWtmp(ctx, f, layout, c.now().Add(-Lookback), report.MaxSessions)
	c.log.Debug().Int("records", st.records).Int("invalid", st.invalid).
		Bool("truncated", st.truncated).Int("kept", len(ss)).Msg("wtmp read")
	return ss, err
}

// fromUserStats converts gopsutil's utmp entries.
func fromUserStats(users []host.UserStat) []report.Session {
	out := make([]report.Session, 0, len(users))
	for _, u := range users {
		out = append(out, report.Session{
			User:     clean(u.User),
			Terminal: clean(u.Terminal),
			Origin:   origin(u.Host),
			Started:  time.Unix(int64(u.Started), 0).UTC(),
			Source:   sourceUtmp,
		})
	}
	return out
}

// merge returns current followed by the sessions of recent that are not
// current ones, at most limit in all, most recent first. Current sessions
// win a place over past ones. Both inputs may be reordered.
func merge(current, recent []report.Session, limit int) []report.Session {
	slices.SortFunc(current, compareSessions)
	if len(current) > limit {
		current = current[:limit]
	}
	starts := make(map[string][]time.Time, len(current))
	for _, s := range current {
		starts[s.Terminal] = append(starts[s.Terminal], s.Started)
	}
	out := make([]report.Session, 0, min(limit, len(current)+len(recent)))
	out = append(out, current...)
	slices.SortFunc(recent, compareSessions)
	for _, s := range recent {
		if len(out) >= limit {
			break
		}
		if slices.ContainsFunc(starts[s.Terminal], func(t time.Time) bool {
			d := t.Sub(s.Started)
			return d <= sameStart && d >= -sameStart
		}) {
			continue // the wtmp record of a current session
		}
		out = append(out, s)
	}
	return out
}

// compareSessions orders sessions most recent first, then by the other
// fields, so that any list sorts the same way.
func compareSessions(a, b report.Session) int {
	if c := b.Started.Compare(a.Started); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Terminal, b.Terminal); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Origin, b.Origin); c != 0 {
		return c
	}
	if c := cmp.Compare(a.User, b.User); c != 0 {
		return c
	}
	switch {
	case a.Ended == nil && b.Ended == nil:
	case a.Ended == nil:
		return -1
	case b.Ended == nil:
		return 1
	default:
		if c := b.Ended.Compare(*a.Ended); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.Source, b.Source)
}

// origin turns a utmp or logind remote host into a report origin: "" for
// local logins, which include X displays (":0"), screen (":pts/1:S.0") and
// tmux ("tmux(1234).%0") entries; mosh's "203.0.113.9 via mosh [4321]"
// becomes its first word.
func origin(h string) string {
	h = strings.TrimSpace(h)
	if h == "" || strings.HasPrefix(h, ":") || strings.HasPrefix(h, "tmux(") {
		return ""
	}
	if i := strings.IndexAny(h, " \t"); i >= 0 {
		h = h[:i]
	}
	return clean(h)
}

// clean makes s valid UTF-8 of at most report.MaxString bytes, as the
// report decoder demands, without growing it: invalid bytes become '?'.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= report.MaxString {
		return s
	}
	s = s[:report.MaxString]
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size > 1 {
			break
		}
		s = s[:len(s)-1] // a rune cut in two
	}
	return s
}

// joinErrors wraps errs, if any, in one error with prefix on one line; it
// unwraps to each of errs.
func joinErrors(prefix string, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	format := prefix + strings.Repeat("%w; ", len(errs)-1) + "%w"
	args := make([]any, len(errs))
	for i, e := range errs {
		args[i] = e
	}
	return fmt.Errorf(format, args...)
}
