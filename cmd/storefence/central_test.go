//go:build !agentonly

package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/storefence/storefence/policy"
)

// TestAuditExample pins what a seller must learn from the example team: every
// deliberate mistake, and nothing else at high or above.
func TestAuditExample(t *testing.T) {
	code, out, stderr := runCmd(t, append(example, "--format", "json")...)
	if code != 1 {
		t.Fatalf("audit exit %d, want 1 (findings); stderr:\n%s", code, stderr)
	}
	var a policy.Audit
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range a.Findings {
		if f.Severity >= policy.High || f.Exempted {
			got = append(got, fmt.Sprintf("%s %s %v exempt=%v", f.Severity, f.Signal, f.Stores, f.Exempted))
		}
	}
	want := []string{
		"critical host_id [shop-ca shop-mx] exempt=false",         // cloned VM image
		"critical host_id [shop-de shop-uk] exempt=false",         // VPS reassigned
		"critical public_ip [shop-au shop-jp] exempt=false",       // one office line
		"critical public_ip [shop-de shop-uk] exempt=false",       // VPS reassigned
		"critical reg.email [shop-au shop-jp] exempt=false",       // one Gmail box, two spellings
		"critical reg.legal_name [shop-de shop-uk] exempt=true",   // approved
		"critical reg.phone [shop-ca shop-us] exempt=false",       // one phone, two spellings
		"critical same_machine [shop-de shop-uk] exempt=false",    // VPS reassigned
		"critical session_origin [shop-mx shop-old] exempt=false", // raised: shop-old is closed
		"high gateway_mac [shop-au shop-jp] exempt=false",         // one office router
	}
	if d := strings.Join(got, "\n"); d != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", d, strings.Join(want, "\n"))
	}
	if len(a.Clusters) != 3 || len(a.Clusters[0].Stores) != 4 {
		t.Errorf("want 3 clusters, the first of 4 stores; got %+v", a.Clusters)
	}
	if strings.Contains(out, "13800138000") || strings.Contains(out, "Ops.Team") || strings.Contains(out, "4111") {
		t.Errorf("raw registration values in the audit output")
	}
}

func TestAuditExitCodes(t *testing.T) {
	badReport := writeFile(t, "r.jsonl", `{"schema":"storefence.report/v1","id":"1","agent":"a","stores":["s"],"collected_at":"2026-11-22T10:00:00Z"}`+"\n"+`{"schema":"nope"}`+"\n")
	badStores := writeFile(t, "stores.yaml", "stores:\n  - id: a\n  - id: a\n")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"fail-on none", append(slices.Clone(example), "--fail-on", "none"), 0, ""},
		{"fail-on critical", append(slices.Clone(example), "--fail-on", "critical"), 1, ""},
		{"every format", append(slices.Clone(example), "--format", "markdown"), 1, ""},
		{"bad report names file and line", []string{"audit", "--reports", badReport}, 2, badReport + ":2: schema:"},
		{"bad registry names file and line", []string{"audit", "--stores", badStores}, 2, badStores + ":3: stores[1].id"},
		{"raw values need the secret", []string{"audit", "--stores", "../../configs/examples/stores.yaml", "--secret-file", ""}, 2, "need the digest key"},
		{"bad fail-on", append(slices.Clone(example), "--fail-on", "worst"), 2, "--fail-on"},
		{"bad now", append(slices.Clone(example), "--now", "yesterday"), 2, "--now"},
		{"nothing to audit", []string{"audit"}, 2, "nothing to audit"},
		{"unknown format", append(slices.Clone(example), "--format", "pdf"), 2, "--format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("STOREFENCE_SECRET_FILE", "")
			code, _, stderr := runCmd(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.stderr)
			}
		})
	}
}

func TestAuditOutputFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "audit.html")
	code, out, _ := runCmd(t, append(slices.Clone(example), "--format", "html", "--output", p)...)
	if code != 1 || out != "" {
		t.Errorf("exit %d with %d bytes on stdout; want 1 and nothing", code, len(out))
	}
	if html := readFile(t, p); !strings.HasPrefix(html, "<!DOCTYPE html>") || !strings.Contains(html, "<svg") {
		t.Errorf("%s is not the HTML audit", p)
	}
}

func TestHashMatchesTheRegistry(t *testing.T) {
	code, out, stderr := runCmd(t, "hash", "--field", "phone", "--region", "CN", "--secret-file", "../../configs/examples/secret", "0086 138-0013-8000")
	if code != 0 {
		t.Fatalf("hash exit %d: %s", code, stderr)
	}
	digest := strings.TrimSpace(out)
	if !strings.HasPrefix(digest, "hmac:") || len(digest) != 69 {
		t.Fatalf("hash printed %q", out)
	}
	// A registry that holds only that digest matches shop-us's raw phone.
	reg := writeFile(t, "stores.yaml", strings.Replace(readFile(t, "../../configs/examples/stores.yaml"),
		`phones: ["0086 13800138000"]`, `phones: ["`+digest+`"]`, 1))
	_, aout, _ := runCmd(t, "audit", "--stores", reg, "--secret-file", "../../configs/examples/secret", "--format", "json", "--now", "2026-11-22T10:00:00Z")
	if !strings.Contains(aout, `"signal": "reg.phone"`) {
		t.Errorf("the digest from hash does not match the raw phone in an audit")
	}
	for _, args := range [][]string{
		{"hash", "--field", "phone", "12"},
		{"hash", "--field", "shoe_size", "--secret-file", "../../configs/examples/secret", "42"},
		{"hash", "--field", "card", "--secret-file", "../../configs/examples/secret", "4111 1111 1111 1112"},
	} {
		t.Setenv("STOREFENCE_SECRET_FILE", "")
		if code, _, stderr := runCmd(t, args...); code != 2 || strings.Contains(stderr, "1112") {
			t.Errorf("%v: exit %d, stderr %q; want 2 without the value", args, code, stderr)
		}
	}
}

func TestHelpCentral(t *testing.T) {
	if code, out, _ := runCmd(t, "help"); code != 0 || !strings.Contains(out, "audit") || !strings.Contains(out, "notify") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	if code, out, _ := runCmd(t, "help", "audit"); code != 0 || !strings.Contains(out, "--fail-on") {
		t.Errorf("help audit: exit %d\n%s", code, out)
	}
}
