package wecom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/notify/notifytest"
	"github.com/storefence/storefence/notify/wecom"
)

func TestNew(t *testing.T) {
	const key = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
	tests := []struct {
		url, secret string
		wantErr     string
	}{
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key, "", ""},
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key, "SECsecretsecret", "wecom: a signing secret is set, but group robots do not sign"},
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "", "wecom: webhook url has no key"},
		{"qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key, "", "wecom: webhook url is not an absolute http(s) url"},
		{"https://[::1/cgi-bin/webhook/send?key=" + key, "", "wecom: webhook url does not parse"},
	}
	for _, tt := range tests {
		_, err := wecom.New(notify.Target{URL: tt.url, Secret: tt.secret}, nil, nil)
		got := ""
		if err != nil {
			got = err.Error()
			notifytest.NoSecrets(t, err, tt.url, key, tt.secret)
		}
		if got != tt.wantErr {
			t.Errorf("New(%q) error = %q, want %q", tt.url, got, tt.wantErr)
		}
	}
}

func alert() *notify.Message {
	return &notify.Message{
		ID: "m1", Kind: "alert", Language: "en", Severity: "high",
		Title: "Store isolation alert",
		Sections: []notify.Section{{
			Title:  "Shared IP",
			Fields: []notify.Field{{Name: "Stores", Value: "A, B"}, {Name: "IP", Value: "203.0.113.7"}},
			Text:   "Give each store its own line.",
		}},
		Footer: "storefence · 2026-03-01 10:00",
	}
}

func alertZH() *notify.Message {
	return &notify.Message{
		ID: "m2", Kind: "alert", Language: "zh-CN", Severity: "medium",
		Title: "店铺隔离告警",
		Sections: []notify.Section{{
			Title:  "共享公网 IP",
			Fields: []notify.Field{{Name: "店铺", Value: "<@all> 甲店、乙店"}},
			Text:   "请为每家店铺使用独立线路。",
		}},
		Footer: "storefence · 2026-03-01 10:00",
	}
}

