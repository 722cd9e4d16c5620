package network

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// errNoDefaultRoute reports that a routing table has no usable default route
// through a gateway.
var errNoDefaultRoute = errors.New("no default route")

// Flags of /proc/net/route and /proc/net/ipv6_route (linux/route.h).
const (
	rtfUp      = 0x1
	rtfGateway = 0x2
)

// atfComplete is the flag of a resolved /proc/net/arp entry
// (linux/if_arp.h).
const atfComplete = 0x2

// route is a default route: its gateway, the interface it leaves by (a name
// on Linux and macOS, the local address on Windows) and its metric.
type route struct {
	Gateway netip.Addr
	Iface   string
	Metric  uint64
}

// gateway is what the collector learnt about the default gateway.
type gateway struct {
	IP  netip.Addr
	MAC string
}

// arpEntry is one resolved neighbour: an IP address, its MAC in lowercase
// colon form and the interface it was seen on ("" when unknown).
type arpEntry struct {
	IP  netip.Addr
	MAC string
	Dev string
}

// better reports whether candidate a should replace the best default route so
// far, b: the lower metric wins, the earlier route on a tie.
func better(a route, b route) bool {
	return !b.Gateway.IsValid() || a.Metric < b.Metric
}

// scanLines calls fn for each line of r, up to 64 KiB a line, and returns
// the reader's error.
func scanLines(r io.Reader, fn func(line string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for sc.Scan() {
		fn(sc.Text())
	}
	return sc.Err()
}

// parseRoute returns the default IPv4 route of a Linux /proc/net/route
// table: destination and mask 00000000, flags up and gateway, a gateway
// other than 0.0.0.0, and the lowest metric. Malformed lines are skipped. It
// returns errNoDefaultRoute when there is none.
//
// The kernel prints each address as the network-order word read in host
// order; every architecture storefence ships for (amd64, arm64) is little
// endian, so the hex is decoded as little endian.
func parseRoute(r io.Reader) (route, error) {
	var best route
	err := scanLines(r, func(line string) {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] == "Iface" {
			return
		}
		dest, ok1 := parseHex8(f[1])
		gw, ok2 := parseHex8(f[2])
		mask, ok3 := parseHex8(f[7])
		flags, err1 := strconv.ParseUint(f[3], 16, 32)
		metric, err2 := strconv.ParseUint(f[6], 10, 32)
		if !ok1 || !ok2 || !ok3 || errors.Join(err1, err2) != nil {
			return
		}
		if dest != 0 || mask != 0 || flags&(rtfUp|rtfGateway) != rtfUp|rtfGateway || gw == 0 {
			return
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], gw)
		if rt := (route{Gateway: netip.AddrFrom4(b), Iface: f[0], Metric: metric}); better(rt, best) {
			best = rt
		}
	})
	if err != nil {
		return route{}, err
	}
	if !best.Gateway.IsValid() {
		return route{}, errNoDefaultRoute
	}
	return best, nil
}

// parseIPv6Route returns the default IPv6 route of a Linux
// /proc/net/ipv6_route table: destination ::/0, flags up and gateway, a next
// hop other than ::, and the lowest metric. Its columns are destination,
// prefix length, source, prefix length, next hop, metric, reference count,
// use count, flags and device; addresses are 32 hex digits in network order.
func parseIPv6Route(r io.Reader) (route, error) {
	var best route
	err := scanLines(r, func(line string) {
		f := strings.Fields(line)
		if len(f) < 10 {
			return
		}
		dest, ok1 := parseHex16(f[0])
		nh, ok2 := parseHex16(f[4])
		plen, err1 := strconv.ParseUint(f[1], 16, 8)
		metric, err2 := strconv.ParseUint(f[5], 16, 32)
		flags, err3 := strconv.ParseUint(f[8], 16, 32)
		if !ok1 || !ok2 || errors.Join(err1, err2, err3) != nil {
			return
		}
		if !dest.IsUnspecified() || plen != 0 || flags&(rtfUp|rtfGateway) != rtfUp|rtfGateway || nh.IsUnspecified() {
			return
		}
		if rt := (route{Gateway: nh, Iface: f[9], Metric: metric}); better(rt, best) {
			best = rt
		}
	})
	if err != nil {
		return route{}, err
	}
	if !best.Gateway.IsValid() {
		return route{}, errNoDefaultRoute
	}
	return best, nil
}

// parseHex8 decodes an IPv4 address or mask written as 8 hex digits.
func parseHex8(s string) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	return uint32(v), err == nil
}

// parseHex16 decodes an IPv6 address written as 32 hex digits.
func parseHex16(s string) (netip.Addr, bool) {
	var b [16]byte
	if len(s) != 32 {
		return netip.Addr{}, false
	}
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(b), true
}

