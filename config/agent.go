package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/storefence/storefence/report"
)

// Agent is agent.yaml: what one machine reports, where and how often.
type Agent struct {
	AgentID   string   `yaml:"agent_id"`
	Stores    []string `yaml:"stores"`
	Server    string   `yaml:"server"` // empty: collect and spool only
	TokenFile string   `yaml:"token_file"`
	CAFile    string   `yaml:"ca_file"`
	Schedule  string   `yaml:"schedule"`
	// Jitter is the most a run is delayed, at random, after its tick, so
	// that a fleet on one schedule does not call the server at once. nil:
	// a tenth of the schedule's interval, at most 30s; "0s": no jitter.
	Jitter   *Duration `yaml:"jitter"`
	SpoolDir string    `yaml:"spool_dir"`
	// SpoolMaxBytes and SpoolMaxAge bound the reports waiting to be sent:
	// past either, the oldest are dropped and counted.
	SpoolMaxBytes ByteSize `yaml:"spool_max_bytes"`
	SpoolMaxAge   Duration `yaml:"spool_max_age"`
	// SpoolRejectedMax is how many reports the server refused for good are
	// kept in spool_dir/rejected for inspection (the newest); 0 keeps none.
	SpoolRejectedMax int      `yaml:"spool_rejected_max"`
	PublicIP         PublicIP `yaml:"public_ip"`
	// Collectors lists the collectors to run, by name; empty runs all.
	Collectors []string `yaml:"collectors"`
}

// PublicIP configures the public-IP collector.
type PublicIP struct {
	Timeout      time.Duration `yaml:"timeout"`
	AllowPrivate bool          `yaml:"allow_private"`
	// Providers replace the built-in set when given.
	Providers      []Provider     `yaml:"providers"`
	ResolverEgress ResolverEgress `yaml:"resolver_egress"`
}

// Provider is one echo service: a DNS server that answers a query with the
// address it received it from, or an HTTPS URL that returns that address.
type Provider struct {
	Name   string `yaml:"name"`
	Kind   string `yaml:"kind"`   // "dns" or "https"
	Server string `yaml:"server"` // dns: host:port
	Query  string `yaml:"query"`  // dns: fully qualified name
	Type   string `yaml:"type"`   // dns: A, AAAA or TXT
	Class  string `yaml:"class"`  // dns: IN (default) or CH
	URL    string `yaml:"url"`    // https
}

// ResolverEgress configures the probe of the system resolver's egress.
type ResolverEgress struct {
	Disabled bool   `yaml:"disabled"`
	Query    string `yaml:"query"`  // TXT name that echoes the resolver's address
	Server   string `yaml:"server"` // host:port; empty: the system resolver
}

// Collector names, in the order they run.
var CollectorNames = []string{"publicip", "device", "network", "sessions"}

// DefaultAgent returns agent.yaml's defaults.
func DefaultAgent() Agent {
	spool := "/var/lib/storefence/spool"
	if runtime.GOOS == "windows" {
		spool = `C:\ProgramData\storefence\spool`
	}
	return Agent{
		Schedule:         "@every 5m",
		SpoolDir:         spool,
		SpoolMaxBytes:    64 << 20,
		SpoolMaxAge:      Duration(30 * 24 * time.Hour),
		SpoolRejectedMax: 100,
		PublicIP: PublicIP{
			Timeout:        2 * time.Second,
			ResolverEgress: ResolverEgress{Query: "whoami.ds.akahelp.net."},
		},
	}
}

// LoadAgent reads and validates agent.yaml.
func LoadAgent(path string) (*Agent, error) { return load(path, DefaultAgent()) }

// Validate checks every key; errors are *KeyError values joined together.
func (c *Agent) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.AgentID != "" && !report.ValidID(c.AgentID) {
		add(Keyf("agent_id", "must be 1 to 64 letters, digits, '.', '_' or '-'"))
	}
	add(validIDs("stores", c.Stores))
	if c.Server != "" {
		u, err := url.Parse(c.Server)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add(Keyf("server", "must be an http:// or https:// URL"))
		}
	}
	if _, err := cron.ParseStandard(c.Schedule); err != nil {
		add(Keyf("schedule", "%v", err))
	} else if c.Jitter != nil && time.Duration(*c.Jitter) >= c.Interval() {
		add(Keyf("jitter", "must be shorter than the schedule's interval (%v)", c.Interval()))
	}
	if c.SpoolDir == "" {
		add(Keyf("spool_dir", "required"))
	}
	if c.SpoolMaxBytes < MinSpoolBytes {
		add(Keyf("spool_max_bytes", "must be at least %v (a report may be up to 1MiB)", MinSpoolBytes))
	}
	if c.SpoolMaxAge <= 0 {
		add(Keyf("spool_max_age", "must be positive"))
	}
	if c.SpoolRejectedMax < 0 {
		add(Keyf("spool_rejected_max", "must not be negative"))
	}
	for i, name := range c.Collectors {
		if !slices.Contains(CollectorNames, name) {
			add(Keyf(indexed("collectors", i), "unknown collector %q (known: %s)", name, strings.Join(CollectorNames, ", ")))
		}
	}
	add(c.PublicIP.validate())
	return errors.Join(errs...)
}

