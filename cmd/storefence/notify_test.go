//go:build !agentonly

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/storefence/storefence/config"
	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/notify/notifytest"
	"github.com/storefence/storefence/notify/webhook"
	"github.com/storefence/storefence/policy"
	"github.com/storefence/storefence/report"
	"github.com/storefence/storefence/server"
)

// fakeChannel is one configured channel and the fake that receives it.
type fakeChannel struct {
	name, kind string
	recv       *notifytest.Receiver
	yaml       string // the channel's keys after "- name: … kind: …"
	secrets    []string
}

// TestNotifyTest runs `storefence notify test` against a fake of every
// kind: each channel answers on its own line, each fake gets exactly one
// message; a vendor's refusal is a FAILED line and exit 1, with neither
// the webhook URL nor the token nor the secret in the output; --channel
// tests one channel, and an unknown one is a usage error.
func TestNotifyTest(t *testing.T) {
	const dingSecret, feishuSecret, hookSecret = "SECdingTalkSigningSecret0123456789", "feishuSigningSecret42", "webhookSigningSecret7"
	ding := notifytest.NewDingTalk(dingSecret, "storefence", nil)
	feishu := notifytest.NewFeishu(feishuSecret, "", nil)
	slack := notifytest.NewSlack()
	tg := notifytest.NewTelegram()
	hook := notifytest.NewWebhook(hookSecret, nil)
	wecom := notifytest.NewWeCom()
	discord := notifytest.NewDiscord()
	teams := notifytest.NewTeams()
	for _, c := range []interface{ Close() }{ding, feishu, slack, tg, hook, wecom, discord, teams} {
		t.Cleanup(c.Close)
	}
	file := func(name, s string) string { return fmt.Sprintf("%q", writeFile(t, name, s+"\n")) }
	chans := []fakeChannel{
		{"ding", "dingtalk", &ding.Receiver, "url_file: " + file("ding.url", ding.WebhookURL()) +
			", secret_file: " + file("ding.secret", dingSecret) + ", keyword: storefence",
			[]string{ding.WebhookURL(), notifytest.DingTalkToken, dingSecret}},
		{"lark", "feishu", &feishu.Receiver, fmt.Sprintf("url: %q, secret_file: %s", feishu.WebhookURL(), file("feishu.secret", feishuSecret)),
			[]string{feishu.WebhookURL(), notifytest.FeishuHook, feishuSecret}},
		{"slack", "slack", &slack.Receiver, fmt.Sprintf("url: %q", slack.WebhookURL()), []string{slack.WebhookURL(), notifytest.SlackPath}},
		{"tg", "telegram", &tg.Receiver, fmt.Sprintf("url_file: %s, chat_id: %q", file("tg.url", tg.BaseURL()), notifytest.TelegramChatID),
			[]string{tg.BaseURL(), notifytest.TelegramToken}},
		{"hook", "webhook", &hook.Receiver, fmt.Sprintf("url: %q, secret_file: %s", hook.WebhookURL(), file("hook.secret", hookSecret)),
			[]string{hook.WebhookURL(), hookSecret}},
		{"wecom", "wecom", &wecom.Receiver, fmt.Sprintf("url: %q", wecom.WebhookURL()), []string{wecom.WebhookURL(), notifytest.WeComKey}},
		{"discord", "discord", &discord.Receiver, "url_file: " + file("discord.url", discord.WebhookURL()),
			[]string{discord.WebhookURL(), notifytest.DiscordToken}},
		{"teams", "teams", &teams.Receiver, "url_file: " + file("teams.url", teams.WorkflowURL()),
			[]string{teams.WorkflowURL(), notifytest.TeamsSig}},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "database: %q\nstores_file: %q\nnotify:\n  language: en\n  channels:\n",
		filepath.Join(t.TempDir(), "sf.db"), filepath.Join(t.TempDir(), "stores.yaml"))
	for _, c := range chans {
		fmt.Fprintf(&b, "    - {name: %s, kind: %s, %s}\n", c.name, c.kind, c.yaml)
	}
	cfg := writeFile(t, "server.yaml", b.String())

	// resultLines maps each stdout line's channel to its kind and result.
	resultLines := func(out string) map[string]string {
		got := map[string]string{}
		for line := range strings.Lines(out) {
			f := strings.Fields(line)
			if len(f) < 3 {
				t.Errorf("stdout line %q: want channel, kind, result", line)
				continue
			}
			got[f[0]] = f[1] + " " + f[2]
		}
		return got
	}
	accepted := func() map[string]int {
		n := map[string]int{}
		for _, c := range chans {
			n[c.name] = len(c.recv.Accepted())
		}
		return n
	}
	noSecrets := func(out string) {
		t.Helper()
		for _, c := range chans {
			for _, s := range c.secrets {
				if strings.Contains(out, s) {
					t.Errorf("output holds a credential of %s (%q):\n%s", c.name, s, out)
				}
			}
		}
	}

	t.Run("every channel", func(t *testing.T) {
		code, out, stderr := runCmd(t, "notify", "test", "--config", cfg)
		if code != 0 {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
		}
		want := map[string]string{}
		for _, c := range chans {
			want[c.name] = c.kind + " ok"
		}
		if got := resultLines(out); !maps.Equal(got, want) {
			t.Errorf("results %v, want %v", got, want)
		}
		for name, n := range accepted() {
			if n != 1 {
				t.Errorf("%s accepted %d messages, want 1", name, n)
			}
		}
		for _, c := range chans {
			if why := c.recv.Rejected(); len(why) != 0 {
				t.Errorf("%s rejected: %q", c.name, why)
			}
		}
		if d := ding.Accepted(); len(d) == 1 && !strings.Contains(d[0].Text, "storefence") {
			t.Errorf("dingtalk text lacks the keyword: %q", d[0].Text)
		}
		noSecrets(out + stderr)
	})

	t.Run("a channel refuses", func(t *testing.T) {
		before := accepted()
		ding.Script(notifytest.Fault{Status: http.StatusOK, Header: map[string]string{"Content-Type": "application/json"},
			Body: `{"errcode":310000,"errmsg":"keywords not in content"}`})
		code, out, stderr := runCmd(t, "notify", "test", "--config", cfg)
		if code != 1 {
			t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
		}
		got := resultLines(out)
		for _, c := range chans {
			want := c.kind + " ok"
			if c.name == "ding" {
				want = "dingtalk FAILED"
			}
			if got[c.name] != want {
				t.Errorf("%s: %q, want %q", c.name, got[c.name], want)
			}
		}
		if !strings.Contains(out, "310000") {
			t.Errorf("the failure does not say DingTalk's errcode:\n%s", out)
		}
		after := accepted()
		for name, n := range after {
			if want := before[name] + 1; name != "ding" && n != want {
				t.Errorf("%s accepted %d in all, want %d", name, n, want)
			}
		}
		if after["ding"] != before["ding"] {
			t.Errorf("dingtalk accepted a message it refused")
		}
		noSecrets(out + stderr)
	})

	t.Run("a channel is unreachable", func(t *testing.T) {
		gone := notifytest.NewSlack()
		url := gone.WebhookURL()
		gone.Close()
		cfg := writeFile(t, "gone.yaml", fmt.Sprintf("database: %q\nstores_file: stores.yaml\nnotify:\n  language: en\n  channels:\n    - {name: gone, kind: slack, url: %q}\n",
			filepath.Join(t.TempDir(), "sf.db"), url))
		code, out, stderr := runCmd(t, "notify", "test", "--config", cfg)
		if got := resultLines(out); code != 1 || got["gone"] != "slack FAILED" {
			t.Errorf("exit %d, results %v; want 1 and gone FAILED\nstderr:\n%s", code, got, stderr)
		}
		// net/http's errors quote the URL; the integration must not.
		if strings.Contains(out+stderr, notifytest.SlackPath) || strings.Contains(out+stderr, "slackFakeSecret") {
			t.Errorf("the failure holds the webhook's credential:\n%s%s", out, stderr)
		}
	})

	t.Run("one channel", func(t *testing.T) {
		before := accepted()
		code, out, stderr := runCmd(t, "notify", "test", "--channel", "tg", "--config", cfg)
		if code != 0 {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
		}
		if got, want := resultLines(out), map[string]string{"tg": "telegram ok"}; !maps.Equal(got, want) {
			t.Errorf("results %v, want %v", got, want)
		}
		for name, n := range accepted() {
			want := before[name]
			if name == "tg" {
				want++
			}
			if n != want {
				t.Errorf("%s accepted %d in all, want %d", name, n, want)
			}
		}
	})

	t.Run("unknown channel", func(t *testing.T) {
		before := accepted()
		code, out, stderr := runCmd(t, "notify", "test", "--channel", "nope", "--config", cfg)
		if code != 2 || out != "" || !strings.Contains(stderr, `"nope"`) {
			t.Errorf("exit %d, stdout %q, stderr %q; want 2 naming the channel", code, out, stderr)
		}
		if got := accepted(); !maps.Equal(got, before) {
			t.Errorf("sent to %v, want nothing", got)
		}
	})
}

