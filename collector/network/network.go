// Package network describes the line a machine is on: the address and MAC
// of its default gateway (one router, one LAN), and its time zone and locale.
//
// On Linux it reads procfs; on macOS and Windows it runs the route and arp
// commands and parses their output. Parsers are pure functions of the bytes
// they are given; all OS access goes through the Collector's seams.
package network

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/collector"
	"github.com/storefence/storefence/report"
)

// Collector fills the network section of a report. Its zero value is not
// usable; call New.
type Collector struct {
	log zerolog.Logger

	// Seams to the operating system, set by New and replaced in tests.
	readFile  func(name string) ([]byte, error)
	readlink  func(name string) (string, error)
	lookupEnv func(key string) (string, bool)
	run       func(ctx context.Context, name string, args ...string) ([]byte, error)
	now       func() time.Time

	// Per-OS sources, set by setOS in the network_GOOS.go files. gateway
	// returns what it found along with the error for what it did not;
	// systemTimezone and systemLocale return "" and no error when the
	// system does not say.
	gateway        func(context.Context) (gateway, error)
	systemTimezone func(context.Context) (string, error)
	systemLocale   func(context.Context) (string, error)
}

// New returns a network collector that reads this machine. log should
// already carry whatever fields identify the collector in the agent's logs.
func New(log zerolog.Logger) *Collector {
	c := &Collector{
		log:       log,
		readFile:  os.ReadFile,
		readlink:  os.Readlink,
		lookupEnv: os.LookupEnv,
		run:       runCommand,
		now:       time.Now,
	}
	c.setOS()
	return c
}

// Name returns "network".
func (c *Collector) Name() string { return "network" }

// Collect sets r.Network. A gateway or locale that cannot be read is
// returned as an error, joined, beside the facts that could; the time zone
// always has at least the UTC offset of the local clock.
func (c *Collector) Collect(ctx context.Context, r *report.Report) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	var n report.Network
	var errs []error

	gw, err := c.gateway(ctx)
	if gw.IP.IsValid() {
		n.GatewayIP = gw.IP.Unmap().String()
	}
	n.GatewayMAC = gw.MAC
	if err != nil {
		errs = append(errs, fmt.Errorf("network: gateway: %w", err))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("network: %w", err)
	}

	n.Timezone = c.timezone(ctx)

	n.Locale, err = c.locale(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("network: locale: %w", err))
	}

	c.log.Debug().
		Bool("gateway_ip", n.GatewayIP != "").
		Bool("gateway_mac", n.GatewayMAC != "").
		Str("timezone", n.Timezone).
		Str("locale", n.Locale).
		Int("errors", len(errs)).
		Msg("network facts collected")

	if n == (report.Network{}) {
		return errors.Join(append([]error{fmt.Errorf("network: no network facts observable: %w", collector.ErrUnsupported)}, errs...)...)
	}
	r.Network = &n
	return errors.Join(errs...)
}

// runCommand runs name with args and returns its standard output. A failure
// carries the first line of the command's standard error.
func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if msg, _, _ := strings.Cut(strings.TrimSpace(string(ee.Stderr)), "\n"); msg != "" {
				return nil, fmt.Errorf("%s: %s: %w", name, msg, err)
			}
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// timezone returns the time zone's name from TZ, else from the system, else
// the local clock's UTC offset ("UTC+08:00").
func (c *Collector) timezone(ctx context.Context) string {
	if tz, ok := c.lookupEnv("TZ"); ok {
		if strings.TrimSpace(tz) == "" {
			return "UTC" // an empty TZ means UTC to libc and to Go
		}
		if name := parseTZ(tz); name != "" {
			return name
		}
	}
	name, err := c.systemTimezone(ctx)
	if err != nil {
		c.log.Debug().Err(err).Msg("system time zone not read")
	}
	if name != "" {
		return name
	}
	return offsetZone(c.now())
}

// parseTZ returns the zone that the TZ variable names: "Asia/Shanghai",
// ":Asia/Shanghai", ":/usr/share/zoneinfo/Asia/Shanghai" give
// "Asia/Shanghai", and a POSIX rule such as "CST-8" is returned as it is.
// A path outside a zoneinfo tree (":/etc/localtime", a common way to spare
// libc a stat) names no zone and gives "".
func parseTZ(tz string) string {
	tz = strings.TrimPrefix(strings.TrimSpace(tz), ":")
	if strings.Contains(tz, "zoneinfo/") {
		name, _ := zoneFromPath(tz)
		return name
	}
	if strings.HasPrefix(tz, "/") || strings.HasPrefix(tz, ".") || !validZone(tz) {
		return ""
	}
	return tz
}

