package publicip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/report"
)

const (
	collectorName      = "publicip"
	kindDNS            = "dns"
	kindHTTPS          = "https"
	defaultTimeout     = 2 * time.Second
	defaultEgressQuery = "whoami.ds.akahelp.net."
	resolvConfPath     = "/etc/resolv.conf"
)

// ErrNoAnswer reports that no provider gave a valid address. Collect wraps it.
var ErrNoAnswer = errors.New("no valid answer")

// Collector fills report.PublicIP from the configured echo providers.
type Collector struct {
	attempts     []attempt
	timeout      time.Duration
	allowPrivate bool
	egress       config.ResolverEgress
	log          zerolog.Logger

	// Seams for tests.
	httpClient *http.Client // HTTPS providers
	resolvConf string       // unix: lists the system's nameservers
	lookupTXT  func(ctx context.Context, name string) ([]string, error)
}

// An attempt is one query of one provider over one transport.
type attempt struct {
	provider  string
	kind      string // kindDNS or kindHTTPS
	transport string // "udp4", "udp6" or "https": the first transport tried
	server    string // dns: host:port
	question  dns.Question
	url       string // https: may carry a token, so it is never logged
	err       error  // a configuration error, reported as this attempt's answer
}

// A result is the outcome of one attempt.
type result struct {
	addr      netip.Addr
	transport string // the transport that carried the final reply
	rtt       time.Duration
	err       error
}

// New returns a collector for cfg. It uses DefaultProviders when
// cfg.Providers is empty. A provider that cfg describes badly is reported as a
// failed answer at every Collect rather than rejected here: config.Agent's
// Validate is where configuration errors are caught.
func New(cfg config.PublicIP, log zerolog.Logger) *Collector {
	providers := cfg.Providers
	if len(providers) == 0 {
		providers = DefaultProviders()
	}
	var attempts []attempt
	for _, p := range providers {
		attempts = append(attempts, attemptsFor(p)...)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	egress := cfg.ResolverEgress
	if egress.Query == "" {
		egress.Query = defaultEgressQuery
	}
	return &Collector{
		attempts:     attempts,
		timeout:      timeout,
		allowPrivate: cfg.AllowPrivate,
		egress:       egress,
		log:          log,
		httpClient:   newHTTPClient(),
		resolvConf:   resolvConfPath,
		lookupTXT:    net.DefaultResolver.LookupTXT,
	}
}

// DefaultProviders returns the built-in echo providers, used when the
// configuration names none. The v4 and v6 variants of one service are
// separate providers because the transport's family decides which address a
// service sees.
func DefaultProviders() []config.Provider {
	return []config.Provider{
		{Name: "opendns-v4", Kind: kindDNS, Server: "208.67.222.222:53", Query: "myip.opendns.com.", Type: "A"},
		{Name: "opendns-v6", Kind: kindDNS, Server: "[2620:119:35::35]:53", Query: "myip.opendns.com.", Type: "AAAA"},
		{Name: "google-v4", Kind: kindDNS, Server: "216.239.32.10:53", Query: "o-o.myaddr.l.google.com.", Type: "TXT"},
		{Name: "google-v6", Kind: kindDNS, Server: "[2001:4860:4802:32::a]:53", Query: "o-o.myaddr.l.google.com.", Type: "TXT"},
		{Name: "cloudflare-v4", Kind: kindDNS, Server: "1.1.1.1:53", Query: "whoami.cloudflare.", Type: "TXT", Class: "CH"},
		{Name: "cloudflare-v6", Kind: kindDNS, Server: "[2606:4700:4700::1111]:53", Query: "whoami.cloudflare.", Type: "TXT", Class: "CH"},
		{Name: "akamai-v4", Kind: kindDNS, Server: "193.108.88.1:53", Query: "whoami.akamai.net.", Type: "A"},
	}
}

// Name returns "publicip".
func (c *Collector) Name() string { return collectorName }

// Collect queries every provider in parallel, and probes the resolver's
// egress, under one deadline of the configured timeout, then sets
// r.PublicIP. It returns an error wrapping ErrNoAnswer, or the error of ctx,
// only when no provider gave a valid address; r.PublicIP then still lists the
// failed answers.
func (c *Collector) Collect(ctx context.Context, r *report.Report) error {
	qctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	results := make([]result, len(c.attempts))
	var egress []string
	var wg sync.WaitGroup
	for i, a := range c.attempts {
		wg.Go(func() { results[i] = c.run(qctx, a) })
	}
	if !c.egress.Disabled {
		wg.Go(func() { egress = c.resolverEgress(qctx) })
	}
	wg.Wait()
	for i, a := range c.attempts {
		c.logAttempt(a, results[i])
	}

	pip := summarise(c.attempts, results)
	pip.ResolverEgress = egress
	r.PublicIP = pip
	if pip.V4 != "" || pip.V6 != "" {
		if pip.Conflict {
			c.log.Warn().Str("v4", pip.V4).Str("v6", pip.V6).Msg("echo providers disagree about the egress address")
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publicip: %w", err)
	}
	return fmt.Errorf("publicip: all %d attempts failed: %w", len(c.attempts), ErrNoAnswer)
}

// run performs one attempt. A panic becomes the attempt's error: it runs on
// its own goroutine, where collector.Run cannot recover it.
func (c *Collector) run(ctx context.Context, a attempt) (res result) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			res = result{transport: a.transport, err: fmt.Errorf("internal error: %v", p)}
		}
		res.rtt = time.Since(start)
	}()
	switch {
	case a.err != nil:
		return result{transport: a.transport, err: a.err}
	case a.kind == kindHTTPS:
		addr, err := c.queryHTTPS(ctx, a.url)
		return result{addr: addr, transport: a.transport, err: err}
	default:
		return c.queryDNS(ctx, a)
	}
}

