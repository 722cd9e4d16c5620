package report

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeSpecExample(t *testing.T) {
	data, err := os.ReadFile("testdata/full.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Report{
		Schema: Schema, ID: "0b6f3c1e-4d2a-4f7e-9c1a-2b3c4d5e6f70", Agent: "vps-shop-a",
		Stores: []string{"shop-a"}, CollectedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		PublicIP: &PublicIP{V4: "203.0.113.7", V6: "2001:db8:1:2::7",
			Answers: []Answer{{Provider: "opendns", IP: "203.0.113.7", RTTMs: 31}}},
		Device: &Device{HostID: "a1", MachineID: "b2", Hostname: "shop-a-vps", OS: "linux",
			Platform: "debian 12", Virtualization: "kvm/guest", MACs: []string{"52:54:00:12:34:56"}, DiskSerials: []string{"c3"}},
		Network:  &Network{GatewayIP: "192.168.1.1", GatewayMAC: "a0:b1:c2:d3:e4:f5"},
		Sessions: []Session{{User: "admin", Terminal: "pts/0", Origin: "198.51.100.4", Started: time.Date(2026, 11, 22, 9, 58, 0, 0, time.UTC)}},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("Decode mismatch (-want +got):\n%s", diff)
	}
	// Round trip: what we encode, we decode to the same value.
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Decode(out)
	if err != nil {
		t.Fatalf("decode of own encoding: %v", err)
	}
	if diff := cmp.Diff(r, r2); diff != "" {
		t.Errorf("round trip mismatch (-first +second):\n%s", diff)
	}
}

func TestDecodeBad(t *testing.T) {
	valid := `"schema":"storefence.report/v1","id":"x1","agent":"a","stores":["s"],"collected_at":"2026-11-22T10:00:00Z"`
	tests := []struct {
		name, body, field string // field "" means a decode error without a field
	}{
		{"not json", `{`, ""},
		{"trailing data", `{` + valid + `} {}`, ""},
		{"unknown field", `{` + valid + `,"colour":"red"}`, ""},
		{"wrong schema", `{"schema":"storefence.report/v2","id":"x","agent":"a","stores":[],"collected_at":"2026-11-22T10:00:00Z"}`, "schema"},
		{"no id", `{"schema":"storefence.report/v1","agent":"a","stores":[],"collected_at":"2026-11-22T10:00:00Z"}`, "id"},
		{"bad agent", `{"schema":"storefence.report/v1","id":"x","agent":"a b","collected_at":"2026-11-22T10:00:00Z"}`, "agent"},
		{"no time", `{"schema":"storefence.report/v1","id":"x","agent":"a"}`, "collected_at"},
		{"dup store", `{` + valid + `,"stores":["s","s"]}`, "stores[1]"},
		{"v4 is v6", `{` + valid + `,"public_ip":{"v4":"2001:db8::1"}}`, "public_ip.v4"},
		{"v6 is v4", `{` + valid + `,"public_ip":{"v6":"192.0.2.1"}}`, "public_ip.v6"},
		{"answer ip", `{` + valid + `,"public_ip":{"answers":[{"provider":"p","ip":"nope","rtt_ms":1}]}}`, "public_ip.answers[0].ip"},
		{"negative rtt", `{` + valid + `,"public_ip":{"answers":[{"provider":"p","rtt_ms":-1}]}}`, "public_ip.answers[0].rtt_ms"},
		{"bad mac", `{` + valid + `,"device":{"macs":["52:54:00"]}}`, "device.macs[0]"},
		{"bad gateway mac", `{` + valid + `,"network":{"gateway_mac":"zz"}}`, "network.gateway_mac"},
		{"long hostname", `{` + valid + `,"device":{"hostname":"` + strings.Repeat("h", MaxString+1) + `"}}`, "device.hostname"},
		{"wrong type", `{` + valid + `,"stores":"shop-a"}`, "stores"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.body))
			if err == nil {
				t.Fatal("Decode succeeded, want an error")
			}
			var fe *FieldError
			switch {
			case tt.field == "" && errors.As(err, &fe):
				t.Errorf("error %v names field %q, want a plain decode error", err, fe.Field)
			case tt.field != "" && !errors.As(err, &fe):
				t.Errorf("error %v names no field, want %q", err, tt.field)
			case tt.field != "" && fe.Field != tt.field:
				t.Errorf("error names field %q, want %q", fe.Field, tt.field)
			}
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	r := Report{Schema: Schema, ID: "x", Agent: "a", CollectedAt: time.Now()}
	for i := 0; i <= MaxSessions; i++ {
		r.Sessions = append(r.Sessions, Session{User: "u"})
	}
	data, _ := json.Marshal(r)
	var fe *FieldError
	if _, err := Decode(data); !errors.As(err, &fe) || fe.Field != "sessions" {
		t.Errorf("Decode with %d sessions = %v, want a sessions error", len(r.Sessions), err)
	}
}

func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile("testdata/full.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"schema":"storefence.report/v1","id":"x","agent":"a","collected_at":"2026-11-22T10:00:00Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			return
		}
		// Whatever decodes must validate again after a round trip.
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal a decoded report: %v", err)
		}
		if _, err := Decode(out); err != nil {
			t.Fatalf("decoded report does not decode again: %v\n%s", err, out)
		}
	})
}