// MinSpoolBytes is the least spool_max_bytes may be.
const MinSpoolBytes ByteSize = 1 << 20

// Interval is the shortest gap between two runs of the schedule (0 when the
// schedule does not parse). For "@every" it is the delay, which robfig/cron
// rounds down to whole seconds, at least 1s.
func (c *Agent) Interval() time.Duration {
	s, err := cron.ParseStandard(c.Schedule)
	if err != nil {
		return 0
	}
	if cd, ok := s.(cron.ConstantDelaySchedule); ok {
		return cd.Delay
	}
	// A fixed start keeps the answer the same on every call; two weeks of
	// runs cover weekly patterns.
	t := s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var gap time.Duration
	for range 16 {
		n := s.Next(t)
		if n.IsZero() {
			break
		}
		if d := n.Sub(t); gap == 0 || d < gap {
			gap = d
		}
		t = n
	}
	return gap
}

// JitterMax is the most a run waits after its tick: jitter when set, else a
// tenth of the interval, at most 30s.
func (c *Agent) JitterMax() time.Duration {
	if c.Jitter != nil {
		return time.Duration(*c.Jitter)
	}
	return min(c.Interval()/10, 30*time.Second)
}

// Enabled reports whether the collector called name should run.
func (c *Agent) Enabled(name string) bool {
	return len(c.Collectors) == 0 || slices.Contains(c.Collectors, name)
}

func (p *PublicIP) validate() error {
	var errs []error
	if p.Timeout <= 0 || p.Timeout > time.Minute {
		errs = append(errs, Keyf("public_ip.timeout", "must be between 0 and 1m"))
	}
	names := map[string]bool{}
	for i, pr := range p.Providers {
		key := indexed("public_ip.providers", i)
		if pr.Name == "" {
			errs = append(errs, Keyf(key+".name", "required"))
		} else if names[pr.Name] {
			errs = append(errs, Keyf(key+".name", "duplicate provider %q", pr.Name))
		}
		names[pr.Name] = true
		switch pr.Kind {
		case "dns", "":
			if err := validHostPort(pr.Server); err != nil {
				errs = append(errs, Keyf(key+".server", "%v", err))
			}
			if pr.Query == "" {
				errs = append(errs, Keyf(key+".query", "required"))
			}
			if !slices.Contains([]string{"A", "AAAA", "TXT"}, strings.ToUpper(pr.Type)) {
				errs = append(errs, Keyf(key+".type", "must be A, AAAA or TXT"))
			}
			if !slices.Contains([]string{"", "IN", "CH"}, strings.ToUpper(pr.Class)) {
				errs = append(errs, Keyf(key+".class", "must be IN or CH"))
			}
			if pr.URL != "" {
				errs = append(errs, Keyf(key+".url", "only for kind https"))
			}
		case "https":
			u, err := url.Parse(pr.URL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				errs = append(errs, Keyf(key+".url", "must be an http:// or https:// URL"))
			}
			if pr.Server != "" || pr.Query != "" || pr.Type != "" || pr.Class != "" {
				errs = append(errs, Keyf(key+".kind", "https providers take only name and url"))
			}
		default:
			errs = append(errs, Keyf(key+".kind", "must be dns or https"))
		}
	}
	if re := p.ResolverEgress; !re.Disabled {
		if re.Query == "" {
			errs = append(errs, Keyf("public_ip.resolver_egress.query", "required unless disabled"))
		}
		if re.Server != "" {
			if err := validHostPort(re.Server); err != nil {
				errs = append(errs, Keyf("public_ip.resolver_egress.server", "%v", err))
			}
		}
	}
	return errors.Join(errs...)
}

// ByteSize is a size in bytes, written as a plain number or with a unit:
// "64MiB", "512KiB", "1GiB", "10MB", "1500B".
type ByteSize int64

var byteUnits = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// ParseByteSize parses a whole number of bytes with an optional unit.
func ParseByteSize(s string) (ByteSize, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || (mult > 1 && n > math.MaxInt64/mult) {
		return 0, fmt.Errorf("size %q: want e.g. 64MiB, 512KiB or a number of bytes", s)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// String prints the size in the largest binary unit that divides it.
func (b ByteSize) String() string {
	n := int64(b)
	for i := 3; i >= 0; i-- { // TiB, GiB, MiB, KiB
		if u := byteUnits[i]; n != 0 && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

func validHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || port == "" {
		return errors.New("must be host:port, e.g. 208.67.222.222:53 or [2620:119:35::35]:53")
	}
	return nil
}

func validIDs(key string, ids []string) error {
	seen := map[string]bool{}
	for i, id := range ids {
		if !report.ValidID(id) {
			return Keyf(indexed(key, i), "%q must be 1 to 64 letters, digits, '.', '_' or '-'", id)
		}
		if seen[id] {
			return Keyf(indexed(key, i), "duplicate %q", id)
		}
		seen[id] = true
	}
	return nil
}

func indexed(key string, i int) string { return key + "[" + strconv.Itoa(i) + "]" }
