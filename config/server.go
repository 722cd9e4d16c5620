package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Server is server.yaml.
type Server struct {
	Listen         string `yaml:"listen"`
	TLS            TLS    `yaml:"tls"`
	Database       string `yaml:"database"` // a SQLite path, or postgres://…
	StoresFile     string `yaml:"stores_file"`
	PolicyFile     string `yaml:"policy_file"`
	SecretFile     string `yaml:"secret_file"`
	AdminTokenFile string `yaml:"admin_token_file"`
	Notify         Notify `yaml:"notify"`

	// Extensions of the contract.
	TrustedProxies []string `yaml:"trusted_proxies"` // CIDRs whose X-Forwarded-For is believed
	Retention      Duration `yaml:"retention"`       // raw reports are pruned after this; sightings are kept
	Evaluate       string   `yaml:"evaluate"`        // schedule of the periodic evaluation (cron)
	HistoryRefresh Duration `yaml:"history_refresh"` // how often the in-memory history is re-read from the database
	MaxSkew        Duration `yaml:"max_skew"`        // how far in the future collected_at may be
	MaxAge         Duration `yaml:"max_age"`         // how old a (spooled) report may be
	AgentRate      float64  `yaml:"agent_rate"`      // reports per second per agent before 429
	AgentBurst     int      `yaml:"agent_burst"`
	Timeouts       Timeouts `yaml:"timeouts"`
	LogLevel       string   `yaml:"log_level"`
}

// TLS names the certificate and key; both empty means plain HTTP.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Timeouts of the HTTP server, so that a slow client cannot pin it.
type Timeouts struct {
	ReadHeader Duration `yaml:"read_header"`
	Read       Duration `yaml:"read"`
	Write      Duration `yaml:"write"`
	Idle       Duration `yaml:"idle"`
	Shutdown   Duration `yaml:"shutdown"` // how long in-flight requests may drain
}

// Notify is the chat notification section (see SPEC).
type Notify struct {
	Language       string    `yaml:"language"`
	RepeatInterval Duration  `yaml:"repeat_interval"`
	Digest         string    `yaml:"digest"`
	Channels       []Channel `yaml:"channels"`
}

// Channel is one chat destination.
type Channel struct {
	Name        string   `yaml:"name"`
	Kind        string   `yaml:"kind"`
	URL         Secret   `yaml:"url"`
	URLFile     string   `yaml:"url_file"`
	SecretFile  string   `yaml:"secret_file"`
	ChatID      string   `yaml:"chat_id"`
	MinSeverity string   `yaml:"min_severity"`
	Stores      []string `yaml:"stores"`
	Language    string   `yaml:"language"`
	Keyword     string   `yaml:"keyword"` // DingTalk's security keyword, when set

	// Extension: a Go text/template replacing the built-in message layout
	// (its first line is the title); see notify/dispatch.TemplateData.
	TemplateFile string `yaml:"template_file"`
}

// Secret is a string that never prints: webhook URLs and tokens are
// credentials.
type Secret string

func (Secret) String() string   { return "<secret>" }
func (Secret) GoString() string { return `"<secret>"` }

// MarshalText keeps secrets out of any dump of a configuration.
func (s Secret) MarshalText() ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	return []byte("<secret>"), nil
}

// ChannelKinds are the chat integrations.
var ChannelKinds = []string{"dingtalk", "wecom", "feishu", "slack", "discord", "teams", "telegram", "webhook"}

// DefaultServer returns server.yaml's defaults.
func DefaultServer() Server {
	return Server{
		Listen:         ":8443",
		Database:       "/var/lib/storefence/storefence.db",
		Retention:      Duration(30 * 24 * time.Hour),
		Evaluate:       "@every 1m",
		HistoryRefresh: Duration(10 * time.Minute),
		MaxSkew:        Duration(10 * time.Minute),
		MaxAge:         Duration(180 * 24 * time.Hour),
		AgentRate:      20,
		AgentBurst:     200,
		Timeouts: Timeouts{
			ReadHeader: Duration(5 * time.Second),
			Read:       Duration(30 * time.Second),
			Write:      Duration(60 * time.Second),
			Idle:       Duration(2 * time.Minute),
			Shutdown:   Duration(20 * time.Second),
		},
		LogLevel: "info",
		Notify:   Notify{Language: "zh-CN", RepeatInterval: Duration(24 * time.Hour)},
	}
}

