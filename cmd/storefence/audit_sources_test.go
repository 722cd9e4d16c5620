//go:build !agentonly

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/sqlite"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

// TestAuditFromDatabaseMatchesFiles stores the example reports in a SQLite
// database the way the server does, and checks that `audit --db` prints
// what `audit --reports` prints.
func TestAuditFromDatabaseMatchesFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sf.db")
	d, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = report.ReadPaths([]string{"../../configs/examples/reports"}, func(r *report.Report) error {
		_, err := d.PutReport(context.Background(), &db.Ingest{Report: r, Raw: []byte("{}"), Observed: policy.Observe(r), ReceivedAt: time.Now()})
		return err
	})
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	common := []string{"audit", "--stores", "../../configs/examples/stores.yaml", "--secret-file", "../../configs/examples/secret",
		"--now", "2026-11-22T10:00:00Z", "--format", "json"}
	codeFiles, files, _ := runCmd(t, append(slices.Clone(common), "--reports", "../../configs/examples/reports")...)
	codeDB, fromDB, stderr := runCmd(t, append(slices.Clone(common), "--db", path)...)
	if codeDB != codeFiles || fromDB != files {
		t.Errorf("audit --db (exit %d, %s) differs from audit --reports (exit %d)", codeDB, stderr, codeFiles)
	}
	if code, _, stderr := runCmd(t, append(slices.Clone(common), "--db", path, "--reports", "x")...); code != 2 || !strings.Contains(stderr, "one of") {
		t.Errorf("--db with --reports: exit %d %q, want 2", code, stderr)
	}
}

// TestAuditFromServer renders what a server answers, and fails as the
// server says.
func TestAuditFromServer(t *testing.T) {
	_, body, _ := runCmd(t, append(slices.Clone(example), "--format", "json")...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "Bearer admin-secret-token":
			w.WriteHeader(401)
			w.Write([]byte(`{"error":"admin token required"}`))
		case r.URL.Path != "/api/v1/audit" || r.URL.Query().Get("now") != "2026-11-22T10:00:00Z":
			w.WriteHeader(400)
		default:
			w.Write([]byte(body))
		}
	}))
	defer srv.Close()
	tok := writeFile(t, "admin.token", "admin-secret-token\n")
	code, out, stderr := runCmd(t, "audit", "--server", srv.URL, "--token-file", tok, "--now", "2026-11-22T10:00:00Z", "--format", "json")
	if code != 1 || out != body {
		t.Errorf("audit --server: exit %d (%s); want 1 and the server's audit", code, stderr)
	}
	bad := writeFile(t, "bad.token", "nope")
	if code, _, stderr := runCmd(t, "audit", "--server", srv.URL, "--token-file", bad); code != 2 || !strings.Contains(stderr, "admin token required") {
		t.Errorf("audit --server with a bad token: exit %d %q", code, stderr)
	}
}
