package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/report"
)

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// rep builds a report of agent for stores, collected ago before now.
func rep(agent string, stores []string, ago time.Duration, edit func(*report.Report)) *report.Report {
	r := &report.Report{Schema: report.Schema, ID: fmt.Sprintf("%s-%d", agent, ago), Agent: agent, Stores: stores, CollectedAt: now.Add(-ago)}
	if edit != nil {
		edit(r)
	}
	return r
}

func withIP(v4 string) func(*report.Report) {
	return func(r *report.Report) { r.PublicIP = &report.PublicIP{V4: v4} }
}

func withDevice(d report.Device) func(*report.Report) {
	return func(r *report.Report) { r.Device = &d }
}

// audit aggregates reports as of now and evaluates them with p (nil: defaults).
func audit(t *testing.T, in Input, p *Policy, reports ...*report.Report) *Audit {
	t.Helper()
	agg := NewAggregator(now)
	for _, r := range reports {
		if err := r.Validate(); err != nil {
			t.Fatalf("test report %s invalid: %v", r.ID, err)
		}
		agg.Add(r)
	}
	in.Sightings, in.Agents = agg.Sightings(), agg.Agents()
	if p == nil {
		p = Default()
	}
	return Evaluate(&in, p, now)
}

// brief is a finding reduced to what the tables compare.
type brief struct {
	Signal, Severity, Value, Stores string
	Exempted                        bool
}

func briefs(a *Audit) []brief {
	var out []brief
	for _, f := range a.Findings {
		out = append(out, brief{f.Signal, f.Severity.String(), f.Value, strings.Join(f.Stores, ","), f.Exempted})
	}
	return out
}