// LoadServer reads and validates server.yaml.
func LoadServer(path string) (*Server, error) { return load(path, DefaultServer()) }

// Validate checks every key; errors are *KeyError values joined together.
func (c *Server) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) { errs = append(errs, Keyf(key, format, args...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen", "must be host:port or :port")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls", "give both cert_file and key_file, or neither")
	}
	if c.Database == "" {
		add("database", "required: a SQLite file or a postgres:// URL")
	}
	if c.StoresFile == "" {
		add("stores_file", "required")
	}
	for i, p := range c.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			add(indexed("trusted_proxies", i), "%q is not an IP address or CIDR", p)
		}
	}
	if _, err := cron.ParseStandard(c.Evaluate); err != nil {
		add("evaluate", "%v", err)
	}
	if c.Retention <= 0 {
		add("retention", "must be positive")
	}
	if c.HistoryRefresh < 0 {
		add("history_refresh", "must not be negative (0: never re-read)")
	}
	if c.AgentRate <= 0 || c.AgentBurst < 1 {
		add("agent_rate", "agent_rate and agent_burst must be positive")
	}
	if c.LogLevel != "" && !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		add("log_level", "must be debug, info, warn or error")
	}
	errs = append(errs, c.Notify.validate())
	return errors.Join(errs...)
}

// TrustedPrefixes returns TrustedProxies parsed (Validate has checked them).
func (c *Server) TrustedPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range c.TrustedProxies {
		if pfx, err := parsePrefix(p); err == nil {
			out = append(out, pfx)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (n *Notify) validate() error {
	var errs []error
	langs := []string{"zh-CN", "en"}
	if !slices.Contains(langs, n.Language) {
		errs = append(errs, Keyf("notify.language", "must be zh-CN or en"))
	}
	if n.Digest != "" {
		if _, err := cron.ParseStandard(n.Digest); err != nil {
			errs = append(errs, Keyf("notify.digest", "%v", err))
		}
	}
	names := map[string]bool{}
	for i, ch := range n.Channels {
		key := indexed("notify.channels", i)
		switch {
		case ch.Name == "":
			errs = append(errs, Keyf(key+".name", "required"))
		case names[ch.Name]:
			errs = append(errs, Keyf(key+".name", "duplicate channel %q", ch.Name))
		}
		names[ch.Name] = true
		if !slices.Contains(ChannelKinds, ch.Kind) {
			errs = append(errs, Keyf(key+".kind", "must be one of %s", strings.Join(ChannelKinds, ", ")))
		}
		if (ch.URL == "") == (ch.URLFile == "") {
			errs = append(errs, Keyf(key+".url", "give url or url_file (a file keeps the secret out of the config)"))
		}
		if ch.URL != "" {
			if u, err := url.Parse(string(ch.URL)); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				// Never echo the URL: it is a credential.
				errs = append(errs, Keyf(key+".url", "not an http(s) URL"))
			}
		}
		if ch.Kind == "telegram" && ch.ChatID == "" {
			errs = append(errs, Keyf(key+".chat_id", "required for telegram"))
		}
		if ch.MinSeverity != "" && !slices.Contains([]string{"low", "medium", "high", "critical"}, ch.MinSeverity) {
			errs = append(errs, Keyf(key+".min_severity", "must be low, medium, high or critical"))
		}
		if ch.Language != "" && !slices.Contains(langs, ch.Language) {
			errs = append(errs, Keyf(key+".language", "must be zh-CN or en"))
		}
		if err := validIDs(key+".stores", ch.Stores); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// String describes c without any secret, for logs.
func (c Channel) String() string { return fmt.Sprintf("%s (%s)", c.Name, c.Kind) }
