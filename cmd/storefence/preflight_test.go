package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/agent"
	"github.com/storefence/storefence/internal/dnstest"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

// TestPreflight: shop-b's machine already reports 203.0.113.7; a machine
// whose egress is that address would link shop-a to shop-b, one whose
// egress is another would not; and the server stores neither answer.
func TestPreflight(t *testing.T) {
	srv := startServer(t, "vps-a", "vps-b")
	c, err := agent.NewClient(srv.url, srv.tokens["vps-b"], "")
	if err != nil {
		t.Fatal(err)
	}
	other := &report.Report{Schema: report.Schema, ID: "0b6f3c1e-0000-7000-8000-000000000001", Agent: "vps-b", Stores: []string{"shop-b"},
		CollectedAt: time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond), PublicIP: &report.PublicIP{V4: "203.0.113.7"}}
	if err := c.Send(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	shared := dnstest.Start(t, dnstest.Echo(dnstest.Fixed("203.0.113.7")))
	own := dnstest.Start(t, dnstest.Echo(dnstest.Fixed("198.51.100.9")))
	linked := agentYAML(t, "vps-a", "shop-a", srv.url, srv.tokens["vps-a"], t.TempDir(), shared)
	clean := agentYAML(t, "vps-a", "shop-a", srv.url, srv.tokens["vps-a"], t.TempDir(), own)

	code, out, stderr := runCmd(t, "preflight", "--store", "shop-a", "--config", linked)
	if code != 1 {
		t.Fatalf("shared IP: exit %d, stderr %s", code, stderr)
	}
	for _, want := range []string{"WOULD LINK", "SIGNAL", "public_ip", "203.0.113.7", "shop-b", "critical", "own line and egress IP"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCmd(t, "preflight", "--store", "shop-a", "--config", linked, "--format", "json")
	var p policy.Preflight
	if err := json.Unmarshal([]byte(out), &p); err != nil || code != 1 {
		t.Fatalf("json: exit %d, %v\n%s", code, err, out)
	}
	if !p.WouldLink || p.Schema != policy.PreflightSchema || p.Store != "shop-a" || p.Agent != "vps-a" {
		t.Errorf("preflight %+v", p)
	}
	var got []string
	for _, f := range p.Findings {
		got = append(got, f.Signal+" "+f.Value+" "+strings.Join(f.Stores, ","))
	}
	if diff := cmp.Diff([]string{"public_ip 203.0.113.7 shop-a,shop-b"}, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}

	code, out, stderr = runCmd(t, "preflight", "--store", "shop-a", "--config", clean)
	if code != 0 || !strings.Contains(out, "would NOT link") || !strings.Contains(out, "No finding") {
		t.Errorf("own IP: exit %d\n%s%s", code, out, stderr)
	}
	if n, _ := srv.db.ReportCount(context.Background()); n != 1 {
		t.Errorf("the server stored %d reports, want only vps-b's", n)
	}
}

func TestPreflightNoAnswerIs2(t *testing.T) {
	dns := dnstest.Start(t, dnstest.Echo(dnstest.Fixed("203.0.113.7")))
	srv := startServer(t, "vps-a")
	noServer := agentYAML(t, "vps-a", "shop-a", "", "", t.TempDir(), dns)
	good := agentYAML(t, "vps-a", "shop-a", srv.url, srv.tokens["vps-a"], t.TempDir(), dns)
	badToken := agentYAML(t, "vps-a", "shop-a", srv.url, writeFile(t, "bad.token", "sft_nope\n"), t.TempDir(), dns)
	down := agentYAML(t, "vps-a", "shop-a", "http://127.0.0.1:1", srv.tokens["vps-a"], t.TempDir(), dns)
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no store", []string{"--config", good}, "--store"},
		{"bad store", []string{"--store", "shop a", "--config", good}, "--store"},
		{"bad format", []string{"--store", "shop-a", "--config", good, "--format", "xml"}, "--format"},
		{"stray argument", []string{"--store", "shop-a", "--config", good, "extra"}, "unexpected argument"},
		{"no server", []string{"--store", "shop-a", "--config", noServer}, "server: required"},
		{"bad token", []string{"--store", "shop-a", "--config", badToken}, "401"},
		{"server down", []string{"--store", "shop-a", "--config", down}, "asking http://127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, append([]string{"preflight"}, tt.args...)...)
			if code != 2 || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.stderr)
			}
		})
	}
}