func TestEnvironmentSignals(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name    string
		reports []*report.Report
		want    []brief
	}{
		{
			name: "reassigned VPS links the old and the new store through history",
			reports: []*report.Report{
				rep("vps-1", []string{"shop-a"}, 40*day, withDevice(report.Device{HostID: "h1", MACs: []string{"00:1a:2b:3c:4d:5e"}})),
				rep("vps-1", []string{"shop-b"}, h, withDevice(report.Device{HostID: "h1", MACs: []string{"00:1a:2b:3c:4d:5e"}})),
			},
			want: []brief{
				{"host_id", "critical", "h1", "shop-a,shop-b", false},
				{"same_machine", "critical", "vps-1", "shop-a,shop-b", false},
				{"mac", "high", "00:1a:2b:3c:4d:5e", "shop-a,shop-b", false},
			},
		},
		{
			name: "one agent declaring two stores at once",
			reports: []*report.Report{
				rep("vps-1", []string{"shop-a", "shop-b"}, h, nil),
			},
			want: []brief{{"same_machine", "critical", "vps-1", "shop-a,shop-b", false}},
		},
		{
			name: "cloned image: two agents, one machine id",
			reports: []*report.Report{
				rep("vps-1", []string{"shop-a"}, h, withDevice(report.Device{MachineID: "M1", Hostname: "shop-a-vps"})),
				rep("vps-2", []string{"shop-b"}, h, withDevice(report.Device{MachineID: "m1", Hostname: "shop-b-vps"})),
			},
			want: []brief{{"host_id", "critical", "m1", "shop-a,shop-b", false}},
		},
		{
			name: "two stores behind one line and one router",
			reports: []*report.Report{
				rep("pc-1", []string{"shop-a"}, h, func(r *report.Report) {
					r.PublicIP = &report.PublicIP{V4: "203.0.113.7"}
					r.Network = &report.Network{GatewayIP: "192.168.1.1", GatewayMAC: "A0-B1-C2-D3-E4-F5"}
				}),
				rep("pc-2", []string{"shop-b"}, h, func(r *report.Report) {
					r.PublicIP = &report.PublicIP{V4: "203.0.113.7"}
					r.Network = &report.Network{GatewayIP: "192.168.1.1", GatewayMAC: "a0:b1:c2:d3:e4:f5"}
				}),
			},
			want: []brief{
				{"public_ip", "critical", "203.0.113.7", "shop-a,shop-b", false},
				{"gateway_mac", "high", "a0:b1:c2:d3:e4:f5", "shop-a,shop-b", false},
			},
		},
		{
			name: "a conflicting agent's second line counts too",
			reports: []*report.Report{
				rep("pc-1", []string{"shop-a"}, h, func(r *report.Report) {
					r.PublicIP = &report.PublicIP{V4: "203.0.113.7", Conflict: true, Answers: []report.Answer{
						{Provider: "opendns", IP: "203.0.113.7"}, {Provider: "ipify", IP: "198.51.100.9"}, {Provider: "google", Error: "timeout"}}}
				}),
				rep("pc-2", []string{"shop-b"}, h, withIP("198.51.100.9")),
			},
			want: []brief{{"public_ip", "critical", "198.51.100.9", "shop-a,shop-b", false}},
		},
		{
			name: "same subnet, different addresses: public_subnet",
			reports: []*report.Report{
				rep("pc-1", []string{"shop-a"}, h, withIP("203.0.113.7")),
				rep("pc-2", []string{"shop-b"}, h, withIP("203.0.113.8")),
				rep("pc-3", []string{"shop-c"}, h, func(r *report.Report) { r.PublicIP = &report.PublicIP{V6: "2001:db8:1:2::7"} }),
				rep("pc-4", []string{"shop-d"}, h, func(r *report.Report) { r.PublicIP = &report.PublicIP{V6: "2001:db8:1:2::8"} }),
			},
			want: []brief{
				{"public_subnet", "high", "2001:db8:1:2::/64", "shop-c,shop-d", false},
				{"public_subnet", "medium", "203.0.113.0/24", "shop-a,shop-b", false},
			},
		},
		{
			name: "same address is public_ip, not also public_subnet",
			reports: []*report.Report{
				rep("pc-1", []string{"shop-a"}, h, withIP("203.0.113.7")),
				rep("pc-2", []string{"shop-b"}, h, withIP("203.0.113.7")),
			},
			want: []brief{{"public_ip", "critical", "203.0.113.7", "shop-a,shop-b", false}},
		},
		{
			name: "session origin inside its 30-day window counts, outside not",
			reports: []*report.Report{
				rep("vps-1", []string{"shop-a"}, 29*day, func(r *report.Report) { r.Sessions = []report.Session{{User: "u", Origin: "198.51.100.4"}} }),
				rep("vps-2", []string{"shop-b"}, h, func(r *report.Report) { r.Sessions = []report.Session{{User: "u", Origin: "198.51.100.4"}} }),
				rep("vps-3", []string{"shop-c"}, 31*day, func(r *report.Report) { r.Sessions = []report.Session{{User: "u", Origin: "198.51.100.4"}} }),
			},
			want: []brief{{"session_origin", "medium", "198.51.100.4", "shop-a,shop-b", false}},
		},
		{
			name: "public IP outside its 180-day window does not count",
			reports: []*report.Report{
				rep("pc-1", []string{"shop-a"}, 181*day, withIP("203.0.113.7")),
				rep("pc-2", []string{"shop-b"}, h, withIP("203.0.113.7")),
			},
			want: nil,
		},
		{
			name: "observations after the evaluation time are ignored",
			reports: []*report.Report{
				rep("pc-1", []string{"shop-a"}, h, withIP("203.0.113.7")),
				rep("pc-2", []string{"shop-b"}, -h, withIP("203.0.113.7")),
			},
			want: nil,
		},
		{
			name: "a report with no store links nothing",
			reports: []*report.Report{
				rep("pc-1", []string{"shop-a"}, h, withIP("203.0.113.7")),
				rep("pc-2", nil, h, withIP("203.0.113.7")),
			},
			want: nil,
		},
		{
			name: "hostnames: specific ones count (low), generic ones not",
			reports: []*report.Report{
				rep("a", []string{"shop-a"}, h, withDevice(report.Device{Hostname: "Office-PC"})),
				rep("b", []string{"shop-b"}, h, withDevice(report.Device{Hostname: "office-pc."})),
				rep("c", []string{"shop-c"}, h, withDevice(report.Device{Hostname: "ubuntu"})),
				rep("d", []string{"shop-d"}, h, withDevice(report.Device{Hostname: "ubuntu"})),
				rep("e", []string{"shop-e"}, h, withDevice(report.Device{Hostname: "ip-172-31-5-10"})),
				rep("f", []string{"shop-f"}, h, withDevice(report.Device{Hostname: "ip-172-31-5-10"})),
			},
			want: []brief{{"hostname", "low", "office-pc", "shop-a,shop-b", false}},
		},
		{
			name: "locally administered and multicast MACs are ignored",
			reports: []*report.Report{
				rep("a", []string{"shop-a"}, h, withDevice(report.Device{MACs: []string{"02:42:ac:11:00:02", "01:00:5e:00:00:01", "00:00:00:00:00:00"}})),
				rep("b", []string{"shop-b"}, h, withDevice(report.Device{MACs: []string{"02:42:ac:11:00:02", "01:00:5e:00:00:01", "00:00:00:00:00:00"}})),
			},
			want: nil,
		},
		{
			name: "cloud and virtual-router gateway MACs are ignored",
			reports: []*report.Report{
				rep("a", []string{"shop-a"}, h, func(r *report.Report) { r.Network = &report.Network{GatewayMAC: "fe:ff:ff:ff:ff:ff"} }),
				rep("b", []string{"shop-b"}, h, func(r *report.Report) { r.Network = &report.Network{GatewayMAC: "fe:ff:ff:ff:ff:ff"} }),
				rep("c", []string{"shop-c"}, h, func(r *report.Report) { r.Network = &report.Network{GatewayMAC: "00:00:5e:00:01:01"} }),
				rep("d", []string{"shop-d"}, h, func(r *report.Report) { r.Network = &report.Network{GatewayMAC: "00:00:5e:00:01:01"} }),
			},
			want: nil,
		},
		{
			name: "non-global public addresses and origins are ignored",
			reports: []*report.Report{
				rep("a", []string{"shop-a"}, h, func(r *report.Report) {
					r.PublicIP = &report.PublicIP{V4: "100.64.1.1"}
					r.Sessions = []report.Session{{User: "u", Origin: "192.168.1.10"}, {User: "u", Origin: ":0"}}
				}),
				rep("b", []string{"shop-b"}, h, func(r *report.Report) {
					r.PublicIP = &report.PublicIP{V4: "100.64.1.1"}
					r.Sessions = []report.Session{{User: "u", Origin: "192.168.1.10"}, {User: "u", Origin: ":0"}}
				}),
			},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := briefs(audit(t, Input{}, nil, tt.reports...))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyIgnoreLists(t *testing.T) {
	p := Default()
	p.Ignore = Ignore{
		Hostnames:   []string{"Shared-Build"},
		MACPrefixes: []string{"00:1A:2B"},
		Addresses:   []string{"198.51.100.0/24", "203.0.113.9"},
	}
	if err := p.compile(); err != nil {
		t.Fatal(err)
	}
	h := time.Hour
	reports := []*report.Report{}
	for _, a := range []string{"a", "b"} {
		reports = append(reports, rep(a, []string{"shop-" + a}, h, func(r *report.Report) {
			r.PublicIP = &report.PublicIP{V4: "203.0.113.9"}
			r.Device = &report.Device{Hostname: "shared-build", MACs: []string{"00:1a:2b:00:00:01"}}
			r.Sessions = []report.Session{{User: "u", Origin: "198.51.100.20"}}
		}))
	}
	if got := briefs(audit(t, Input{}, p, reports...)); got != nil {
		t.Errorf("ignored values still found: %+v", got)
	}
	if got := briefs(audit(t, Input{}, nil, reports...)); len(got) != 4 {
		t.Errorf("without the ignore lists want 4 findings, got %+v", got)
	}
}

func TestRegistrationAndExemptions(t *testing.T) {
	stores := []Store{{ID: "shop-a"}, {ID: "shop-b"}, {ID: "shop-c"}, {ID: "shop-d", Status: "suspended"}}
	reg := []RegValue{
		{Store: "shop-a", Field: "phone", Digest: "hmac:01", Hint: "+86 138****8000"},
		{Store: "shop-b", Field: "phone", Digest: "hmac:01", Hint: "+86 138****8000"},
		{Store: "shop-a", Field: "legal_name", Digest: "hmac:02", Hint: "S***d"},
		{Store: "shop-b", Field: "legal_name", Digest: "hmac:02", Hint: "S***d"},
		{Store: "shop-c", Field: "legal_name", Digest: "hmac:02", Hint: "S***d"},
		{Store: "shop-c", Field: "email", Digest: "hmac:01", Hint: "o***@x.com"}, // same digest, other field: no match
		{Store: "shop-c", Field: "address", Digest: "hmac:03", Hint: "***"},
		{Store: "shop-d", Field: "address", Digest: "hmac:03", Hint: "***"},
	}
	tomorrow, yesterday := now.Add(24*time.Hour), now.Add(-24*time.Hour)
	tests := []struct {
		name       string
		exemptions []Exemption
		want       []brief
	}{
		{"no exemption", nil, []brief{
			{"reg.address", "critical", "***", "shop-c,shop-d", false},
			{"reg.legal_name", "critical", "S***d", "shop-a,shop-b,shop-c", false},
			{"reg.phone", "critical", "+86 138****8000", "shop-a,shop-b", false},
		}},
		{"full exemption of one signal", []Exemption{{Stores: []string{"shop-a", "shop-b"}, Signals: []string{"reg.phone"}, Reason: "r"}}, []brief{
			{"reg.address", "critical", "***", "shop-c,shop-d", false},
			{"reg.legal_name", "critical", "S***d", "shop-a,shop-b,shop-c", false},
			{"reg.phone", "critical", "+86 138****8000", "shop-a,shop-b", true},
		}},
		{"partial exemption: the finding's stores are not inside", []Exemption{{Stores: []string{"shop-a", "shop-b"}, Signals: []string{"reg.legal_name"}, Reason: "r"}}, []brief{
			{"reg.address", "critical", "***", "shop-c,shop-d", false},
			{"reg.legal_name", "critical", "S***d", "shop-a,shop-b,shop-c", false},
			{"reg.phone", "critical", "+86 138****8000", "shop-a,shop-b", false},
		}},
		{"expired exemption", []Exemption{{Stores: []string{"shop-a", "shop-b"}, Signals: []string{"*"}, Reason: "r", Expires: yesterday}}, []brief{
			{"reg.address", "critical", "***", "shop-c,shop-d", false},
			{"reg.legal_name", "critical", "S***d", "shop-a,shop-b,shop-c", false},
			{"reg.phone", "critical", "+86 138****8000", "shop-a,shop-b", false},
		}},
		{"wildcard exemption, not yet expired", []Exemption{{Stores: []string{"shop-a", "shop-b", "shop-c"}, Signals: []string{"*"}, Reason: "r", Expires: tomorrow}}, []brief{
			{"reg.address", "critical", "***", "shop-c,shop-d", false},
			{"reg.legal_name", "critical", "S***d", "shop-a,shop-b,shop-c", true},
			{"reg.phone", "critical", "+86 138****8000", "shop-a,shop-b", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := audit(t, Input{Stores: stores, Registration: reg, Exemptions: tt.exemptions}, nil)
			if diff := cmp.Diff(tt.want, briefs(a)); diff != "" {
				t.Errorf("findings mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClusters(t *testing.T) {
	h := time.Hour
	stores := []Store{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}, {ID: "e"}, {ID: "f"}}
	reg := []RegValue{
		{Store: "b", Field: "phone", Digest: "hmac:p", Hint: "p"},
		{Store: "c", Field: "phone", Digest: "hmac:p", Hint: "p"},
		{Store: "e", Field: "email", Digest: "hmac:e", Hint: "e"},
		{Store: "f", Field: "email", Digest: "hmac:e", Hint: "e"},
	}
	reports := []*report.Report{
		rep("pc-a", []string{"a"}, h, withIP("203.0.113.7")),
		rep("pc-b", []string{"b"}, h, withIP("203.0.113.7")),
		// d and e share only a medium signal: below cluster_min_severity.
		rep("pc-d", []string{"d"}, h, withIP("198.51.100.1")),
		rep("pc-e", []string{"e"}, h, withIP("198.51.100.2")),
	}
	ex := []Exemption{{Stores: []string{"e", "f"}, Signals: []string{"reg.email"}, Reason: "same owner, approved"}}
	in := Input{Stores: stores, Registration: reg, Exemptions: ex}
	a := audit(t, in, nil, reports...)
	want := []Cluster{{
		Stores: []string{"a", "b", "c"}, Severity: Critical, Signals: []string{"public_ip", "reg.phone"},
		JoinedBy: []Link{
			{Finding: FindingID("public_ip", "203.0.113.7"), Signal: "public_ip", Value: "203.0.113.7", Severity: Critical, Stores: 2},
			{Finding: FindingID("reg.phone", "hmac:p"), Signal: "reg.phone", Value: "p", Severity: Critical, Stores: 2},
		},
	}}
	if diff := cmp.Diff(want, a.Clusters, cmpLinksAnyOrder); diff != "" {
		t.Errorf("clusters mismatch (-want +got):\n%s", diff)
	}
	// With the threshold lowered, the medium subnet finding joins d and e.
	p := Default()
	p.ClusterMinSeverity = Medium
	a = audit(t, in, p, reports...)
	if len(a.Clusters) != 2 || strings.Join(a.Clusters[1].Stores, ",") != "d,e" {
		t.Errorf("with cluster_min_severity medium want clusters [a b c] and [d e], got %+v", a.Clusters)
	}
}

var cmpLinksAnyOrder = cmp.Transformer("sortLinks", func(in []Link) map[string]Link {
	m := map[string]Link{}
	for _, l := range in {
		m[l.Finding] = l
	}
	return m
})

func TestSuspendedStoreEscalates(t *testing.T) {
	h := time.Hour
	in := Input{Stores: []Store{{ID: "a"}, {ID: "b", Status: "closed"}}}
	a := audit(t, in, nil,
		rep("pc-a", []string{"a"}, h, withDevice(report.Device{Hostname: "office-pc"})),
		rep("pc-b", []string{"b"}, h, withDevice(report.Device{Hostname: "office-pc"})),
	)
	if len(a.Findings) != 1 || a.Findings[0].Severity != Critical || !a.Findings[0].Escalated {
		t.Fatalf("want one escalated critical hostname finding, got %+v", a.Findings)
	}
	if len(a.Clusters) != 1 {
		t.Errorf("escalated finding should cluster a and b, got %+v", a.Clusters)
	}
	if !a.Fails(High) || !a.Fails(Critical) || a.Fails(None) {
		t.Errorf("Fails thresholds wrong for a critical finding")
	}
}

func TestExemptedFindingNeitherFailsNorClusters(t *testing.T) {
	h := time.Hour
	in := Input{Exemptions: []Exemption{{Stores: []string{"a", "b"}, Signals: []string{"public_ip"}, Reason: "shared office, case 7"}}}
	a := audit(t, in, nil, rep("pc-a", []string{"a"}, h, withIP("203.0.113.7")), rep("pc-b", []string{"b"}, h, withIP("203.0.113.7")))
	if len(a.Findings) != 1 || !a.Findings[0].Exempted || a.Findings[0].Exemption != "shared office, case 7" {
		t.Fatalf("want one exempted finding, got %+v", a.Findings)
	}
	if a.Fails(Low) || len(a.Clusters) != 0 {
		t.Errorf("exempted finding failed the audit or joined a cluster: %+v", a)
	}
}

func TestFindingIDStable(t *testing.T) {
	h := time.Hour
	two := audit(t, Input{}, nil, rep("pc-a", []string{"a"}, h, withIP("203.0.113.7")), rep("pc-b", []string{"b"}, h, withIP("203.0.113.7")))
	three := audit(t, Input{}, nil, rep("pc-a", []string{"a"}, h, withIP("203.0.113.7")), rep("pc-b", []string{"b"}, h, withIP("203.0.113.7")),
		rep("pc-c", []string{"c"}, h, withIP("203.0.113.7")))
	if two.Findings[0].ID != three.Findings[0].ID {
		t.Errorf("finding id changed when a store joined: %s → %s", two.Findings[0].ID, three.Findings[0].ID)
	}
	other := audit(t, Input{}, nil, rep("pc-a", []string{"a"}, h, withIP("203.0.113.8")), rep("pc-b", []string{"b"}, h, withIP("203.0.113.8")))
	if other.Findings[0].ID == two.Findings[0].ID {
		t.Errorf("different values share a finding id")
	}
}

func TestEvidence(t *testing.T) {
	a := audit(t, Input{}, nil,
		rep("pc-a", []string{"a"}, 3*time.Hour, withIP("203.0.113.7")),
		rep("pc-a", []string{"a"}, 2*time.Hour, withIP("203.0.113.7")),
		rep("pc-b", []string{"b"}, time.Hour, withIP("203.0.113.7")),
	)
	want := []Evidence{
		{Store: "a", Agent: "pc-a", FirstSeen: now.Add(-3 * time.Hour), LastSeen: now.Add(-2 * time.Hour), Count: 2},
		{Store: "b", Agent: "pc-b", FirstSeen: now.Add(-time.Hour), LastSeen: now.Add(-time.Hour), Count: 1},
	}
	if diff := cmp.Diff(want, a.Findings[0].Evidence); diff != "" {
		t.Errorf("evidence mismatch (-want +got):\n%s", diff)
	}
}

func TestWarnings(t *testing.T) {
	in := Input{Stores: []Store{{ID: "a"}, {ID: "b"}, {ID: "gone", Status: "closed"}}}
	a := audit(t, in, nil,
		rep("pc-a", []string{"a"}, 3*time.Hour, nil),
		rep("pc-x", []string{"a", "x"}, time.Minute, func(r *report.Report) {
			r.PublicIP = &report.PublicIP{V4: "203.0.113.7", Conflict: true}
			r.Errors = []report.CollectorError{{Collector: "sessions", Error: "sessions: open /var/log/wtmp: permission denied"},
				{Collector: "network", Error: "network: gateway: unsupported on this platform"}}
		}),
	)
	got := []string{}
	for _, w := range a.Warnings {
		got = append(got, w.Kind+" "+w.Agent+" "+w.Store)
	}
	want := []string{
		"collector_error pc-x ",
		"egress_conflict pc-x ",
		"stale_agent pc-a ",
		"store_without_agent  b",
		"unknown_store pc-x x",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings mismatch (-want +got):\n%s", diff)
	}
	if strings.Contains(a.Warnings[0].Detail, "unsupported") {
		t.Errorf("unsupported collectors should not warn: %q", a.Warnings[0].Detail)
	}
}

func TestGiantClusterExplanationStaysShort(t *testing.T) {
	var reports []*report.Report
	for i := 0; i < 500; i++ {
		ip := fmt.Sprintf("203.0.%d.%d", 113+i/250, 1+i%250)
		reports = append(reports, rep(fmt.Sprintf("pc-%d", i), []string{fmt.Sprintf("s%03d", i)}, time.Hour, func(r *report.Report) {
			r.PublicIP = &report.PublicIP{V4: ip}
			// A chain: every store shares a disk with the next one, and all share one hot MAC.
			r.Device = &report.Device{MACs: []string{"00:1a:2b:3c:4d:5e"}, DiskSerials: []string{fmt.Sprintf("d%d", i/2)}}
		}))
	}
	a := audit(t, Input{}, nil, reports...)
	if len(a.Clusters) != 1 || len(a.Clusters[0].Stores) != 500 {
		t.Fatalf("want one cluster of 500 stores, got %d clusters", len(a.Clusters))
	}
	c := a.Clusters[0]
	if len(c.JoinedBy) != 1 || c.JoinedBy[0].Signal != "mac" || c.JoinedBy[0].Stores != 500 || c.JoinedByMore != 0 {
		t.Errorf("the hot MAC alone explains the cluster; got %+v (+%d more)", c.JoinedBy, c.JoinedByMore)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		90 * time.Second: "2m", 5 * time.Hour: "5h", 90 * time.Minute: "1h30m", 480 * time.Hour: "20d", 50 * time.Hour: "2d2h",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSortEntries(t *testing.T) {
	for _, n := range []int{0, 1, 100, 5000} {
		xs := make([]entry, n)
		for i := range xs {
			xs[i] = entry{h: uint64(i*2654435761) ^ uint64(i)<<40, ref: int32(i)}
		}
		sortEntries(xs)
		for i := 1; i < n; i++ {
			if xs[i-1].h > xs[i].h {
				t.Fatalf("n=%d: not sorted at %d", n, i)
			}
		}
	}
}

func TestParseMAC48(t *testing.T) {
	for in, want := range map[string]bool{
		"00:1a:2B:3c:4d:5e": true, "00-1A-2B-3C-4D-5E": true, "001a.2b3c.4d5e": true,
		"00:1a:2b:3c:4d": false, "00:1a:2b:3c:4d:5g": false, "00:1a:2b:3c:4d:5e:6f:70": false, "": false,
	} {
		hw, ok := parseMAC48(in)
		if ok != want || (ok && hw != [6]byte{0, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e}) {
			t.Errorf("parseMAC48(%q) = %x, %v; want ok=%v", in, hw, ok, want)
		}
	}
}