// parseARP returns the resolved entries of a Linux /proc/net/arp table,
// whose columns are IP address, HW type, flags, HW address, mask and device.
// Incomplete entries (no ATF_COM flag), all-zero MACs and malformed lines are
// left out.
func parseARP(r io.Reader) ([]arpEntry, error) {
	var out []arpEntry
	err := scanLines(r, func(line string) {
		f := strings.Fields(line)
		if len(f) < 6 {
			return
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			return
		}
		flags, err := strconv.ParseUint(f[2], 0, 32)
		if err != nil || flags&atfComplete == 0 {
			return
		}
		mac, ok := parseMAC(f[3])
		if !ok {
			return
		}
		out = append(out, arpEntry{IP: ip, MAC: mac, Dev: f[5]})
	})
	return out, err
}

// parseMAC returns a 48-bit MAC address in lowercase colon form. It accepts
// six groups of one or two hex digits separated by ':' or '-', which covers
// Linux ("a0:b1:…"), macOS's unpadded ("0:1a:…") and Windows's ("a0-b1-…")
// forms. The all-zero address of an unresolved entry is rejected.
func parseMAC(s string) (string, bool) {
	sep := ":"
	if strings.Contains(s, "-") {
		sep = "-"
	}
	parts := strings.Split(s, sep)
	if len(parts) != 6 {
		return "", false
	}
	var b [6]byte
	zero := true
	for i, p := range parts {
		if len(p) < 1 || len(p) > 2 {
			return "", false
		}
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return "", false
		}
		b[i] = byte(v)
		zero = zero && v == 0
	}
	if zero {
		return "", false
	}
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]), true
}

// lookupARP returns the MAC of ip among entries, on the interface dev when
// both dev and the entry's interface are known.
func lookupARP(entries []arpEntry, ip netip.Addr, dev string) (string, bool) {
	for _, e := range entries {
		if e.IP == ip && (dev == "" || e.Dev == "" || e.Dev == dev) {
			return e.MAC, true
		}
	}
	return "", false
}

// parseDarwinRoute returns the default route in the output of macOS's
// "route -n get default":
//
//	   route to: default
//	destination: default
//	       mask: default
//	    gateway: 192.168.1.1
//	  interface: en0
//	      flags: <UP,GATEWAY,DONE,STATIC,PRCLONING>
//
// A default route through an interface only ("gateway: link#4", utun VPNs)
// has no gateway address and gives errNoDefaultRoute.
func parseDarwinRoute(r io.Reader) (route, error) {
	var rt route
	err := scanLines(r, func(line string) {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			return
		}
		val = strings.TrimSpace(val)
		switch strings.TrimSpace(key) {
		case "gateway":
			addr, _, _ := strings.Cut(val, "%") // fe80::1%en0
			if ip, err := netip.ParseAddr(addr); err == nil && !ip.IsUnspecified() {
				rt.Gateway = ip
			}
		case "interface":
			rt.Iface = val
		}
	})
	if err != nil {
		return route{}, err
	}
	if !rt.Gateway.IsValid() {
		return route{}, errNoDefaultRoute
	}
	return rt, nil
}

// parseDarwinARP returns the resolved entries in the output of macOS's
// "arp -n IP", whose lines read
//
//	? (192.168.1.1) at a0:b1:c2:d3:e4:f5 on en0 ifscope [ethernet]
//
// with unpadded octets ("0:1a:2b:3:4:5"). "(incomplete)" entries and
// "-- no entry" answers are left out.
func parseDarwinARP(r io.Reader) ([]arpEntry, error) {
	var out []arpEntry
	err := scanLines(r, func(line string) {
		_, rest, ok := strings.Cut(line, "(")
		if !ok {
			return
		}
		addr, rest, ok := strings.Cut(rest, ")")
		if !ok {
			return
		}
		ip, err := netip.ParseAddr(addr)
		if err != nil {
			return
		}
		f := strings.Fields(rest)
		if len(f) < 2 || f[0] != "at" {
			return
		}
		mac, ok := parseMAC(f[1])
		if !ok {
			return
		}
		e := arpEntry{IP: ip, MAC: mac}
		if len(f) >= 4 && f[2] == "on" {
			e.Dev = f[3]
		}
		out = append(out, e)
	})
	return out, err
}

// parseWindowsRoute returns the default route in the output of Windows's
// "route print -4 0.0.0.0". Its headings are localised, so it looks only at
// the shape of the active routes' lines: network destination 0.0.0.0,
// netmask 0.0.0.0, a gateway address (not "On-link"), the interface's
// address and a numeric metric. Persistent routes have four columns and are
// left out.
func parseWindowsRoute(r io.Reader) (route, error) {
	var best route
	err := scanLines(r, func(line string) {
		f := strings.Fields(line)
		if len(f) != 5 || f[0] != "0.0.0.0" || f[1] != "0.0.0.0" {
			return
		}
		gw, err1 := netip.ParseAddr(f[2])
		iface, err2 := netip.ParseAddr(f[3])
		metric, err3 := strconv.ParseUint(f[4], 10, 32)
		if errors.Join(err1, err2, err3) != nil || !gw.Is4() || gw.IsUnspecified() {
			return
		}
		if rt := (route{Gateway: gw, Iface: iface.String(), Metric: metric}); better(rt, best) {
			best = rt
		}
	})
	if err != nil {
		return route{}, err
	}
	if !best.Gateway.IsValid() {
		return route{}, errNoDefaultRoute
	}
	return best, nil
}

