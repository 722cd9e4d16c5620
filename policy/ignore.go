package policy

import (
	"net"
	"net/netip"
	"regexp"
	"strings"
)

// genericHostnames are names that installers and images give every machine:
// two stores sharing one says nothing.
var genericHostnames = map[string]bool{
	"localhost": true, "localhost.localdomain": true, "(none)": true, "linux": true,
	"ubuntu": true, "debian": true, "centos": true, "fedora": true, "rocky": true, "almalinux": true,
	"alpine": true, "archlinux": true, "kali": true, "raspberrypi": true, "server": true, "vps": true,
	"host": true, "default": true, "instance-1": true, "vultr": true, "vultr.guest": true,
	"user-pc": true, "admin-pc": true, "pc": true, "desktop": true, "workstation": true,
}

// cloudHostname matches names clouds derive from private addresses, such as
// EC2's ip-172-31-5-10: two VPCs can hand out the same one.
var cloudHostname = regexp.MustCompile(`^(ip|ec2|host)-\d{1,3}-\d{1,3}-\d{1,3}-\d{1,3}(\..*)?$`)

// cloudLike is a cheap test before the regular expression.
func cloudLike(s string) bool {
	return strings.HasPrefix(s, "ip-") || strings.HasPrefix(s, "ec2-") || strings.HasPrefix(s, "host-")
}

// virtualRouterMACs are the shared MACs of VRRP and HSRP gateways: every
// tenant of a data centre can see the same one.
var virtualRouterMACs = []string{"00:00:5e:00:01:", "00:00:5e:00:02:", "00:00:0c:07:ac:", "00:00:0c:9f:f"}

// ignored reports whether value of signal never counts: built-in rules first,
// then the policy's ignore lists.
func (p *Policy) ignored(signal, value string) bool {
	switch signal {
	case PublicIP, SessionOrigin:
		a, err := netip.ParseAddr(value)
		if err != nil {
			return signal == PublicIP // an origin may be a host name
		}
		return !globalUnicast(a) || p.ignoredAddr(a)
	case MAC, GatewayMAC:
		hw, ok := parseMAC48(value)
		if !ok || hw[0]&0x03 != 0 || allSame(hw[:]) {
			return true // locally administered, multicast, 00…00 or ff…ff
		}
		if signal == GatewayMAC && hasPrefix(value, virtualRouterMACs) {
			return true
		}
		return hasPrefix(value, p.Ignore.MACPrefixes)
	case Hostname:
		if genericHostnames[value] || cloudLike(value) && cloudHostname.MatchString(value) {
			return true
		}
		for _, h := range p.Ignore.Hostnames {
			if h == value {
				return true
			}
		}
	}
	return false
}

func (p *Policy) ignoredAddr(a netip.Addr) bool {
	for _, pfx := range p.Ignore.addrs {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// globalUnicast reports whether a can be a public egress address: not
// private, loopback, link-local, CGNAT, multicast or unspecified.
func globalUnicast(a netip.Addr) bool {
	return a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a)
}

// parseMAC48 parses a 48-bit MAC without allocating in the canonical form
// "aa:bb:cc:dd:ee:ff" (any case), and through net.ParseMAC otherwise.
func parseMAC48(s string) (hw [6]byte, ok bool) {
	if len(s) == 17 {
		for i := range 6 {
			hi, ok1 := unhex(s[3*i])
			lo, ok2 := unhex(s[3*i+1])
			if !ok1 || !ok2 || (i < 5 && s[3*i+2] != ':') {
				goto slow
			}
			hw[i] = hi<<4 | lo
		}
		return hw, true
	}
slow:
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		return hw, false
	}
	return [6]byte(m), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func allSame(hw []byte) bool {
	for _, b := range hw[1:] {
		if b != hw[0] {
			return false
		}
	}
	return true
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
