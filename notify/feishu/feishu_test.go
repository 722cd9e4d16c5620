package feishu_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/notify/feishu"
	"github.com/storefence/storefence/notify/notifytest"
)

var t0 = time.Unix(1700000000, 0)

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestSign(t *testing.T) {
	tests := []struct {
		secret string
		ts     time.Time
		want   string
	}{
		{"demo", time.Unix(100, 0), "jquNHnVOwmDRfw+vqTIrY5dooJAgi5EcRtLsQE4wfXg="},
		{"testsecret", time.Unix(1700000000, 0), "AOc8oJ7//5OlQlfWC3nRL0R+IkuzcD1FKcAyibRK9Q8="},
		{"testsecret", time.Unix(1700000000, 999999999), "AOc8oJ7//5OlQlfWC3nRL0R+IkuzcD1FKcAyibRK9Q8="}, // seconds only
	}
	for _, tt := range tests {
		if got := feishu.Sign(tt.secret, tt.ts); got != tt.want {
			t.Errorf("Sign(%q, %d) = %q, want %q", tt.secret, tt.ts.Unix(), got, tt.want)
		}
	}
}

func TestNew(t *testing.T) {
	const hook = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
	tests := []struct {
		url     string
		wantErr string
	}{
		{"https://open.feishu.cn/open-apis/bot/v2/hook/" + hook, ""},
		{"https://open.larksuite.com/open-apis/bot/v2/hook/" + hook, ""},
		{"https://open.feishu.cn/open-apis/bot/v2/hook/", "feishu: webhook url is not a custom bot's (/open-apis/bot/v2/hook/<id>)"},
		{"https://open.feishu.cn/open-apis/bot/v2/hook/" + hook + "/x", "feishu: webhook url is not a custom bot's (/open-apis/bot/v2/hook/<id>)"},
		{"https://open.feishu.cn/" + hook, "feishu: webhook url is not a custom bot's (/open-apis/bot/v2/hook/<id>)"},
		{"open.feishu.cn/open-apis/bot/v2/hook/" + hook, "feishu: webhook url is not an absolute http(s) url"},
		{"https://[::1/open-apis/bot/v2/hook/" + hook, "feishu: webhook url does not parse"},
	}
	for _, tt := range tests {
		_, err := feishu.New(notify.Target{URL: tt.url, Secret: "feishusecret"}, nil, nil)
		got := ""
		if err != nil {
			got = err.Error()
			notifytest.NoSecrets(t, err, tt.url, hook, "feishusecret")
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
			Fields: []notify.Field{{Name: "Stores", Value: "A & B"}, {Name: "IP", Value: "203.0.113.7"}},
			Text:   "Give each store its own line.",
		}},
		Footer: "storefence · 2026-03-01 10:00",
	}
}

func alertZH() *notify.Message {
	return &notify.Message{
		ID: "m2", Kind: "alert", Language: "zh-CN", Severity: "critical",
		Title: "店铺隔离告警",
		Sections: []notify.Section{{
			Title:  "共享公网 IP",
			Fields: []notify.Field{{Name: "店铺", Value: "<at id=all></at> 甲店、乙店"}},
			Text:   "请为每家店铺使用独立线路。",
		}},
		Footer: "storefence · 2026-03-01 10:00",
	}
}

func withKeyword(m *notify.Message, kw string) *notify.Message {
	m.Keyword = kw
	return m
}

// sent is what a test reads back from an accepted body.
type sent struct {
	Timestamp any
	Title     string
	Template  string
}

