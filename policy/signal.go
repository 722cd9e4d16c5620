package policy

import (
	"net"
	"net/netip"
	"strings"

	"github.com/storefence/storefence/report"
)

// Signal names, the fixed vocabulary of SPEC.
const (
	SameMachine   = "same_machine"
	PublicIP      = "public_ip"
	HostID        = "host_id"
	MAC           = "mac"
	DiskSerial    = "disk_serial"
	GatewayMAC    = "gateway_mac"
	PublicSubnet  = "public_subnet"
	SessionOrigin = "session_origin"
	Hostname      = "hostname"
	RegPrefix     = "reg."
)

// RegistrationFields are the registration fields; each is signal "reg."+field.
var RegistrationFields = []string{"legal_name", "address", "phone", "email", "bank_account", "card", "tax_id"}

// EnvironmentSignals are the signals observed by agents. public_subnet is
// derived from public_ip at evaluation and never observed directly.
var EnvironmentSignals = []string{SameMachine, PublicIP, HostID, MAC, DiskSerial, GatewayMAC, PublicSubnet, SessionOrigin, Hostname}

// Signals returns every signal name, environment first.
func Signals() []string {
	out := append([]string{}, EnvironmentSignals...)
	for _, f := range RegistrationFields {
		out = append(out, RegPrefix+f)
	}
	return out
}

// KnownSignal reports whether s is in the vocabulary.
func KnownSignal(s string) bool {
	for _, k := range Signals() {
		if k == s {
			return true
		}
	}
	return false
}

// Observed is one (signal, value) pair seen in a report, value normalised.
type Observed struct {
	Signal string
	Value  string
}

// Observe extracts every environment signal of r, with values normalised
// (addresses canonical, MACs lower-case with colons, hostnames lower-case)
// and duplicates removed. It applies no policy: ignore rules are applied at
// evaluation, so that a changed policy applies to the whole history.
func Observe(r *report.Report) []Observed {
	out := make([]Observed, 0, 16)
	add := func(signal, value string) {
		if value == "" {
			return
		}
		o := Observed{signal, value}
		for _, x := range out { // a report holds a few dozen values at most
			if x == o {
				return
			}
		}
		out = append(out, o)
	}
	add(SameMachine, r.Agent)
	if p := r.PublicIP; p != nil {
		add(PublicIP, canonicalIP(p.V4))
		add(PublicIP, canonicalIP(p.V6))
		// With a conflict every line the agent's traffic may leave by counts.
		for _, a := range p.Answers {
			if a.Error == "" {
				add(PublicIP, canonicalIP(a.IP))
			}
		}
	}
	if d := r.Device; d != nil {
		add(HostID, strings.ToLower(d.HostID))
		add(HostID, strings.ToLower(d.MachineID))
		add(HostID, strings.ToLower(d.ProductUUID))
		for _, m := range d.MACs {
			add(MAC, CanonicalMAC(m))
		}
		for _, s := range d.DiskSerials {
			add(DiskSerial, s)
		}
		add(Hostname, strings.ToLower(strings.TrimSuffix(d.Hostname, ".")))
	}
	if n := r.Network; n != nil {
		add(GatewayMAC, CanonicalMAC(n.GatewayMAC))
	}
	for _, s := range r.Sessions {
		add(SessionOrigin, canonicalOrigin(s.Origin))
	}
	return out
}

// CanonicalMAC writes a MAC in lower case with colons ("52-54-00-AB-…" and
// "5254.00ab.…" alike), or returns "" when s is not a 48-bit MAC.
func CanonicalMAC(s string) string {
	hw, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil || len(hw) != 6 {
		return ""
	}
	return hw.String()
}

func canonicalIP(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	return a.Unmap().String()
}

// canonicalOrigin keeps an origin address canonical and a host name lower
// case; X display origins (":0") and local logins are dropped.
func canonicalOrigin(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, ":") {
		return ""
	}
	if ip := canonicalIP(s); ip != "" {
		return ip
	}
	return strings.ToLower(s)
}
