package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/storefence/storefence/internal/dnstest"
	"github.com/storefence/storefence/report"
)

// runCmd runs the binary's run with args and returns its exit code, stdout
// and stderr.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// agentConfig writes an agent.yaml whose public-IP providers are the given
// loopback DNS servers.
func agentConfig(t *testing.T, collectors string, servers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "agent_id: test-agent\nstores: [shop-a]\ncollectors: [%s]\npublic_ip:\n  timeout: 2s\n  resolver_egress: {disabled: true}\n  providers:\n", collectors)
	for i, s := range servers {
		fmt.Fprintf(&b, "    - {name: echo%d, kind: dns, server: %q, query: myip.test., type: A}\n", i, s)
	}
	return writeFile(t, "agent.yaml", b.String())
}

func TestCollectReportsTheEchoServersView(t *testing.T) {
	srv := dnstest.Start(t, dnstest.Echo(dnstest.Fixed("203.0.113.7")))
	code, out, stderr := runCmd(t, "collect", "--config", agentConfig(t, "publicip, device, network, sessions", srv))
	if code != 0 {
		t.Fatalf("collect exit %d, stderr:\n%s", code, stderr)
	}
	r, err := report.Decode([]byte(out))
	if err != nil {
		t.Fatalf("collect printed an invalid report: %v\n%s", err, out)
	}
	if r.Agent != "test-agent" || !slices.Equal(r.Stores, []string{"shop-a"}) {
		t.Errorf("report header %q %v, want test-agent [shop-a]", r.Agent, r.Stores)
	}
	if r.PublicIP == nil || r.PublicIP.V4 != "203.0.113.7" || r.PublicIP.Conflict {
		t.Errorf("public_ip = %+v, want v4 203.0.113.7 without conflict", r.PublicIP)
	}
	if r.Device == nil || r.Device.OS == "" {
		t.Errorf("device section missing: %+v", r.Device)
	}
}

func TestCollectConflict(t *testing.T) {
	a := dnstest.Start(t, dnstest.Echo(dnstest.Fixed("203.0.113.7")))
	b := dnstest.Start(t, dnstest.Echo(dnstest.Fixed("198.51.100.9")))
	code, out, stderr := runCmd(t, "collect", "--config", agentConfig(t, "publicip", a, b))
	if code != 0 {
		t.Fatalf("collect exit %d, stderr:\n%s", code, stderr)
	}
	r, err := report.Decode([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, ans := range r.PublicIP.Answers {
		ips = append(ips, ans.IP)
	}
	if !r.PublicIP.Conflict || !slices.Equal(ips, []string{"203.0.113.7", "198.51.100.9"}) {
		t.Errorf("public_ip = %+v, want conflict with both answers", r.PublicIP)
	}
}

func TestCollectNothingSeenExits1(t *testing.T) {
	// One provider that never answers, and only the publicip collector.
	dead := dnstest.Start(t, dnstest.Echo(dnstest.Fixed("")))
	cfg := strings.Replace(readFile(t, agentConfig(t, "publicip", dead)), "timeout: 2s", "timeout: 200ms", 1)
	code, out, stderr := runCmd(t, "collect", "--config", writeFile(t, "a.yaml", cfg), "--format", "table")
	if code != 1 || !strings.Contains(stderr, "no collector could see anything") {
		t.Errorf("collect exit %d, stderr %q; want 1 and a message", code, stderr)
	}
	if !strings.Contains(out, "error publicip") {
		t.Errorf("table output lacks the collector error:\n%s", out)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCollectBadConfig(t *testing.T) {
	p := writeFile(t, "agent.yaml", "agent_id: x\npublic_ip:\n  timout: 2s\n")
	code, _, stderr := runCmd(t, "collect", "--config", p)
	if want := p + ":3: public_ip.timout: unknown key"; code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("collect exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
}

var example = []string{"audit", "--stores", "../../configs/examples/stores.yaml", "--reports", "../../configs/examples/reports",
	"--now", "2026-11-22T10:00:00Z", "--secret-file", "../../configs/examples/secret"}

func TestHelpVersionUnknown(t *testing.T) {
	if code, out, _ := runCmd(t, "help"); code != 0 || !strings.Contains(out, "collect") || !strings.Contains(out, "agent") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	if code, out, _ := runCmd(t, "help", "agent"); code != 0 || !strings.Contains(out, "-once") {
		t.Errorf("help agent: exit %d\n%s", code, out)
	}
	if code, out, _ := runCmd(t, "version"); code != 0 || !strings.HasPrefix(out, "storefence dev") {
		t.Errorf("version: exit %d %q", code, out)
	}
	if code, _, stderr := runCmd(t, "frobnicate"); code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Errorf("unknown command: exit %d %q", code, stderr)
	}
	if code, _, _ := runCmd(t); code != 2 {
		t.Errorf("no command: exit %d, want 2", code)
	}
}

// TestAgentOnlyBuildLeavesTheCentralSideOut checks that the agent-only
// build (-tags agentonly, for operator machines) links none of the
// server's weight: databases, Prometheus, the registry's phone metadata.
func TestAgentOnlyBuildLeavesTheCentralSideOut(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(gobin, "list", "-tags", "agentonly", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	for _, heavy := range []string{"modernc.org/sqlite", "github.com/jackc/pgx/v5", "github.com/prometheus/client_golang/prometheus",
		"github.com/nyaruka/phonenumbers", "github.com/storefence/storefence/server", "github.com/storefence/storefence/registry"} {
		if slices.Contains(deps, heavy) {
			t.Errorf("the agent-only build links %s", heavy)
		}
	}
	if !slices.Contains(deps, "github.com/storefence/storefence/agent") {
		t.Errorf("the agent-only build lacks the agent: %v", deps)
	}
}
