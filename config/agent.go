package config

import (
	"errors"
	"net"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

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
	SpoolDir  string   `yaml:"spool_dir"`
	PublicIP  PublicIP `yaml:"public_ip"`
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
		Schedule: "@every 5m",
		SpoolDir: spool,
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
	}
	for i, name := range c.Collectors {
		if !slices.Contains(CollectorNames, name) {
			add(Keyf(indexed("collectors", i), "unknown collector %q (known: %s)", name, strings.Join(CollectorNames, ", ")))
		}
	}
	add(c.PublicIP.validate())
	return errors.Join(errs...)
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
