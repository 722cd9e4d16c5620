//go:build e2e && linux

package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	_ "modernc.org/sqlite" // reads the server's database
)

// Topology. Each host is a network namespace; "inet" is the Internet: a
// router between the hosts' links that also runs the DNS echo service.
// Every address is in a documentation range (RFC 5737), which the
// collector and the policy accept as public, so that the public_ip signal
// works as on the real Internet. The two lines are in different /24s: two
// stores in one /24 would (rightly) share a public_subnet finding.
//
//	line1 (203.0.113.10/24, agents line1-a and line1-b)  ─ eth0 ─┐
//	line2 (192.0.2.20/24, agent line2-c)                 ─ eth0 ─┼─ inet (router; dnsecho on 198.51.100.53)
//	server (198.51.100.80/26, storefence server :8443)   ─ eth0 ─┘
const (
	hostInet   = "inet"
	hostServer = "server"
	hostLine1  = "line1"
	hostLine2  = "line2"

	dnsAddr     = "198.51.100.53"
	serverAddr  = "198.51.100.80"
	line1Egress = "203.0.113.10"
	line2Egress = "192.0.2.20"
)

var serverURL = "http://" + serverAddr + ":8443"

// tick is the agents' schedule in the outage phase, and outageFor how long
// the server is down: five ticks' reports wait in the spools.
const (
	tick      = 2 * time.Second
	outageFor = 10 * time.Second
)

// agentSpec is one agent of the lab.
type agentSpec struct {
	id, host, egress string
	stores           []string
}

// env is everything the phases share.
type env struct {
	*lab
	sf, dnsecho string // binaries
	serverCfg   string
	adminToken  string
	dbPath      string
	server      *proc
	// serverNotify is the notification socket of the running server;
	// serverStarts counts its starts.
	serverNotify *notifySocket
	serverStarts int
	agents       []agentSpec
	tokens       map[string]string // agent id → token file
}