// evalRecorder records the audits of the server's evaluations, after the
// dispatcher has taken each.
type evalRecorder struct {
	mu     sync.Mutex
	audits []*policy.Audit
}

func (r *evalRecorder) add(a *policy.Audit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.audits = append(r.audits, a)
}

func (r *evalRecorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.audits)
}

// waitAfter waits until an evaluation after the first n satisfies ok
// (nil: any) and returns it.
func (r *evalRecorder) waitAfter(t *testing.T, n int, what string, ok func(*policy.Audit) bool) *policy.Audit {
	t.Helper()
	var found *policy.Audit
	poll(t, 20*time.Second, what, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, a := range r.audits[min(n, len(r.audits)):] {
			if ok == nil || ok(a) {
				found = a
				return true
			}
		}
		return false
	})
	return found
}

// poll checks cond every 10 ms until it holds, failing the test after
// limit.
func poll(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// publicIPFinding returns a's public_ip finding, nil if none.
func publicIPFinding(a *policy.Audit) *policy.Finding {
	for i := range a.Findings {
		if a.Findings[i].Signal == policy.PublicIP {
			return &a.Findings[i]
		}
	}
	return nil
}

// TestServerNotifiesOnce runs the server as runServer wires it, on
// loopback, with a webhook channel to a fake receiver. Two agents of two
// stores report one public IP: the server's evaluator finds it and the
// receiver gets one message naming both stores; more evaluations send
// nothing more. An exemption (reloaded as on SIGHUP) resolves the finding:
// one more message, a resolved one. `storefence ack` mutes the finding:
// when the exemption goes and it opens again, nothing is sent.
func TestServerNotifiesOnce(t *testing.T) {
	dir := t.TempDir()
	const hookSecret = "serverWebhookSecret0123"
	recv := notifytest.NewWebhook(hookSecret, nil)
	t.Cleanup(recv.Close)
	storesPath := filepath.Join(dir, "stores.yaml")
	stores := "stores:\n  - id: shop-a\n  - id: shop-b\n"
	exempt := stores + "exemptions:\n  - stores: [shop-a, shop-b]\n    signals: [public_ip]\n    reason: one office line until the second line is installed\n"
	if err := os.WriteFile(storesPath, []byte(stores), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := writeFile(t, "server.yaml", fmt.Sprintf(`listen: 127.0.0.1:0
database: %q
stores_file: %q
evaluate: "0 0 1 1 *" # yearly: only ingests and reloads evaluate in this test
notify:
  language: en
  channels:
    - name: ops
      kind: webhook
      url_file: %q
      secret_file: %q
`, filepath.Join(dir, "sf.db"), storesPath, writeFile(t, "hook.url", recv.WebhookURL()+"\n"), writeFile(t, "hook.secret", hookSecret+"\n")))

	// As runServer does, with a recorder of the evaluations around the
	// dispatcher's hook.
	ctx, cancel := context.WithCancel(context.Background())
	cfg, err := config.LoadServer(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := openDB(ctx, cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	reg := prometheus.NewRegistry()
	disp, err := newDispatcher(cfg, d, zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	evals := new(evalRecorder)
	srv, err := server.New(server.Options{Config: cfg, DB: d, Load: inputsLoader(cfg), Log: zerolog.Nop(), Reg: reg,
		OnEvaluate: func(ctx context.Context, a *policy.Audit, asOf time.Time) bool {
			stale := disp.OnEvaluate(ctx, a, asOf)
			evals.add(a)
			return stale
		}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); disp.Run(ctx) }()
	addrc := make(chan string, 1)
	go func() {
		defer wg.Done()
		if err := srv.Run(ctx, func(addr string) { addrc <- addr }); err != nil {
			t.Errorf("server: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not start")
	}

	// Two agents, two stores, one public IP.
	for i, a := range []struct{ agent, store string }{{"vps-a", "shop-a"}, {"vps-b", "shop-b"}} {
		tok, id, err := server.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.CreateToken(ctx, db.Token{ID: id, Agent: a.agent, CreatedAt: time.Now()}, server.HashToken(tok)); err != nil {
			t.Fatal(err)
		}
		r := &report.Report{Schema: report.Schema, ID: fmt.Sprintf("r%d", i), Agent: a.agent, Stores: []string{a.store},
			CollectedAt: time.Now().Add(-time.Minute), PublicIP: &report.PublicIP{V4: "203.0.113.7"}}
		postReport(t, addr, tok, r)
	}
	a := evals.waitAfter(t, 0, "an evaluation finding the shared IP", func(a *policy.Audit) bool { return publicIPFinding(a) != nil })
	f := publicIPFinding(a)
	if !slices.Equal(f.Stores, []string{"shop-a", "shop-b"}) {
		t.Fatalf("finding %+v, want shop-a and shop-b", f)
	}
	poll(t, 20*time.Second, "the first message", func() bool { return len(recv.Accepted()) >= 1 })
	first := recv.Accepted()[0]
	for _, s := range []string{"OPENED", "shop-a", "shop-b", f.ID} {
		if !strings.Contains(first.Text, s) {
			t.Errorf("the message lacks %q:\n%s", s, first.Text)
		}
	}
	outbox := func() int {
		t.Helper()
		ms, err := d.OutboxMessages(ctx, "", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(ms)
	}

	// Evaluating again (a reload, then by hand as the API's audit does)
	// queues nothing: the dispatcher queues synchronously in the hook.
	n := evals.len()
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	evals.waitAfter(t, n, "an evaluation after the reload", nil)
	again, err := srv.Evaluate(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	disp.OnEvaluate(ctx, again, time.Now())
	if got := outbox(); got != 1 {
		t.Errorf("%d messages queued after evaluating again, want still 1", got)
	}

	// The exemption resolves the finding: one more message, green.
	if err := os.WriteFile(storesPath, []byte(exempt), 0o600); err != nil {
		t.Fatal(err)
	}
	n = evals.len()
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	evals.waitAfter(t, n, "an evaluation with the exemption", func(a *policy.Audit) bool {
		f := publicIPFinding(a)
		return f != nil && f.Exempted
	})
	poll(t, 20*time.Second, "the resolved message", func() bool { return len(recv.Accepted()) >= 2 })
	var resolved struct {
		Kind     string `json:"kind"`
		Resolved bool   `json:"resolved"`
		Title    string `json:"title"`
	}
	if err := json.Unmarshal(recv.Accepted()[1].Body, &resolved); err != nil {
		t.Fatal(err)
	}
	if !resolved.Resolved || !strings.Contains(resolved.Title, "RESOLVED") {
		t.Errorf("second message %+v, want a resolved one", resolved)
	}

	// storefence ack, then the exemption goes: the finding opens again,
	// muted.
	code, out, stderr := runCmd(t, "ack", f.ID, "--for", "1h", "--reason", "x", "--by", "ops", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, f.ID) {
		t.Fatalf("ack: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	code, out, stderr = runCmd(t, "ack", "--list", "--config", cfgPath)
	if code != 0 || !strings.HasPrefix(out, f.ID+"\t") || !strings.Contains(out, "by ops\tx") {
		t.Errorf("ack --list: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if err := os.WriteFile(storesPath, []byte(stores), 0o600); err != nil {
		t.Fatal(err)
	}
	n = evals.len()
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	evals.waitAfter(t, n, "an evaluation without the exemption", func(a *policy.Audit) bool {
		f := publicIPFinding(a)
		return f != nil && !f.Exempted
	})
	if got := outbox(); got != 2 {
		t.Errorf("%d messages queued for an acked finding opening again, want still 2", got)
	}

	// Every delivery was accepted once, each under its own id.
	ids := map[string]bool{}
	for _, dl := range recv.Accepted() {
		ids[dl.Header.Get(webhook.HeaderDelivery)] = true
	}
	if got := recv.Accepted(); len(got) != 2 || len(ids) != 2 || recv.Repeats() != 0 || len(recv.Rejected()) != 0 {
		t.Errorf("receiver: %d accepted, %d ids, %d repeats, rejected %q; want 2, 2, 0, none",
			len(got), len(ids), recv.Repeats(), recv.Rejected())
	}
}

// postReport sends r as an agent with token and expects it accepted.
func postReport(t *testing.T, addr, token string, r *report.Report) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/reports", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		t.Fatalf("report %s: status %d", r.ID, resp.StatusCode)
	}
}