// zoneFromPath returns the zone name in the path of a zoneinfo file, such as
// the target of the /etc/localtime symlink: "/usr/share/zoneinfo/Asia/Shanghai",
// "../usr/share/zoneinfo/posix/Asia/Shanghai" and macOS's
// "/var/db/timezone/zoneinfo/Asia/Shanghai" give "Asia/Shanghai".
func zoneFromPath(target string) (string, bool) {
	const dir = "zoneinfo/"
	i := strings.LastIndex(target, dir)
	if i < 0 {
		return "", false
	}
	name := target[i+len(dir):]
	for _, p := range []string{"posix/", "right/"} {
		name = strings.TrimPrefix(name, p)
	}
	if !validZone(name) || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") ||
		strings.Contains(name, "//") || strings.Contains(name, "..") || strings.HasPrefix(name, ".") || strings.Contains(name, "/.") {
		return "", false
	}
	return name, true
}

// validZone reports whether name is made of the characters of tz database
// names and POSIX TZ rules, and is of a sane length.
func validZone(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' ||
			strings.IndexByte("/_+-.,:<>", ch) >= 0) {
			return false
		}
	}
	return true
}

// parseTimezoneFile returns the zone named by Debian's /etc/timezone: its
// first line that is neither blank nor a comment.
func parseTimezoneFile(r io.Reader) (string, error) {
	name := ""
	err := scanLines(r, func(line string) {
		line = strings.TrimSpace(line)
		if name != "" || line == "" || strings.HasPrefix(line, "#") {
			return
		}
		name = line
	})
	if err != nil || !validZone(name) || strings.HasPrefix(name, "/") || strings.HasPrefix(name, ".") {
		return "", err
	}
	return name, nil
}

// offsetZone formats the UTC offset of t's zone as "UTC+08:00" or
// "UTC-03:30".
func offsetZone(t time.Time) string {
	_, off := t.Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("UTC%c%02d:%02d", sign, off/3600, off%3600/60)
}

// symlinkTimezone returns the zone that /etc/localtime links to. A missing
// file, or a copy rather than a link, names no zone and is no error.
func (c *Collector) symlinkTimezone(context.Context) (string, error) {
	target, err := c.readlink("/etc/localtime")
	if err != nil {
		var pe *fs.PathError
		if errors.Is(err, fs.ErrNotExist) || errors.As(err, &pe) && pe.Op == "readlink" {
			return "", nil // absent, or not a symlink (EINVAL)
		}
		return "", err
	}
	name, _ := zoneFromPath(target)
	return name, nil
}

// linuxTimezone returns the zone that /etc/localtime links to, which is what
// libc and Go use, else the one that Debian's /etc/timezone names.
func (c *Collector) linuxTimezone(ctx context.Context) (string, error) {
	name, err := c.symlinkTimezone(ctx)
	if name != "" {
		return name, nil
	}
	b, ferr := c.readFile("/etc/timezone")
	if ferr != nil {
		if errors.Is(ferr, fs.ErrNotExist) {
			return "", err
		}
		return "", errors.Join(err, ferr)
	}
	name, ferr = parseTimezoneFile(bytes.NewReader(b))
	return name, errors.Join(err, ferr)
}

// locale returns the locale of messages that the environment sets (LC_ALL,
// then LC_MESSAGES, then LANG), else the system's default.
func (c *Collector) locale(ctx context.Context) (string, error) {
	for _, key := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if v, ok := c.lookupEnv(key); ok && validLocale(strings.TrimSpace(v)) {
			return strings.TrimSpace(v), nil
		}
	}
	return c.systemLocale(ctx)
}

// validLocale reports whether s looks like a locale name ("en_US.UTF-8",
// "sr_RS@latin", "C", "zh-CN"): printable ASCII without blanks or quotes, of a
// sane length.
func validLocale(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '"' || s[i] == '\'' || s[i] == '=' {
			return false
		}
	}
	return true
}

// parseLocaleConf returns the LANG that a shell-style assignment file such
// as /etc/default/locale or /etc/locale.conf sets, the last one winning.
// Comments, "export ", and single or double quotes are understood.
func parseLocaleConf(r io.Reader) (string, error) {
	lang := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimSpace(strings.TrimPrefix(line, "export "))
		key, val, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(key) != "LANG" {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		if validLocale(val) {
			lang = val
		}
	}
	return lang, sc.Err()
}

// linuxLocale returns the LANG of /etc/default/locale (Debian, Ubuntu) or
// /etc/locale.conf (systemd).
func (c *Collector) linuxLocale(context.Context) (string, error) {
	var errs []error
	for _, name := range []string{"/etc/default/locale", "/etc/locale.conf"} {
		b, err := c.readFile(name)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		lang, err := parseLocaleConf(bytes.NewReader(b))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		if lang != "" {
			return lang, nil
		}
	}
	return "", errors.Join(errs...)
}
