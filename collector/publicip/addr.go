package publicip

import (
	"errors"
	"fmt"
	"net/netip"
)

// nonPublic lists special-purpose ranges that netip's predicates do not cover
// and that can never be an Internet egress address (RFC 6890 registries).
// The documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
// 2001:db8::/32) are deliberately absent: examples and tests use them as
// public addresses.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("100.64.0.0/10"), // shared address space (CGNAT), RFC 6598
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking, RFC 2544
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, and the limited broadcast address
	netip.MustParsePrefix("100::/64"),      // discard-only, RFC 6666
}

// checkAddr returns an error when a cannot be the public egress address of
// this machine. Unspecified, multicast and broadcast addresses, addresses
// with a zone and IPv4-mapped IPv6 addresses are always rejected, since no
// packet comes from them. Private (RFC 1918, fc00::/7), loopback,
// link-local, CGNAT and reserved addresses are rejected unless allowPrivate,
// which lab networks need.
func checkAddr(a netip.Addr, allowPrivate bool) error {
	switch {
	case !a.IsValid():
		return errors.New("no address")
	case a.Zone() != "":
		return fmt.Errorf("address %s has a zone", a)
	case a.Is4In6():
		return fmt.Errorf("address %s is ipv4-mapped", a)
	case a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("address %s is not unicast", a)
	case allowPrivate:
		return nil
	case !a.IsGlobalUnicast() || a.IsPrivate() || inAny(nonPublic, a):
		return fmt.Errorf("address %s is not public (allow_private is off)", a)
	}
	return nil
}

// inAny reports whether a lies in one of prefixes.
func inAny(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// pickAddr returns the one address that addrs hold, counting duplicates once,
// if it passes checkAddr. An echo reports one source address, so two
// different addresses make the answer ambiguous.
func pickAddr(addrs []netip.Addr, allowPrivate bool) (netip.Addr, error) {
	if len(addrs) == 0 {
		return netip.Addr{}, errors.New("no address in answer")
	}
	for _, a := range addrs[1:] {
		if a != addrs[0] {
			return netip.Addr{}, fmt.Errorf("ambiguous answer: %s and %s", addrs[0], a)
		}
	}
	if err := checkAddr(addrs[0], allowPrivate); err != nil {
		return netip.Addr{}, err
	}
	return addrs[0], nil
}
