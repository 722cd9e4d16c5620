package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func loadAudit(t *testing.T) *policy.Audit {
	t.Helper()
	data, err := os.ReadFile("testdata/audit.json")
	if err != nil {
		t.Fatal(err)
	}
	var a policy.Audit
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatal(err)
	}
	return &a
}

func TestGolden(t *testing.T) {
	a := loadAudit(t)
	for _, tt := range []struct {
		format, file string
		opt          Options
	}{
		{"table", "audit.golden.txt", Options{}},
		{"table", "audit.color.golden.txt", Options{Color: true}},
		{"markdown", "audit.golden.md", Options{}},
		{"html", "audit.golden.html", Options{}},
		{"json", "audit.golden.json", Options{}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := Write(&b, tt.format, a, tt.opt); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update once)", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("%s output differs from %s (-want +got):\n%s", tt.format, path, diff)
			}
		})
	}
}

func TestTableFitsEightyColumns(t *testing.T) {
	var b bytes.Buffer
	if err := Table(&b, loadAudit(t), Options{}); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(b.String(), "\n") {
		if n := utf8.RuneCountInString(line); n > width {
			t.Errorf("line %d has %d columns: %q", i+1, n, line)
		}
	}
	if strings.Contains(b.String(), "\x1b[") {
		t.Errorf("colour codes without Options.Color")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	a := loadAudit(t)
	var b bytes.Buffer
	if err := JSON(&b, a); err != nil {
		t.Fatal(err)
	}
	var back policy.Audit
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, &back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}

func TestEmptyAuditJSONHasLists(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, &policy.Audit{Schema: policy.AuditSchema}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"findings": []`, `"clusters": []`, `"warnings": []`} {
		if !strings.Contains(b.String(), k) {
			t.Errorf("empty audit JSON lacks %s:\n%s", k, b.String())
		}
	}
}

func TestHTMLIsSelfContainedAndEscaped(t *testing.T) {
	a := loadAudit(t)
	a.Warnings = append(a.Warnings, policy.Warning{Kind: "collector_error", Agent: "x", Detail: `<script>alert(1)</script>`})
	var b bytes.Buffer
	if err := HTML(&b, a); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"<script>", "http://", "https://", "<link", "@import"} {
		if strings.Contains(out, bad) {
			t.Errorf("HTML contains %q: must be self-contained and escaped", bad)
		}
	}
	if got := strings.Count(out, "<svg"); got != len(a.Clusters) {
		t.Errorf("%d SVG graphs for %d clusters", got, len(a.Clusters))
	}
}

func TestUnknownFormat(t *testing.T) {
	if err := Write(&bytes.Buffer{}, "pdf", &policy.Audit{}, Options{}); err == nil {
		t.Error("Write accepted an unknown format")
	}
}