// logAttempt logs one attempt at debug level. Collect calls it after the
// queries, from one goroutine, so the logger's writer need not be safe for
// concurrent use. HTTPS providers appear by name only: their URL may carry a
// token.
func (c *Collector) logAttempt(a attempt, res result) {
	ev := c.log.Debug().Str("provider", a.provider).Str("kind", a.kind).
		Str("transport", res.transport).Dur("rtt", res.rtt)
	if res.err != nil {
		ev.Err(res.err).Msg("echo provider failed")
		return
	}
	ev.Stringer("ip", res.addr).Msg("echo provider answered")
}

// attemptsFor returns the attempts that provider p stands for, in order.
func attemptsFor(p config.Provider) []attempt {
	switch strings.ToLower(p.Kind) {
	case kindHTTPS:
		return []attempt{{provider: p.Name, kind: kindHTTPS, transport: "https", url: p.URL}}
	case kindDNS, "":
		return dnsAttempts(p)
	default:
		return []attempt{{provider: p.Name, kind: p.Kind, err: fmt.Errorf("unknown kind %q", p.Kind)}}
	}
}

// transportError names a failure to get any reply. The shapes of the one
// deadline (the context's; a socket's, which is set to the same instant and
// may fire first) all become "no reply: context deadline exceeded".
func transportError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("no reply: %w", cerr)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("no reply: %w", context.DeadlineExceeded)
	}
	return err
}

// summarise turns results into the report section: one answer per attempt in
// configuration order, and the consensus of the valid ones.
func summarise(attempts []attempt, results []result) *report.PublicIP {
	pip := &report.PublicIP{Answers: make([]report.Answer, len(attempts))}
	var valid []netip.Addr
	for i, a := range attempts {
		res := results[i]
		ans := report.Answer{
			Provider:  a.provider,
			Kind:      a.kind,
			Transport: res.transport,
			RTTMs:     float64(res.rtt.Microseconds()) / 1000,
		}
		if res.err != nil {
			ans.Error = res.err.Error()
		} else {
			ans.IP = res.addr.String()
			valid = append(valid, res.addr)
		}
		pip.Answers[i] = ans
	}
	v4, v6, conflict := consensus(valid)
	if v4.IsValid() {
		pip.V4 = v4.String()
	}
	if v6.IsValid() {
		pip.V6 = v6.String()
	}
	pip.Conflict = conflict
	return pip
}

// consensus returns the most frequent IPv4 and IPv6 address of addrs, the
// earlier one on a tie, and whether either family holds two different
// addresses.
func consensus(addrs []netip.Addr) (v4, v6 netip.Addr, conflict bool) {
	v4, c4 := majority(addrs, netip.Addr.Is4)
	v6, c6 := majority(addrs, netip.Addr.Is6)
	return v4, v6, c4 || c6
}

// majority returns the most frequent address of addrs that is in family, the
// earliest on a tie, and whether there was more than one.
func majority(addrs []netip.Addr, family func(netip.Addr) bool) (best netip.Addr, conflict bool) {
	counts := map[netip.Addr]int{}
	var order []netip.Addr
	for _, a := range addrs {
		if !family(a) {
			continue
		}
		if counts[a] == 0 {
			order = append(order, a)
		}
		counts[a]++
	}
	for _, a := range order {
		if counts[a] > counts[best] {
			best = a
		}
	}
	return best, len(order) > 1
}