func TestEndToEnd(t *testing.T) {
	if err := labSupported(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()

	e := &env{lab: newLab(t), tokens: map[string]string{}}
	e.sf, e.dnsecho = binaries(t)
	e.buildTopology()
	e.start(hostInet, "dnsecho", nil, e.dnsecho, "-listen", dnsAddr+":53")
	// The echo service answers each line with that line's address: the
	// lab's routing is what the test believes it is.
	for host, want := range map[string]string{hostLine1: line1Egress, hostLine2: line2Egress} {
		err := eventually(ctx, 10*time.Second, 100*time.Millisecond, func() error {
			out, err := e.helper(ctx, host, "dns", dnsAddr+":53", "myip.opendns.com")
			if err == nil && strings.TrimSpace(string(out)) != want {
				err = fmt.Errorf("dns echo from %s answered %s, want %s", host, out, want)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	e.agents = []agentSpec{
		{id: "line1-a", host: hostLine1, egress: line1Egress, stores: []string{"shop-a"}},
		{id: "line1-b", host: hostLine1, egress: line1Egress, stores: []string{"shop-b"}},
		{id: "line2-c", host: hostLine2, egress: line2Egress, stores: []string{"shop-c"}},
	}
	e.setUpServer(ctx)
	e.startServer(ctx)

	t.Log("phase 1: findings")
	e.testFindings(ctx)
	if t.Failed() {
		return
	}
	t.Log("phase 2: server outage")
	e.testOutage(ctx)
	t.Logf("e2e took %s", time.Since(start).Round(100*time.Millisecond))
}

// binaries returns the storefence and dnsecho binaries: those in
// $STOREFENCE_E2E_BIN (make e2e builds them into bin/), or built now.
func binaries(t *testing.T) (sf, dnsecho string) {
	t.Helper()
	if dir := os.Getenv("STOREFENCE_E2E_BIN"); dir != "" {
		sf, dnsecho = filepath.Join(dir, "storefence"), filepath.Join(dir, "dnsecho")
		for _, b := range []string{sf, dnsecho} {
			if _, err := os.Stat(b); err != nil {
				t.Fatalf("STOREFENCE_E2E_BIN: %v (make e2e builds both)", err)
			}
		}
		return sf, dnsecho
	}
	dir := t.TempDir()
	for pkg, name := range map[string]string{"../cmd/storefence": "storefence", "../internal/tools/dnsecho": "dnsecho"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return filepath.Join(dir, "storefence"), filepath.Join(dir, "dnsecho")
}

// buildTopology creates the namespaces, links and routes drawn above.
func (e *env) buildTopology() {
	for _, h := range []string{hostInet, hostServer, hostLine1, hostLine2} {
		e.addNS(h)
	}
	e.link(hostServer, "eth0", serverAddr+"/26", hostInet, "srv", "198.51.100.65/26")
	e.link(hostLine1, "eth0", line1Egress+"/24", hostInet, "line1", "203.0.113.1/24")
	e.link(hostLine2, "eth0", line2Egress+"/24", hostInet, "line2", "192.0.2.1/24")
	e.ip("-n", e.ns(hostInet), "addr", "add", dnsAddr+"/32", "dev", "lo")
	e.ip("-n", e.ns(hostServer), "route", "add", "default", "via", "198.51.100.65")
	e.ip("-n", e.ns(hostLine1), "route", "add", "default", "via", "203.0.113.1")
	e.ip("-n", e.ns(hostLine2), "route", "add", "default", "via", "192.0.2.1")
	if out, err := exec.Command("ip", "netns", "exec", e.ns(hostInet), "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward").CombinedOutput(); err != nil {
		e.t.Fatalf("enable forwarding in inet: %v: %s", err, out)
	}
}

// setUpServer writes the registry and server.yaml and creates each agent's
// token, as an operator would (scripts/demo.sh).
func (e *env) setUpServer(ctx context.Context) {
	t := e.t
	dir := filepath.Join(e.dir, "server")
	must(t, os.MkdirAll(dir, 0o700))
	e.dbPath = filepath.Join(dir, "storefence.db")
	e.adminToken = filepath.Join(dir, "admin.token")
	e.serverCfg = filepath.Join(dir, "server.yaml")
	writeFile(t, e.adminToken, "e2e-admin-token-0123456789abcdef0123456789abcdef\n")
	writeFile(t, filepath.Join(dir, "stores.yaml"), `stores:
  - {id: shop-a, name: Shop A}
  - {id: shop-b, name: Shop B}
  - {id: shop-c, name: Shop C}
  - {id: shop-d, name: Shop D}
`)
	writeFile(t, e.serverCfg, fmt.Sprintf(`listen: "%s:8443"
database: %s
stores_file: %s
admin_token_file: %s
`, serverAddr, e.dbPath, filepath.Join(dir, "stores.yaml"), e.adminToken))
	for _, a := range e.agents {
		out, err := exec.CommandContext(ctx, e.sf, "token", "create", "--config", e.serverCfg, "--agent", a.id).Output()
		if err != nil {
			t.Fatalf("token create --agent %s: %v", a.id, err)
		}
		e.tokens[a.id] = filepath.Join(e.dir, "agents", a.id, "agent.token")
		must(t, os.MkdirAll(filepath.Dir(e.tokens[a.id]), 0o700))
		writeFile(t, e.tokens[a.id], string(out))
	}
}

// startServer starts the server in its namespace and waits until the
// agents' line can reach it and it has told "systemd" it is ready.
func (e *env) startServer(ctx context.Context) {
	e.t.Helper()
	e.serverStarts++
	e.serverNotify = listenNotify(e.t, filepath.Join(e.dir, fmt.Sprintf("notify-server-%d.sock", e.serverStarts)))
	env := []string{"NOTIFY_SOCKET=" + e.serverNotify.path, "WATCHDOG_USEC=" + strconv.Itoa(watchdogUsec)}
	e.server = e.start(hostServer, "server", env, e.sf, "server", "--config", e.serverCfg)
	err := eventually(ctx, 20*time.Second, 100*time.Millisecond, func() error {
		if !e.server.running() {
			return fmt.Errorf("server exited: %v\n%s", e.server.err, e.server.stderr.String())
		}
		if _, err := e.helper(ctx, hostLine2, "http", serverURL+"/readyz"); err != nil {
			return err
		}
		if e.serverNotify.count("READY=1") == 0 {
			return fmt.Errorf("server: no READY=1 on $NOTIFY_SOCKET (got %q)", e.serverNotify.String())
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// agentConfig writes agent.yaml of a declaring stores and returns its path.
// Only the publicip and network collectors run: the namespaces share one
// kernel, so the device (machine id, disks, host name) and sessions
// collectors would link every store of the lab, as they should on one real
// machine; their signals are covered by the unit tests.
func (e *env) agentConfig(a agentSpec, stores []string) string {
	dir := filepath.Join(e.dir, "agents", a.id)
	path := filepath.Join(dir, "agent.yaml")
	writeFile(e.t, path, fmt.Sprintf(`agent_id: %s
stores: [%s]
server: %s
token_file: %s
schedule: "@every %s"
spool_dir: %s
collectors: [publicip, network]
public_ip:
  timeout: 2s
  allow_private: false
  providers:
    - {name: echo-a,   kind: dns, server: "%s:53", query: "myip.opendns.com.",        type: A}
    - {name: echo-txt, kind: dns, server: "%s:53", query: "o-o.myaddr.l.google.com.", type: TXT}
  resolver_egress: {disabled: true}
`, a.id, strings.Join(stores, ", "), serverURL, e.tokens[a.id], tick, filepath.Join(dir, "spool"), dnsAddr, dnsAddr))
	return path
}

// wireReport is the part of storefence.report/v1 the test reads.
type wireReport struct {
	ID          string    `json:"id"`
	Agent       string    `json:"agent"`
	Stores      []string  `json:"stores"`
	CollectedAt time.Time `json:"collected_at"`
	PublicIP    *struct {
		V4       string `json:"v4"`
		Conflict bool   `json:"conflict"`
		Answers  []struct {
			Provider, IP, Error string
		} `json:"answers"`
	} `json:"public_ip"`
	Spool *struct {
		Queued  int64 `json:"queued"`
		Dropped int64 `json:"dropped"`
	} `json:"spool"`
}

// once runs `storefence agent --once` for a declaring stores, checks that
// it saw its line's egress address, and returns the report.
func (e *env) once(ctx context.Context, a agentSpec, stores []string) wireReport {
	e.t.Helper()
	out := e.run(ctx, a.host, nil, e.sf, "agent", "--once", "--config", e.agentConfig(a, stores), "--log-level", "warn")
	var r wireReport
	if err := json.Unmarshal(out, &r); err != nil {
		e.t.Fatalf("agent --once %s: not a report: %v\n%s", a.id, err, out)
	}
	if r.PublicIP == nil || r.PublicIP.V4 != a.egress || r.PublicIP.Conflict {
		e.t.Fatalf("agent %s: public_ip %+v, want v4 %s without conflict", a.id, r.PublicIP, a.egress)
	}
	return r
}

// auditDoc is the part of storefence.audit/v1 the test reads.
type auditDoc struct {
	Schema   string `json:"schema"`
	Findings []struct {
		Signal   string   `json:"signal"`
		Severity string   `json:"severity"`
		Value    string   `json:"value"`
		Stores   []string `json:"stores"`
		Exempted bool     `json:"exempted"`
	} `json:"findings"`
	Clusters []struct {
		Stores  []string `json:"stores"`
		Signals []string `json:"signals"`
	} `json:"clusters"`
	Warnings []struct {
		Kind   string `json:"kind"`
		Agent  string `json:"agent"`
		Store  string `json:"store"`
		Detail string `json:"detail"`
	} `json:"warnings"`
}

// audit asks the server for its audit with `storefence audit --server`,
// from the server's host.
func (e *env) audit(ctx context.Context) auditDoc {
	e.t.Helper()
	out := e.run(ctx, hostServer, nil, e.sf, "audit", "--server", serverURL, "--token-file", e.adminToken, "--format", "json", "--fail-on", "none")
	var a auditDoc
	if err := json.Unmarshal(out, &a); err != nil || a.Schema != "storefence.audit/v1" {
		e.t.Fatalf("audit --server: not storefence.audit/v1 (%v):\n%s", err, out)
	}
	return a
}

// findings summarises a's findings as "signal value severity" → stores.
func (a auditDoc) findings() map[string][]string {
	m := map[string][]string{}
	for _, f := range a.Findings {
		m[f.Signal+" "+f.Value+" "+f.Severity] = f.Stores
	}
	return m
}

// clusters lists a's clusters' store sets.
func (a auditDoc) clusters() [][]string {
	var out [][]string
	for _, c := range a.Clusters {
		out = append(out, c.Stores)
	}
	return out
}

// checkAudit compares the server's findings and clusters with want, and
// checks that nothing links the store that has a line of its own.
func (e *env) checkAudit(ctx context.Context, wantFindings map[string][]string, wantClusters [][]string) {
	e.t.Helper()
	a := e.audit(ctx)
	if diff := cmp.Diff(wantFindings, a.findings()); diff != "" {
		e.t.Errorf("findings (signal value severity → stores) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantClusters, a.clusters()); diff != "" {
		e.t.Errorf("clusters mismatch (-want +got):\n%s", diff)
	}
	for _, f := range a.Findings {
		if slices.Contains(f.Stores, "shop-c") {
			e.t.Errorf("finding %s %s involves shop-c, which has a machine and line of its own: %v", f.Signal, f.Value, f.Stores)
		}
	}
	for _, w := range a.Warnings {
		e.t.Logf("audit warning: %s %s%s %s", w.Kind, w.Agent, w.Store, w.Detail)
	}
}

// testFindings: two agents of different stores on one line share its
// egress address (public_ip); an agent moved from shop-b to shop-d links
// the two (same_machine) and brings shop-d onto the line; the store alone
// on its line is in no finding.
func (e *env) testFindings(ctx context.Context) {
	for _, a := range e.agents {
		e.once(ctx, a, a.stores)
	}
	e.checkAgentsAPI(ctx)
	e.checkAudit(ctx,
		map[string][]string{"public_ip " + line1Egress + " critical": {"shop-a", "shop-b"}},
		[][]string{{"shop-a", "shop-b"}})

	// The operator reassigns line1-b's machine from shop-b to shop-d.
	e.agents[1].stores = []string{"shop-d"}
	e.once(ctx, e.agents[1], e.agents[1].stores)
	e.checkAudit(ctx,
		map[string][]string{
			"public_ip " + line1Egress + " critical": {"shop-a", "shop-b", "shop-d"},
			"same_machine line1-b critical":          {"shop-b", "shop-d"},
		},
		[][]string{{"shop-a", "shop-b", "shop-d"}})
}

// checkAgentsAPI checks that the server attributes to each agent its
// line's address, and nothing else (GET /api/v1/agents).
func (e *env) checkAgentsAPI(ctx context.Context) {
	e.t.Helper()
	out, err := e.helper(ctx, hostServer, "http", serverURL+"/api/v1/agents", e.adminToken)
	if err != nil {
		e.t.Fatal(err)
	}
	var doc struct {
		Agents []struct {
			Agent    string   `json:"agent"`
			PublicIP []string `json:"public_ip"`
		} `json:"agents"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		e.t.Fatalf("GET /api/v1/agents: %v\n%s", err, out)
	}
	got, want := map[string][]string{}, map[string][]string{}
	for _, a := range doc.Agents {
		got[a.Agent] = a.PublicIP
	}
	for _, a := range e.agents {
		want[a.id] = []string{a.egress}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		e.t.Errorf("GET /api/v1/agents: egress addresses mismatch (-want +got):\n%s", diff)
	}
}

// storedReport is one row of the server's reports table.
type storedReport struct {
	id, agent               string
	collectedAt, receivedAt time.Time
	spool                   *struct{ Queued, Dropped int64 }
}

// storedReports reads every report the server stored, by agent, oldest
// first. The API has no report listing, so the test reads the SQLite file
// (WAL lets it beside the running server); the query knows the reports
// table of db/sqlite/migrations.
func (e *env) storedReports(ctx context.Context) (map[string][]storedReport, error) {
	d, err := sql.Open("sqlite", "file:"+e.dbPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	rows, err := d.QueryContext(ctx, "SELECT id, agent, collected_at, received_at, raw FROM reports ORDER BY collected_at")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]storedReport{}
	for rows.Next() {
		var r storedReport
		var collected, received int64
		var raw []byte
		if err := rows.Scan(&r.id, &r.agent, &collected, &received, &raw); err != nil {
			return nil, err
		}
		r.collectedAt, r.receivedAt = time.Unix(0, collected), time.Unix(0, received)
		var w wireReport
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, fmt.Errorf("report %s: %w", r.id, err)
		}
		if w.Spool != nil {
			r.spool = &struct{ Queued, Dropped int64 }{w.Spool.Queued, w.Spool.Dropped}
		}
		out[r.agent] = append(out[r.agent], r)
	}
	return out, rows.Err()
}

// since returns the reports of rs collected at or after t.
func since(rs []storedReport, t time.Time) []storedReport {
	i := sort.Search(len(rs), func(i int) bool { return !rs[i].collectedAt.Before(t) })
	return rs[i:]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o700))
	must(t, os.WriteFile(path, []byte(content), 0o600))
}
