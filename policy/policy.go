// Package policy decides which stores are linked. It turns agent reports
// into sightings, indexes sightings and registration digests by (signal,
// value), and evaluates the index into findings, clusters and warnings
// (storefence.audit/v1). It does no I/O but reading the policy file, so that
// the server and `storefence audit` share it.
package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/storefence/storefence/config"
)

// Policy is the optional policy file: how severe each signal is, how long
// an observation counts, and what never counts.
type Policy struct {
	ClusterMinSeverity Severity
	FailOn             Severity
	StaleAfter         time.Duration
	Signals            map[string]SignalPolicy
	IPv4Prefix         int      // public_subnet prefix length for IPv4 (24)
	IPv6Prefix         int      // and IPv6 (64)
	IPv6SubnetSeverity Severity // public_subnet severity for IPv6 (high); IPv4 uses Signals
	Ignore             Ignore
}

// SignalPolicy is how one signal is weighed. A zero Window means the signal
// has no window: every observation counts, however old.
type SignalPolicy struct {
	Severity Severity
	Window   time.Duration
}

// Ignore lists values that never count, beside the built-in rules
// (locally administered MACs, generic hostnames, non-global addresses, …).
type Ignore struct {
	Hostnames   []string `yaml:"hostnames"`    // exact, case-insensitive
	MACPrefixes []string `yaml:"mac_prefixes"` // e.g. "00:00:5e:00:01" for a vendor or a router
	Addresses   []string `yaml:"addresses"`    // IPs or CIDRs, e.g. the company's sanctioned proxy
	addrs       []netip.Prefix
}

const day = 24 * time.Hour

// Default returns SPEC's defaults.
func Default() *Policy {
	p := &Policy{
		ClusterMinSeverity: High,
		FailOn:             High,
		StaleAfter:         time.Hour,
		IPv4Prefix:         24,
		IPv6Prefix:         64,
		IPv6SubnetSeverity: High,
		Signals: map[string]SignalPolicy{
			SameMachine:   {Critical, 180 * day},
			PublicIP:      {Critical, 180 * day},
			HostID:        {Critical, 180 * day},
			MAC:           {High, 180 * day},
			DiskSerial:    {High, 180 * day},
			GatewayMAC:    {High, 180 * day},
			PublicSubnet:  {Medium, 180 * day},
			SessionOrigin: {Medium, 30 * day},
			Hostname:      {Low, 180 * day},
		},
	}
	for _, f := range RegistrationFields {
		p.Signals[RegPrefix+f] = SignalPolicy{Critical, 0}
	}
	return p
}

// file is the YAML form of the policy file: every key optional, so that what
// the file leaves out keeps its default.
type file struct {
	ClusterMinSeverity *Severity                  `yaml:"cluster_min_severity"`
	FailOn             *Severity                  `yaml:"fail_on"`
	StaleAfter         *config.Duration           `yaml:"stale_after"`
	Signals            map[string]signalOverrides `yaml:"signals"`
	Subnets            struct {
		IPv4Prefix   *int      `yaml:"ipv4_prefix"`
		IPv6Prefix   *int      `yaml:"ipv6_prefix"`
		IPv6Severity *Severity `yaml:"ipv6_severity"`
	} `yaml:"subnets"`
	Ignore Ignore `yaml:"ignore"`
}

type signalOverrides struct {
	Severity *Severity        `yaml:"severity"`
	Window   *config.Duration `yaml:"window"`
}

// Load reads a policy file over the defaults. An empty path gives the
// defaults.
func Load(path string) (*Policy, error) {
	p := Default()
	if path == "" {
		return p, p.compile()
	}
	var f file
	doc, err := config.ReadFile(path, &f)
	if err != nil {
		return nil, err
	}
	if err := doc.Wrap(p.apply(&f)); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Policy) apply(f *file) error {
	var errs []error
	if f.ClusterMinSeverity != nil {
		p.ClusterMinSeverity = *f.ClusterMinSeverity
		if p.ClusterMinSeverity == None {
			errs = append(errs, config.Keyf("cluster_min_severity", "must be low, medium, high or critical"))
		}
	}
	if f.FailOn != nil {
		p.FailOn = *f.FailOn
	}
	if f.StaleAfter != nil {
		p.StaleAfter = time.Duration(*f.StaleAfter)
		if p.StaleAfter <= 0 {
			errs = append(errs, config.Keyf("stale_after", "must be positive"))
		}
	}
	names := make([]string, 0, len(f.Signals))
	for name := range f.Signals {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		o := f.Signals[name]
		sp, ok := p.Signals[name]
		if !ok {
			errs = append(errs, config.Keyf("signals."+name, "unknown signal (known: %s)", strings.Join(Signals(), ", ")))
			continue
		}
		if o.Severity != nil {
			if *o.Severity == None {
				errs = append(errs, config.Keyf("signals."+name+".severity", "must be low, medium, high or critical"))
			}
			sp.Severity = *o.Severity
		}
		if o.Window != nil {
			sp.Window = time.Duration(*o.Window)
		}
		p.Signals[name] = sp
	}
	if v := f.Subnets.IPv4Prefix; v != nil {
		p.IPv4Prefix = *v
		if *v < 8 || *v > 31 {
			errs = append(errs, config.Keyf("subnets.ipv4_prefix", "must be 8 to 31"))
		}
	}
	if v := f.Subnets.IPv6Prefix; v != nil {
		p.IPv6Prefix = *v
		if *v < 16 || *v > 127 {
			errs = append(errs, config.Keyf("subnets.ipv6_prefix", "must be 16 to 127"))
		}
	}
	if v := f.Subnets.IPv6Severity; v != nil {
		p.IPv6SubnetSeverity = *v
	}
	p.Ignore = f.Ignore
	for i, m := range p.Ignore.MACPrefixes {
		if !validMACPrefix(m) {
			errs = append(errs, config.Keyf(fmt.Sprintf("ignore.mac_prefixes[%d]", i), "%q is not a MAC prefix such as 00:00:5e", m))
		}
	}
	if err := p.compile(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// compile parses the ignore lists into their matching forms.
func (p *Policy) compile() error {
	p.Ignore.addrs = nil
	for i, a := range p.Ignore.Addresses {
		pfx, err := netip.ParsePrefix(a)
		if err != nil {
			ip, err2 := netip.ParseAddr(a)
			if err2 != nil {
				return config.Keyf(fmt.Sprintf("ignore.addresses[%d]", i), "%q is not an IP address or CIDR", a)
			}
			pfx = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		p.Ignore.addrs = append(p.Ignore.addrs, pfx.Masked())
	}
	for i, m := range p.Ignore.MACPrefixes {
		p.Ignore.MACPrefixes[i] = strings.ToLower(strings.ReplaceAll(m, "-", ":"))
	}
	for i, h := range p.Ignore.Hostnames {
		p.Ignore.Hostnames[i] = strings.ToLower(h)
	}
	return nil
}

func validMACPrefix(s string) bool {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' })
	if len(parts) == 0 || len(parts) > 6 {
		return false
	}
	for _, p := range parts {
		if len(p) != 2 || strings.Trim(strings.ToLower(p), "0123456789abcdef") != "" {
			return false
		}
	}
	return true
}

// severity is the base severity of a finding on signal with value.
func (p *Policy) severity(signal, value string) Severity {
	if signal == PublicSubnet && strings.Contains(value, ":") {
		return p.IPv6SubnetSeverity
	}
	return p.Signals[signal].Severity
}
