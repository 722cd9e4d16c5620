package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"unicode/utf8"
)

// Limits on a report's size, so that one bad agent cannot flood the server.
const (
	MaxStores      = 64
	MaxAnswers     = 64
	MaxMACs        = 256
	MaxDiskSerials = 64
	MaxSessions    = 1000
	MaxErrors      = 64
	MaxString      = 512
)

// idPattern is the shape of agent and store ids.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidID reports whether s is a well-formed agent or store id.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// FieldError is a validation failure of one field, named by its JSON path.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Decode reads exactly one JSON report from data and validates it. Unknown
// fields are errors: a report is a contract, and a typo must not pass as an
// absent section.
func Decode(data []byte) (*Report, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Report
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decode report: %w", jsonError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decode report: trailing data after the report")
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// jsonError turns encoding/json's errors into ones that name the field.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &FieldError{Field: te.Field, Reason: "expected " + te.Type.String() + ", got " + te.Value}
	}
	return err
}

// Validate checks every field against the format. It returns a *FieldError
// for the first field that is wrong.
func (r *Report) Validate() error {
	v := validator{}
	if !(r.Schema == Schema) {
		v.check(false, "schema", fmt.Sprintf("must be %q", Schema))
	}
	v.check(r.ID != "" && len(r.ID) <= 128 && printable(r.ID), "id", "must be 1 to 128 printable characters")
	v.check(ValidID(r.Agent), "agent", "must be 1 to 64 letters, digits, '.', '_' or '-'")
	if !(len(r.Stores) <= MaxStores) {
		v.check(false, "stores", fmt.Sprintf("at most %d stores", MaxStores))
	}
	seen := map[string]bool{}
	for i, s := range r.Stores {
		v.check(ValidID(s), at("stores", i, ""), "must be 1 to 64 letters, digits, '.', '_' or '-'")
		v.check(!seen[s], at("stores", i, ""), "duplicate store")
		seen[s] = true
	}
	v.check(!r.CollectedAt.IsZero(), "collected_at", "required")
	v.str("version", r.Version)
	if p := r.PublicIP; p != nil {
		v.addr("public_ip.v4", p.V4, 4)
		v.addr("public_ip.v6", p.V6, 6)
		if !(len(p.Answers) <= MaxAnswers) {
			v.check(false, "public_ip.answers", fmt.Sprintf("at most %d answers", MaxAnswers))
		}
		for i, a := range p.Answers {
			v.str(at("public_ip.answers", i, ".provider"), a.Provider)
			v.str(at("public_ip.answers", i, ".kind"), a.Kind)
			v.str(at("public_ip.answers", i, ".transport"), a.Transport)
			v.str(at("public_ip.answers", i, ".error"), a.Error)
			v.addr(at("public_ip.answers", i, ".ip"), a.IP, 0)
			v.check(a.RTTMs >= 0 && a.RTTMs < 3.6e6, at("public_ip.answers", i, ".rtt_ms"), "out of range")
		}
		v.check(len(p.ResolverEgress) <= MaxAnswers, "public_ip.resolver_egress", "too many addresses")
		for i, a := range p.ResolverEgress {
			v.addr(at("public_ip.resolver_egress", i, ""), a, 0)
		}
	}
	if d := r.Device; d != nil {
		for _, f := range []struct{ name, val string }{
			{"host_id", d.HostID}, {"machine_id", d.MachineID}, {"product_uuid", d.ProductUUID},
			{"hostname", d.Hostname}, {"os", d.OS}, {"platform", d.Platform}, {"virtualization", d.Virtualization},
		} {
			v.str("device."+f.name, f.val)
		}
		if !(len(d.MACs) <= MaxMACs) {
			v.check(false, "device.macs", fmt.Sprintf("at most %d", MaxMACs))
		}
		for i, m := range d.MACs {
			v.mac(at("device.macs", i, ""), m)
		}
		if !(len(d.Interfaces) <= MaxMACs) {
			v.check(false, "device.interfaces", fmt.Sprintf("at most %d", MaxMACs))
		}
		for i, in := range d.Interfaces {
			v.str(at("device.interfaces", i, ".name"), in.Name)
			v.mac(at("device.interfaces", i, ".mac"), in.MAC)
		}
		if !(len(d.DiskSerials) <= MaxDiskSerials) {
			v.check(false, "device.disk_serials", fmt.Sprintf("at most %d", MaxDiskSerials))
		}
		for i, s := range d.DiskSerials {
			v.str(at("device.disk_serials", i, ""), s)
		}
	}
	if n := r.Network; n != nil {
		v.addr("network.gateway_ip", n.GatewayIP, 0)
		if n.GatewayMAC != "" {
			v.mac("network.gateway_mac", n.GatewayMAC)
		}
		v.str("network.timezone", n.Timezone)
		v.str("network.locale", n.Locale)
	}
	if !(len(r.Sessions) <= MaxSessions) {
		v.check(false, "sessions", fmt.Sprintf("at most %d sessions", MaxSessions))
	}
	for i, s := range r.Sessions {
		v.str(at("sessions", i, ".user"), s.User)
		v.str(at("sessions", i, ".terminal"), s.Terminal)
		v.str(at("sessions", i, ".origin"), s.Origin)
		v.str(at("sessions", i, ".source"), s.Source)
	}
	if sp := r.Spool; sp != nil {
		v.check(sp.Queued >= 0, "spool.queued", "negative")
		v.check(sp.Dropped >= 0, "spool.dropped", "negative")
	}
	if !(len(r.Errors) <= MaxErrors) {
		v.check(false, "errors", fmt.Sprintf("at most %d errors", MaxErrors))
	}
	for i, e := range r.Errors {
		v.str(at("errors", i, ".collector"), e.Collector)
		v.check(len(e.Error) <= 4*MaxString && utf8.ValidString(e.Error), at("errors", i, ".error"), "too long or not UTF-8")
	}
	return v.err
}

// validator keeps the first failure so that Validate reads as a list.
type validator struct{ err error }

// field names a JSON field; an indexed one ("sessions[3].user") is only
// formatted when it fails, as validation runs on every ingested report.
type field struct {
	name   string
	index  int // -1: not indexed
	suffix string
}

func (f field) String() string {
	if f.index < 0 {
		return f.name
	}
	return fmt.Sprintf("%s[%d]%s", f.name, f.index, f.suffix)
}

func at(name string, i int, suffix string) field { return field{name, i, suffix} }

func (v *validator) check(ok bool, name any, reason string) {
	if !ok && v.err == nil {
		f, isField := name.(field)
		if !isField {
			f = field{name: name.(string), index: -1}
		}
		v.err = &FieldError{Field: f.String(), Reason: reason}
	}
}

func (v *validator) str(name any, s string) {
	if len(s) > MaxString || !utf8.ValidString(s) {
		v.check(false, name, fmt.Sprintf("at most %d bytes of UTF-8", MaxString))
	}
}

// addr checks an optional IP address field; family is 4 or 6 to demand
// one, 0 for either.
func (v *validator) addr(field any, s string, family int) {
	if s == "" {
		return
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil || a.Zone() != "":
		v.check(false, field, "not an IP address")
	case family == 4:
		v.check(a.Is4(), field, "not an IPv4 address")
	case family == 6:
		v.check(a.Is6() && !a.Is4In6(), field, "not an IPv6 address")
	}
}

func (v *validator) mac(field any, s string) {
	if hw, err := net.ParseMAC(s); err != nil || len(hw) != 6 {
		v.check(false, field, "not a 48-bit MAC address")
	}
}

func printable(s string) bool {
	for _, c := range s {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}