func decode(t *testing.T, body []byte) sent {
	t.Helper()
	var p struct {
		Timestamp any `json:"timestamp"`
		Card      struct {
			Header struct {
				Title    struct{ Content string }
				Template string
			}
		}
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return sent{p.Timestamp, p.Card.Header.Title.Content, p.Card.Header.Template}
}

func TestNotify(t *testing.T) {
	const secret = "testsecret"
	tests := []struct {
		name       string
		recvSecret string        // the bot's secret
		keyword    string        // the bot's keyword
		skew       time.Duration // the bot's clock minus ours
		secret     string        // the secret we sign with
		badHook    bool
		script     []notifytest.Fault
		msg        *notify.Message
		wantErr    bool
		wantRetry  bool
		wantAfter  time.Duration
		wantReject []string
		wantSent   sent
		wantText   string
	}{
		{
			name:     "en",
			msg:      alert(),
			wantSent: sent{Title: "Store isolation alert", Template: "orange"},
			wantText: "**Shared IP**\n**Stores**: A &#38; B\n**IP**: 203.0.113.7\nGive each store its own line.\n\n" +
				"<font color='grey'>storefence · 2026-03-01 10:00</font>",
		},
		{
			name:     "zh-CN, markup in a value",
			msg:      alertZH(),
			wantSent: sent{Title: "店铺隔离告警", Template: "red"},
			wantText: "**共享公网 IP**\n**店铺**: &#60;at id=all&#62;&#60;/at&#62; 甲店、乙店\n请为每家店铺使用独立线路。\n\n" +
				"<font color='grey'>storefence · 2026-03-01 10:00</font>",
		},
		{
			name:       "signed",
			recvSecret: secret, secret: secret,
			msg:      alert(),
			wantSent: sent{Timestamp: "1700000000", Title: "Store isolation alert", Template: "orange"},
		},
		{
			name:       "signed, bot clock 59 minutes behind",
			recvSecret: secret, secret: secret, skew: -59 * time.Minute,
			msg:      &notify.Message{Title: "All clear", Resolved: true, Severity: "critical"},
			wantSent: sent{Timestamp: "1700000000", Title: "All clear", Template: "green"},
			wantText: "All clear",
		},
		{
			name:       "wrong secret",
			recvSecret: secret, secret: "notthesecret",
			msg:        alert(),
			wantErr:    true,
			wantReject: []string{"sign mismatch"},
		},
		{
			name:       "stale timestamp",
			recvSecret: secret, secret: secret, skew: 2 * time.Hour,
			msg:        alert(),
			wantErr:    true,
			wantReject: []string{"timestamp not within an hour"},
		},
		{
			name:       "unsigned but the bot signs",
			recvSecret: secret,
			msg:        alert(),
			wantErr:    true,
			wantReject: []string{"timestamp is not a string"},
		},
		{
			name:       "unknown hook",
			badHook:    true,
			msg:        alert(),
			wantErr:    true,
			wantReject: []string{"unknown hook"},
		},
		{
			name:     "keyword added when missing",
			keyword:  "isolation-bot",
			msg:      withKeyword(&notify.Message{Title: "Test message", Severity: "medium"}, "isolation-bot"),
			wantSent: sent{Title: "[isolation-bot] Test message", Template: "yellow"},
		},
		{
			name:       "zh-CN keyword added when missing, signed",
			keyword:    "告警机器人",
			recvSecret: secret, secret: secret,
			msg:      withKeyword(alertZH(), "告警机器人"),
			wantSent: sent{Timestamp: "1700000000", Title: "[告警机器人] 店铺隔离告警", Template: "red"},
		},
		{
			name:     "keyword already in the footer",
			keyword:  "storefence",
			msg:      withKeyword(alert(), "storefence"),
			wantSent: sent{Title: "Store isolation alert", Template: "orange"},
		},
		{
			name:     "keyword that escaping would change",
			keyword:  "SF_告警",
			msg:      withKeyword(&notify.Message{Title: "Store alert", Footer: "from SF_告警"}, "SF_告警"),
			wantSent: sent{Title: "[SF_告警] Store alert", Template: "blue"},
			wantText: "<font color='grey'>from SF&#95;告警</font>",
		},
		{
			name:       "keyword not configured in storefence",
			keyword:    "isolation-bot",
			msg:        alert(),
			wantErr:    true,
			wantReject: []string{"Key Words Not Found"},
		},
		{
			name:      "rate limited 11232",
			script:    []notifytest.Fault{{Body: `{"code":11232,"msg":"frequency limited psm[lark.oapi.app_platform_runtime]appID[1]","data":{}}`}},
			msg:       alert(),
			wantErr:   true,
			wantRetry: true,
		},
		{
			name:      "rate limited 11232 with Retry-After",
			script:    []notifytest.Fault{{Header: map[string]string{"Retry-After": "5"}, Body: `{"code":11232,"msg":"frequency limited","data":{}}`}},
			msg:       alert(),
			wantErr:   true,
			wantRetry: true, wantAfter: 5 * time.Second,
		},
		{
			name:    "ip not allowed",
			script:  []notifytest.Fault{{Body: `{"code":19022,"msg":"Ip Not Allowed"}`}},
			msg:     alert(),
			wantErr: true,
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
			name:    "an answer that echoes the hook",
			script:  []notifytest.Fault{{Body: `{"code":19001,"msg":"param invalid: ` + notifytest.FeishuHook + `"}`}},
			msg:     alert(),
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := notifytest.NewFeishu(tt.recvSecret, tt.keyword, clock(t0.Add(tt.skew)))
			defer f.Close()
			f.Script(tt.script...)
			webhook := f.WebhookURL()
			if tt.badHook {
				webhook = f.URL() + "/open-apis/bot/v2/hook/ffffffff-ffff-ffff-ffff-ffffffffffff"
			}
			n, err := feishu.New(notify.Target{Name: "ops", URL: webhook, Secret: tt.secret}, f.Server.Client(), clock(t0))
			if err != nil {
				t.Fatal(err)
			}
			err = n.Notify(context.Background(), tt.msg)
			want := notifytest.Outcome{Err: tt.wantErr, Retry: tt.wantRetry, After: tt.wantAfter, Rejected: tt.wantReject}
			got := notifytest.CheckOutcome(t, &f.Receiver, "feishu", err, want, webhook, f.Hook, secret, tt.secret, "ffffffff-ffff-ffff-ffff-ffffffffffff")
			if got == nil {
				return
			}
			if diff := cmp.Diff(tt.wantSent, decode(t, got.Body)); diff != "" {
				t.Errorf("card mismatch (-want +got):\n%s", diff)
			}
			if tt.wantText != "" {
				if diff := cmp.Diff(tt.wantText, got.Text); diff != "" {
					t.Errorf("text mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestNotifyUnreachable(t *testing.T) {
	f := notifytest.NewFeishu("", "", nil)
	webhook := f.WebhookURL()
	f.Close()
	n, err := feishu.New(notify.Target{URL: webhook, Secret: "testsecret"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), alert())
	notifytest.WantError(t, err, "feishu", true, 0)
	notifytest.NoSecrets(t, err, webhook, notifytest.FeishuHook, "testsecret")
}

// entity matches what may follow a '&' in the lark_md: a whole entity.
var entity = regexp.MustCompile(`^&#[0-9]+;`)

// TestTruncation sends messages far over MaxBody, in English and Chinese
// and full of characters that need escaping: each body is cut to MaxBody
// bytes, accepted, cut between entities, and keeps its footer and
// keyword.
func TestTruncation(t *testing.T) {
	big := func(lang, unit string, sections int) *notify.Message {
		m := &notify.Message{Language: lang, Severity: "critical", Title: "Huge " + lang, Footer: "footer · 页脚", Keyword: "storefence-bot"}
		for range sections {
			m.Sections = append(m.Sections, notify.Section{
				Title:  strings.Repeat(unit, 3),
				Fields: []notify.Field{{Name: "n*" + unit, Value: strings.Repeat(unit, 20)}},
				Text:   strings.Repeat(unit+"\n\"quoted\"\t", 10),
			})
		}
		return m
	}
	tests := []struct {
		name string
		msg  *notify.Message
	}{
		{"en, many sections", big("en", "a*b_c[d]e<f>`g&h\\", 300)},
		{"zh-CN, many sections", big("zh-CN", "店铺隔离告警<甲>&", 300)},
		{"one huge value", &notify.Message{Title: "t", Keyword: "storefence-bot", Sections: []notify.Section{{Fields: []notify.Field{{Name: "v", Value: strings.Repeat("*_\\[&\"", 10000)}}}}}},
		{"one huge zh-CN text", &notify.Message{Title: "标题", Keyword: "storefence-bot", Footer: "页脚", Sections: []notify.Section{{Text: strings.Repeat("中文字符<>\n", 5000)}}}},
		{"huge title and footer", &notify.Message{Title: strings.Repeat("标题*", 3000), Footer: strings.Repeat("页脚&", 5000), Keyword: "storefence-bot"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := notifytest.NewFeishu("testsecret", "storefence-bot", nil)
			defer f.Close()
			n, err := feishu.New(notify.Target{URL: f.WebhookURL(), Secret: "testsecret"}, f.Server.Client(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Notify(context.Background(), tt.msg); err != nil {
				t.Fatalf("Notify: %v (rejected: %q)", err, f.Rejected())
			}
			acc := f.Accepted()
			if len(acc) != 1 {
				t.Fatalf("accepted %d, want 1", len(acc))
			}
			if len(acc[0].Body) > feishu.MaxBody {
				t.Errorf("body is %d bytes, over %d", len(acc[0].Body), feishu.MaxBody)
			}
			if len(tt.msg.Sections) > 0 && len(acc[0].Body) < feishu.MaxBody*9/10 {
				t.Errorf("body is %d bytes: cut far below %d", len(acc[0].Body), feishu.MaxBody)
			}
			text := acc[0].Text
			if !utf8.ValidString(text) {
				t.Errorf("text is not valid UTF-8")
			}
			if !strings.Contains(text, "…") {
				t.Errorf("text does not show it was cut")
			}
			for i := range len(text) {
				if text[i] == '&' && !entity.MatchString(text[i:]) {
					t.Fatalf("broken entity at byte %d: %q", i, text[i:min(len(text), i+12)])
				}
			}
			if open, shut := strings.Count(text, "<font"), strings.Count(text, "</font>"); open != shut || strings.Count(text, "<") != open+shut {
				t.Errorf("unbalanced or stray markup: %d <font, %d </font>, %d <", open, shut, strings.Count(text, "<"))
			}
			if tt.msg.Footer != "" && !strings.HasSuffix(text, "</font>") {
				t.Errorf("text lost its footer: ...%q", text[max(0, len(text)-80):])
			}
		})
	}
}