// parseWindowsARP returns the entries in the output of Windows's
// "arp -a IP":
//
//	Interface: 192.168.1.100 --- 0xc
//	  Internet Address      Physical Address      Type
//	  192.168.1.1           a0-b1-c2-d3-e4-f5     dynamic
//
// Headings are localised, so a section starts at any line with "---" after
// the interface's address, and an entry is any line that starts with an
// address and a MAC. An entry's Dev is the address of its interface.
func parseWindowsARP(r io.Reader) ([]arpEntry, error) {
	var out []arpEntry
	dev := ""
	err := scanLines(r, func(line string) {
		f := strings.Fields(line)
		for i := 1; i < len(f); i++ {
			if f[i] == "---" {
				if ip, err := netip.ParseAddr(f[i-1]); err == nil {
					dev = ip.String()
				}
				return
			}
		}
		if len(f) < 2 {
			return
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			return
		}
		if mac, ok := parseMAC(f[1]); ok {
			out = append(out, arpEntry{IP: ip, MAC: mac, Dev: dev})
		}
	})
	return out, err
}

// linuxGateway reads the default gateway from /proc/net/route, or from
// /proc/net/ipv6_route when there is no IPv4 one, and its MAC from
// /proc/net/arp. It returns what it found along with the error for what it
// did not.
func (c *Collector) linuxGateway(context.Context) (gateway, error) {
	rt, err := c.procRoute("/proc/net/route", parseRoute)
	if err != nil {
		if rt6, err6 := c.procRoute("/proc/net/ipv6_route", parseIPv6Route); err6 == nil {
			// The IPv6 neighbour table is not in procfs; it takes netlink.
			return gateway{IP: rt6.Gateway}, fmt.Errorf("mac of ipv6 gateway %s on %s: ipv6 neighbours are not read", rt6.Gateway, rt6.Iface)
		}
		return gateway{}, err
	}
	gw := gateway{IP: rt.Gateway}
	b, err := c.readFile("/proc/net/arp")
	if err != nil {
		return gw, fmt.Errorf("mac of %s: %w", rt.Gateway, err)
	}
	entries, err := parseARP(bytes.NewReader(b))
	if err != nil {
		return gw, fmt.Errorf("mac of %s: /proc/net/arp: %w", rt.Gateway, err)
	}
	mac, ok := lookupARP(entries, rt.Gateway, rt.Iface)
	if !ok {
		return gw, fmt.Errorf("mac of %s on %s: no complete arp entry", rt.Gateway, rt.Iface)
	}
	gw.MAC = mac
	return gw, nil
}

// procRoute reads and parses one routing table file.
func (c *Collector) procRoute(name string, parse func(io.Reader) (route, error)) (route, error) {
	b, err := c.readFile(name)
	if err != nil {
		return route{}, err
	}
	rt, err := parse(bytes.NewReader(b))
	if err != nil {
		return route{}, fmt.Errorf("%s: %w", name, err)
	}
	return rt, nil
}

// commandGateway finds the default gateway by running the route command
// routeCmd, parsing its output with parseRoute, and then its MAC by running
// arpCmd with the gateway's address appended, parsing with parseARP.
func (c *Collector) commandGateway(ctx context.Context,
	routeCmd []string, parseRoute func(io.Reader) (route, error),
	arpCmd []string, parseARP func(io.Reader) ([]arpEntry, error),
) (gateway, error) {
	out, err := c.run(ctx, routeCmd[0], routeCmd[1:]...)
	if err != nil {
		return gateway{}, err
	}
	rt, err := parseRoute(bytes.NewReader(out))
	if err != nil {
		return gateway{}, fmt.Errorf("%s: %w", strings.Join(routeCmd, " "), err)
	}
	gw := gateway{IP: rt.Gateway}
	args := append(arpCmd[1:len(arpCmd):len(arpCmd)], rt.Gateway.String())
	out, err = c.run(ctx, arpCmd[0], args...)
	if err != nil {
		return gw, fmt.Errorf("mac of %s: %w", rt.Gateway, err)
	}
	entries, err := parseARP(bytes.NewReader(out))
	if err != nil {
		return gw, fmt.Errorf("mac of %s: %w", rt.Gateway, err)
	}
	mac, ok := lookupARP(entries, rt.Gateway, rt.Iface)
	if !ok {
		return gw, fmt.Errorf("mac of %s on %s: no arp entry", rt.Gateway, rt.Iface)
	}
	gw.MAC = mac
	return gw, nil
}

// darwinGateway asks macOS's route and arp commands.
func (c *Collector) darwinGateway(ctx context.Context) (gateway, error) {
	return c.commandGateway(ctx,
		[]string{"/sbin/route", "-n", "get", "default"}, parseDarwinRoute,
		[]string{"/usr/sbin/arp", "-n"}, parseDarwinARP)
}

// windowsGateway asks Windows's route and arp commands.
func (c *Collector) windowsGateway(ctx context.Context) (gateway, error) {
	return c.commandGateway(ctx,
		[]string{"route", "print", "-4", "0.0.0.0"}, parseWindowsRoute,
		[]string{"arp", "-a"}, parseWindowsARP)
}
