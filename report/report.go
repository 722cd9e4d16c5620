// Package report defines storefence.report/v1, the document an agent sends to
// the server, and its strict decoder.
package report

import (
	"time"
)

// Schema is the value of Report.Schema for this version of the format.
const Schema = "storefence.report/v1"

// Report is one collection of one machine. Every section but the header may
// be absent when a collector cannot see it; the failure is then listed in
// Errors instead.
type Report struct {
	Schema      string           `json:"schema"`
	ID          string           `json:"id"`
	Agent       string           `json:"agent"`
	Stores      []string         `json:"stores"`
	CollectedAt time.Time        `json:"collected_at"`
	Version     string           `json:"version,omitempty"` // agent build
	PublicIP    *PublicIP        `json:"public_ip,omitempty"`
	Device      *Device          `json:"device,omitempty"`
	Network     *Network         `json:"network,omitempty"`
	Sessions    []Session        `json:"sessions,omitempty"`
	Errors      []CollectorError `json:"errors,omitempty"`
	Spool       *SpoolStats      `json:"spool,omitempty"` // the agent's delivery queue when it collected this
}

// SpoolStats tells the server what the agent's spool holds and lost: a
// spool that overflows while the server is unreachable drops its oldest
// reports, and says how many here.
type SpoolStats struct {
	Queued  int64 `json:"queued"`  // reports waiting to be sent
	Dropped int64 `json:"dropped"` // reports the spool ever dropped, oldest first (kept across restarts)
}

// PublicIP is the consensus of the echo providers about this machine's
// egress addresses.
type PublicIP struct {
	V4       string   `json:"v4,omitempty"`
	V6       string   `json:"v6,omitempty"`
	Answers  []Answer `json:"answers,omitempty"`
	Conflict bool     `json:"conflict"` // providers disagreed about an egress address
	// ResolverEgress lists the addresses the system resolver's queries leave
	// from (Akamai whoami.ds.akahelp.net): a DNS path other than the host's.
	ResolverEgress []string `json:"resolver_egress,omitempty"`
}

// Answer is what one provider said over one transport.
type Answer struct {
	Provider  string  `json:"provider"`
	Kind      string  `json:"kind,omitempty"`      // "dns" or "https"
	Transport string  `json:"transport,omitempty"` // "udp4", "tcp6", "https", …
	IP        string  `json:"ip,omitempty"`
	RTTMs     float64 `json:"rtt_ms"`
	Error     string  `json:"error,omitempty"` // set instead of IP when the provider failed
}

// Device identifies the machine. Ids are application-specific keyed hashes of
// the raw ids, never the raw ids.
type Device struct {
	HostID         string      `json:"host_id,omitempty"`
	MachineID      string      `json:"machine_id,omitempty"`
	ProductUUID    string      `json:"product_uuid,omitempty"`
	Hostname       string      `json:"hostname,omitempty"`
	OS             string      `json:"os,omitempty"`
	Platform       string      `json:"platform,omitempty"`
	Virtualization string      `json:"virtualization,omitempty"`
	MACs           []string    `json:"macs,omitempty"`
	Interfaces     []Interface `json:"interfaces,omitempty"`
	DiskSerials    []string    `json:"disk_serials,omitempty"`
}

// Interface is one real network interface of the machine.
type Interface struct {
	Name string `json:"name"`
	MAC  string `json:"mac"`
	// LocallyAdministered marks a MAC with the U/L bit set: assigned by
	// software (VMs, containers, randomisation), so not a hardware identity.
	LocallyAdministered bool `json:"locally_administered,omitempty"`
}

// Network describes the line the machine is on.
type Network struct {
	GatewayIP  string `json:"gateway_ip,omitempty"`
	GatewayMAC string `json:"gateway_mac,omitempty"`
	Timezone   string `json:"timezone,omitempty"`
	Locale     string `json:"locale,omitempty"`
}

// Session is a login session, current or recent.
type Session struct {
	User     string     `json:"user"`
	Terminal string     `json:"terminal,omitempty"`
	Origin   string     `json:"origin,omitempty"` // remote address or host, empty for local logins
	Started  time.Time  `json:"started"`
	Ended    *time.Time `json:"ended,omitempty"`  // set for past sessions (wtmp)
	Source   string     `json:"source,omitempty"` // "utmp", "wtmp", "loginctl", "wts"
}

// CollectorError records a collector that failed or is unsupported here.
type CollectorError struct {
	Collector string `json:"collector"`
	Error     string `json:"error"`
}
