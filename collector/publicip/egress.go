package publicip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// resolverEgress returns the addresses that the system resolver's queries
// leave from, or nil when the probe fails: that failure only costs this
// extra signal, so it is logged at debug level and not returned.
func (c *Collector) resolverEgress(ctx context.Context) []string {
	addrs, err := c.probeEgress(ctx)
	if err != nil {
		c.log.Debug().Err(err).Msg("resolver egress probe failed")
		return nil
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// probeEgress asks the configured resolver, or else the system's, for the
// egress query (whoami.ds.akahelp.net).
func (c *Collector) probeEgress(ctx context.Context) ([]netip.Addr, error) {
	servers := []string{c.egress.Server}
	if c.egress.Server == "" {
		var err error
		if servers, err = systemServers(c.resolvConf); err != nil {
			return nil, fmt.Errorf("publicip: resolver egress: %w", err)
		}
	}
	if len(servers) == 0 {
		return c.egressViaOS(ctx)
	}
	return c.probeServers(ctx, servers)
}

// probeServers asks servers in turn for the TXT records of the egress query,
// with recursion, until one gives a valid answer.
func (c *Collector) probeServers(ctx context.Context, servers []string) ([]netip.Addr, error) {
	q := dns.Question{Name: dns.Fqdn(c.egress.Query), Qtype: dns.TypeTXT, Qclass: dns.ClassINET}
	var errs []error
	for _, server := range servers {
		req := newQuery(q, true)
		in, _, err := c.exchange(ctx, "udp", server, req)
		if err == nil {
			var addrs []netip.Addr
			if addrs, err = egressFromReply(req, in, c.allowPrivate); err == nil {
				return addrs, nil
			}
		}
		errs = append(errs, fmt.Errorf("via %s: %w", server, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("publicip: resolver egress: %w", errors.Join(errs...))
}

// egressViaOS asks the operating system's resolver, where no nameserver list
// can be read (Windows). It returns every TXT record with its strings
// concatenated, so the records are parsed by joinedEgressAddr.
func (c *Collector) egressViaOS(ctx context.Context) ([]netip.Addr, error) {
	txts, err := c.lookupTXT(ctx, c.egress.Query)
	if err != nil {
		return nil, fmt.Errorf("publicip: resolver egress: %w", err)
	}
	var addrs []netip.Addr
	for _, s := range txts {
		if a, ok := joinedEgressAddr(s); ok {
			addrs = append(addrs, a)
		}
	}
	return validEgress(addrs, c.allowPrivate)
}

// egressFromReply returns the egress addresses that the reply in to req
// lists, after the checks of checkReply.
func egressFromReply(req, in *dns.Msg, allowPrivate bool) ([]netip.Addr, error) {
	if err := checkReply(req, in); err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	for _, rr := range answerRRs(req.Question[0], in.Answer) {
		if txt, ok := rr.(*dns.TXT); ok {
			if a, ok := egressAddr(txt.Txt); ok {
				addrs = append(addrs, a)
			}
		}
	}
	return validEgress(addrs, allowPrivate)
}

// egressAddr returns the address that one TXT record of whoami.ds.akahelp.net
// gives: a pair of strings "ns" "<resolver egress address>", or "ip"
// "<address>". Other pairs, such as "ecs" "<subnet>/<source>/<scope>", give
// none.
func egressAddr(txt []string) (netip.Addr, bool) {
	if len(txt) != 2 {
		return netip.Addr{}, false
	}
	switch strings.ToLower(txt[0]) {
	case "ns", "ip":
		return parseTextAddr(txt[1])
	}
	return netip.Addr{}, false
}

// joinedEgressAddr is egressAddr for a record whose strings the resolver
// has concatenated, as Go's LookupTXT does: "ns203.0.113.53".
func joinedEgressAddr(s string) (netip.Addr, bool) {
	if len(s) < 2 {
		return netip.Addr{}, false
	}
	return egressAddr([]string{s[:2], s[2:]})
}

// validEgress returns addrs without duplicates or addresses that checkAddr
// rejects, in their order, or an error when none is left.
func validEgress(addrs []netip.Addr, allowPrivate bool) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range addrs {
		if checkAddr(a, allowPrivate) == nil && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("publicip: resolver egress: no ns or ip record in answer")
	}
	return out, nil
}
