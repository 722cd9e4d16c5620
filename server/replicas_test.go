package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/sqlite"
	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/notify/dispatch"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
)

type replica struct {
	srv  *Server
	disp *dispatch.Dispatcher
	http *httptest.Server
}

// TestReplicasDoNotFlap: two replicas share one database (as with
// PostgreSQL); the agents' reports reach replica A only, so B's in-memory
// history lacks them until its next re-read. Both evaluate as their
// evaluators do; B must not resolve what A just opened (and A then open it
// again): one message, not one per round.
func TestReplicasDoNotFlap(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	dir := t.TempDir()
	path := filepath.Join(dir, "sf.db")
	ctx := context.Background()
	cfg := config.DefaultServer()
	cfg.AdminTokenFile = filepath.Join(dir, "admin.token")
	os.WriteFile(cfg.AdminTokenFile, []byte(adminTok+"\n"), 0o600)
	load := func() (*Inputs, error) {
		return &Inputs{Registry: &policy.Input{Stores: []policy.Store{{ID: "shop-a", Status: "active"}, {ID: "shop-b", Status: "active"}}}, Policy: policy.Default()}, nil
	}
	recv := notify.NotifierFunc(func(context.Context, *notify.Message) error { return nil })
	var reps []*replica
	var d0 db.DB
	for i := range 2 {
		d, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if i == 0 {
			d0 = d
		}
		disp, err := dispatch.New(dispatch.Options{DB: d, Channels: []dispatch.Channel{{Name: "c", Kind: "webhook", Language: "en", Notifier: recv}},
			Log: zerolog.Nop(), Owner: fmt.Sprintf("r%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := New(Options{Config: &cfg, DB: d, Load: load, Log: zerolog.Nop(), OnEvaluate: disp.OnEvaluate})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.refreshHistory(ctx, 0); err != nil { // as Run does
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		reps = append(reps, &replica{srv, disp, hs})
	}
	tokens := map[string]string{}
	for _, a := range []string{"vps-1", "vps-2"} {
		tok, id, _ := NewToken()
		if err := d0.CreateToken(ctx, db.Token{ID: id, Agent: a, CreatedAt: now}, HashToken(tok)); err != nil {
			t.Fatal(err)
		}
		tokens[a] = tok
	}
	post := func(r *replica, agent, store string) {
		rp := &report.Report{Schema: report.Schema, ID: agent + "-1", Agent: agent, Stores: []string{store}, CollectedAt: now.Add(-time.Minute),
			PublicIP: &report.PublicIP{V4: "203.0.113.5"}}
		b, _ := json.Marshal(rp)
		req, _ := http.NewRequest("POST", r.http.URL+"/api/v1/reports", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tokens[agent])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("post: %d", resp.StatusCode)
		}
	}
	post(reps[0], "vps-1", "shop-a")
	post(reps[0], "vps-2", "shop-b")

	// What each replica's evaluator does every minute (and ≤2 s after each of its ingests).
	for range 3 {
		for _, r := range reps {
			r.srv.evaluateOnce(ctx, nil)
		}
	}
	ms, err := d0.OutboxMessages(ctx, "c", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, m := range ms {
		var nm notify.Message
		json.Unmarshal(m.Payload, &nm)
		titles = append(titles, nm.Title)
	}
	if len(ms) != 1 {
		t.Errorf("queued %q for one new link; want one opening", titles)
	}
}
