//go:build unix

package publicip

import (
	"fmt"
	"net"

	"github.com/miekg/dns"
)

// maxNameservers is how many nameservers of resolv.conf are tried, as many
// as the C library uses (MAXNS).
const maxNameservers = 3

// systemServers returns the host:port of the first nameservers listed in
// path, a resolv.conf file.
func systemServers(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("system resolver: %w", err)
	}
	if len(cc.Servers) == 0 {
		return nil, fmt.Errorf("system resolver: no nameserver in %s", path)
	}
	servers := cc.Servers[:min(len(cc.Servers), maxNameservers)]
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = net.JoinHostPort(s, cc.Port)
	}
	return out, nil
}