func TestNotify(t *testing.T) {
	tests := []struct {
		name       string
		badKey     bool
		script     []notifytest.Fault
		msg        *notify.Message
		wantErr    bool
		wantRetry  bool
		wantAfter  time.Duration
		wantReject []string
		wantText   string
	}{
		{
			name: "en",
			msg:  alert(),
			wantText: "### <font color=\"warning\">Store isolation alert</font>\n\n" +
				"**Shared IP**\n**Stores**: A, B\n**IP**: 203.0.113.7\nGive each store its own line.\n\n" +
				"<font color=\"comment\">storefence · 2026-03-01 10:00</font>",
		},
		{
			name: "zh-CN, markup in a value",
			msg:  alertZH(),
			wantText: "### 店铺隔离告警\n\n" +
				"**共享公网 IP**\n**店铺**: ＜@all＞ 甲店、乙店\n请为每家店铺使用独立线路。\n\n" +
				"<font color=\"comment\">storefence · 2026-03-01 10:00</font>",
		},
		{
			name:     "resolved",
			msg:      &notify.Message{Title: "All clear", Resolved: true, Severity: "critical"},
			wantText: "### <font color=\"info\">All clear</font>",
		},
		{
			name:       "unknown key",
			badKey:     true,
			msg:        alert(),
			wantErr:    true,
			wantReject: []string{"unknown key"},
		},
		{
			name:      "rate limited 45009",
			script:    []notifytest.Fault{{Body: `{"errcode":45009,"errmsg":"api freq out of limit, hint: [1700000000], more info at https://open.work.weixin.qq.com/devtool/query?e=45009"}`}},
			msg:       alert(),
			wantErr:   true,
			wantRetry: true, wantAfter: time.Minute,
		},
		{
			name:      "503 with Retry-After",
			script:    []notifytest.Fault{{Status: 503, Header: map[string]string{"Retry-After": "7"}, Body: "busy"}},
			msg:       alert(),
			wantErr:   true,
			wantRetry: true, wantAfter: 7 * time.Second,
		},
		{
			name:      "429 with Retry-After",
			script:    []notifytest.Fault{{Status: 429, Header: map[string]string{"Retry-After": "30"}}},
			msg:       alert(),
			wantErr:   true,
			wantRetry: true, wantAfter: 30 * time.Second,
		},
		{
			name:    "an answer that echoes the key",
			script:  []notifytest.Fault{{Body: `{"errcode":93000,"errmsg":"invalid webhook url ` + notifytest.WeComKey + `"}`}},
			msg:     alert(),
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := notifytest.NewWeCom()
			defer w.Close()
			w.Script(tt.script...)
			webhook := w.WebhookURL()
			if tt.badKey {
				webhook = w.URL() + "/cgi-bin/webhook/send?key=ffffffff-ffff-ffff-ffff-ffffffffffff"
			}
			n, err := wecom.New(notify.Target{Name: "ops", URL: webhook}, w.Server.Client(), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = n.Notify(context.Background(), tt.msg)
			want := notifytest.Outcome{Err: tt.wantErr, Retry: tt.wantRetry, After: tt.wantAfter, Rejected: tt.wantReject}
			got := notifytest.CheckOutcome(t, &w.Receiver, "wecom", err, want, webhook, w.Key, "ffffffff-ffff-ffff-ffff-ffffffffffff")
			if got == nil {
				return
			}
			if diff := cmp.Diff(tt.wantText, got.Text); diff != "" {
				t.Errorf("text mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotifyUnreachable(t *testing.T) {
	w := notifytest.NewWeCom()
	webhook := w.WebhookURL()
	w.Close()
	n, err := wecom.New(notify.Target{URL: webhook}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), alert())
	notifytest.WantError(t, err, "wecom", true, 0)
	notifytest.NoSecrets(t, err, webhook, notifytest.WeComKey)
}

// TestTruncation sends messages far over MaxMarkdown, in English and
// Chinese: each is cut to MaxMarkdown bytes at a rune boundary, keeps its
// markup balanced and its footer, and is accepted.
func TestTruncation(t *testing.T) {
	big := func(lang, unit string, sections int) *notify.Message {
		m := &notify.Message{Language: lang, Severity: "critical", Title: "Huge " + lang, Footer: "footer · 页脚"}
		for range sections {
			m.Sections = append(m.Sections, notify.Section{
				Title:  strings.Repeat(unit, 3),
				Fields: []notify.Field{{Name: "n*" + unit, Value: strings.Repeat(unit, 20)}},
				Text:   strings.Repeat(unit+"\n# ", 10),
			})
		}
		return m
	}
	tests := []struct {
		name string
		msg  *notify.Message
	}{
		{"en, many sections", big("en", "a*b_c[d]e<f>`g", 200)},
		{"zh-CN, many sections", big("zh-CN", "店铺隔离告警<甲>", 200)},
		{"one huge zh-CN value", &notify.Message{Title: "标题", Footer: "页脚", Sections: []notify.Section{{Fields: []notify.Field{{Name: "店铺", Value: strings.Repeat("中文<*>", 3000)}}}}}},
		{"huge title", &notify.Message{Severity: "high", Title: strings.Repeat("标题*", 3000), Footer: "页脚"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := notifytest.NewWeCom()
			defer w.Close()
			n, err := wecom.New(notify.Target{URL: w.WebhookURL()}, w.Server.Client(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Notify(context.Background(), tt.msg); err != nil {
				t.Fatalf("Notify: %v (rejected: %q)", err, w.Rejected())
			}
			acc := w.Accepted()
			if len(acc) != 1 {
				t.Fatalf("accepted %d, want 1", len(acc))
			}
			text := acc[0].Text
			if len(text) > wecom.MaxMarkdown {
				t.Errorf("text is %d bytes, over %d", len(text), wecom.MaxMarkdown)
			}
			if !utf8.ValidString(text) {
				t.Errorf("text is not valid UTF-8")
			}
			if !strings.Contains(text, "…") {
				t.Errorf("text does not show it was cut")
			}
			if open, shut := strings.Count(text, "<font"), strings.Count(text, "</font>"); open != shut || strings.Count(text, "<") != open+shut {
				t.Errorf("unbalanced or stray markup: %d <font, %d </font>, %d <", open, shut, strings.Count(text, "<"))
			}
			if !strings.HasSuffix(text, "<font color=\"comment\">"+tt.msg.Footer+"</font>") {
				t.Errorf("text lost its footer: ...%q", text[max(0, len(text)-80):])
			}
		})
	}
}

// TestReceiverLimit checks the fake: a markdown content one byte over the
// limit is rejected with WeCom's 40058, and the notifier's classification
// of that answer is permanent.
func TestReceiverLimit(t *testing.T) {
	w := notifytest.NewWeCom()
	defer w.Close()
	for _, n := range []int{wecom.MaxMarkdown, wecom.MaxMarkdown + 1} {
		body, _ := json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": strings.Repeat("x", n)}})
		resp, err := w.Server.Client().Post(w.WebhookURL(), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var a struct{ ErrCode int }
		json.NewDecoder(resp.Body).Decode(&a)
		resp.Body.Close()
		want := 0
		if n > wecom.MaxMarkdown {
			want = 40058
		}
		if resp.StatusCode != http.StatusOK || a.ErrCode != want {
			t.Errorf("%d bytes: HTTP %d errcode %d, want HTTP 200 errcode %d", n, resp.StatusCode, a.ErrCode, want)
		}
	}
}
