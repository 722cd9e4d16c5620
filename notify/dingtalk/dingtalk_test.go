package dingtalk_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/notify/dingtalk"
	"github.com/storefence/storefence/notify/notifytest"
)

// t0 is the reference vector's instant: its signature has a '/' and a
// '+', which an unescaped or twice-escaped query would mangle.
var t0 = time.UnixMilli(1700000000000)

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestSign(t *testing.T) {
	got := dingtalk.Sign("SECtestsecret", t0)
	if want := "7LVwF0dAF3/+MRRulbpE4y72Ogzykc6bS2nG4I99T4s="; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	q := url.Values{"sign": {got}}.Encode()
	if want := "sign=7LVwF0dAF3%2F%2BMRRulbpE4y72Ogzykc6bS2nG4I99T4s%3D"; q != want {
		t.Errorf("query = %q, want %q", q, want)
	}
}

func TestNew(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		url     string
		wantErr string
	}{
		{"https://oapi.dingtalk.com/robot/send?access_token=" + token, ""},
		{"https://oapi.dingtalk.com/robot/send", "dingtalk: webhook url has no access_token"},
		{"https://oapi.dingtalk.com/robot/send?access_token=", "dingtalk: webhook url has no access_token"},
		{"oapi.dingtalk.com/robot/send?access_token=" + token, "dingtalk: webhook url is not an absolute http(s) url"},
		{"ftp://oapi.dingtalk.com/robot/send?access_token=" + token, "dingtalk: webhook url is not an absolute http(s) url"},
		{"https://[::1/robot/send?access_token=" + token, "dingtalk: webhook url does not parse"},
		{"", "dingtalk: webhook url is not an absolute http(s) url"},
	}
	for _, tt := range tests {
		_, err := dingtalk.New(notify.Target{URL: tt.url, Secret: "SECsecretsecret"}, nil, nil)
		got := ""
		if err != nil {
			got = err.Error()
			notifytest.NoSecrets(t, err, tt.url, token, "SECsecretsecret")
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
		ID: "m2", Kind: "alert", Language: "zh-CN", Severity: "critical",
		Title: "店铺隔离告警",
		Sections: []notify.Section{{
			Title:  "共享公网 IP",
			Fields: []notify.Field{{Name: "店铺", Value: "甲店、乙店"}, {Name: "IP", Value: "203.0.113.7"}},
			Text:   "请为每家店铺使用独立线路。",
		}},
		Footer: "storefence · 2026-03-01 10:00",
	}
}

func withKeyword(m *notify.Message, kw string) *notify.Message {
	m.Keyword = kw
	return m
}

func TestNotify(t *testing.T) {
	const secret = "SECtestsecret"
	tests := []struct {
		name          string
		recvSecret    string        // the robot's secret
		keyword       string        // the robot's keyword
		skew          time.Duration // the robot's clock minus ours
		secret        string        // the secret we sign with
		badToken      bool
		script        []notifytest.Fault
		msg           *notify.Message
		wantErr       bool
		wantRetry     bool
		wantAfter     time.Duration
		wantRejected  []string
		wantInText    []string
		wantNotInText []string
	}{
		{
			name:       "plain",
			msg:        alert(),
			wantInText: []string{"### Store isolation alert", "- **Stores**: A, B", "> storefence"},
		},
		{
			name:       "zh-CN",
			msg:        alertZH(),
			wantInText: []string{"### 店铺隔离告警", "- **店铺**: 甲店、乙店", "请为每家店铺使用独立线路。"},
		},
		{
			name:       "signed",
			recvSecret: secret, secret: secret,
			msg:        alert(),
			wantInText: []string{"### Store isolation alert"},
		},
		{
			name:       "signed, robot clock 59 minutes ahead",
			recvSecret: secret, secret: secret, skew: 59 * time.Minute,
			msg: alert(),
		},
		{
			name:       "wrong secret",
			recvSecret: secret, secret: "SECnotthesecret",
			msg:          alert(),
			wantErr:      true,
			wantRejected: []string{"sign not match"},
		},
		{
			name:       "unsigned but the robot signs",
			recvSecret: secret,
			msg:        alert(),
			wantErr:    true, wantRejected: []string{"invalid timestamp"},
		},
		{
			name:       "stale timestamp",
			recvSecret: secret, secret: secret, skew: 2 * time.Hour,
			msg:          alert(),
			wantErr:      true,
			wantRejected: []string{"invalid timestamp"},
		},
		{
			name:         "unknown token",
			badToken:     true,
			msg:          alert(),
			wantErr:      true,
			wantRejected: []string{"unknown access_token"},
		},
		{
			name:    "keyword added when missing",
			keyword: "isolation-bot",
			msg:     withKeyword(alert(), "isolation-bot"),
			wantInText: []string{
				"### [isolation-bot] Store isolation alert",
			},
		},
		{
			name:          "keyword already in the footer",
			keyword:       "storefence",
			msg:           withKeyword(alert(), "storefence"),
			wantInText:    []string{"### Store isolation alert"},
			wantNotInText: []string{"[storefence]"},
		},
		{
			name:       "keyword that escaping would change",
			keyword:    "SF_告警",
			msg:        withKeyword(&notify.Message{Title: "Store alert", Footer: "from SF_告警"}, "SF_告警"),
			wantInText: []string{"### [SF_告警] Store alert", "from SF\\_告警"},
		},
		{
			name:    "zh-CN keyword added when missing",
			keyword: "告警机器人", recvSecret: secret, secret: secret,
			msg:        withKeyword(alertZH(), "告警机器人"),
			wantInText: []string{"### [告警机器人] 店铺隔离告警"},
		},
		{
			name:         "keyword not configured in storefence",
			keyword:      "isolation-bot",
			msg:          alert(),
			wantErr:      true,
			wantRejected: []string{"keywords not in content"},
		},
		{
			name:      "rate limited 130101",
			script:    []notifytest.Fault{{Body: `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`}},
			msg:       alert(),
			wantErr:   true,
			wantRetry: true, wantAfter: 10 * time.Minute,
		},
		{
			name:      "rate limited 660026",
			script:    []notifytest.Fault{{Body: `{"errcode":660026,"errmsg":"sending too many messages per minute"}`}},
			msg:       alert(),
			wantErr:   true,
			wantRetry: true, wantAfter: 10 * time.Minute,
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
			name:    "an answer that echoes the webhook",
			script:  []notifytest.Fault{{Body: `{"errcode":300001,"errmsg":"bad robot https://oapi.dingtalk.com/robot/send?access_token=` + notifytest.DingTalkToken + `"}`}},
			msg:     alert(),
			wantErr: true,
		},
		{
			name:    "a proxy's page",
			script:  []notifytest.Fault{{Body: "<html>hello</html>"}},
			msg:     alert(),
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := notifytest.NewDingTalk(tt.recvSecret, tt.keyword, clock(t0.Add(tt.skew)))
			defer d.Close()
			d.Script(tt.script...)
			webhook := d.WebhookURL()
			if tt.badToken {
				webhook = d.URL() + "/robot/send?access_token=ffffffffffffffffffffffffffffffff"
			}
			n, err := dingtalk.New(notify.Target{Name: "ops", URL: webhook, Secret: tt.secret}, d.Server.Client(), clock(t0))
			if err != nil {
				t.Fatal(err)
			}
			err = n.Notify(context.Background(), tt.msg)
			want := notifytest.Outcome{Err: tt.wantErr, Retry: tt.wantRetry, After: tt.wantAfter, Rejected: tt.wantRejected}
			got := notifytest.CheckOutcome(t, &d.Receiver, "dingtalk", err, want, webhook, d.Token, secret, tt.secret, "ffffffffffffffffffffffffffffffff")
			if got == nil {
				return
			}
			for _, s := range tt.wantInText {
				if !strings.Contains(got.Text, s) {
					t.Errorf("text %q does not contain %q", got.Text, s)
				}
			}
			for _, s := range tt.wantNotInText {
				if strings.Contains(got.Text, s) {
					t.Errorf("text %q contains %q", got.Text, s)
				}
			}
		})
	}
}

func TestNotifyUnreachable(t *testing.T) {
	d := notifytest.NewDingTalk("", "", nil)
	webhook := d.WebhookURL()
	d.Close()
	n, err := dingtalk.New(notify.Target{URL: webhook, Secret: "SECtestsecret"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), alert())
	notifytest.WantError(t, err, "dingtalk", true, 0)
	notifytest.NoSecrets(t, err, webhook, notifytest.DingTalkToken, "SECtestsecret")
}

// TestTruncation sends messages far over MaxText, in English and Chinese
// and full of characters that need escaping: each is cut to MaxText
// bytes, accepted, cut between escapes, and keeps its footer and keyword.
func TestTruncation(t *testing.T) {
	big := func(lang, unit string, sections int) *notify.Message {
		m := &notify.Message{Language: lang, Title: "Huge " + lang, Footer: "footer · 页脚", Keyword: "storefence-bot"}
		for i := range sections {
			m.Sections = append(m.Sections, notify.Section{
				Title:  strings.Repeat(unit, 3),
				Fields: []notify.Field{{Name: "n*" + unit, Value: strings.Repeat(unit, 20)}},
				Text:   strings.Repeat(unit+"\n# ", 10) + string(rune('a'+i%26)),
			})
		}
		return m
	}
	tests := []struct {
		name string
		msg  *notify.Message
	}{
		{"en, many sections", big("en", "a*b_c[d]e\\f`g", 200)},
		{"zh-CN, many sections", big("zh-CN", "店铺*隔离_告警[甲]\\", 200)},
		{"one huge value", &notify.Message{Title: "t", Keyword: "storefence-bot", Sections: []notify.Section{{Fields: []notify.Field{{Name: "v", Value: strings.Repeat("*_\\[", 10000)}}}}}},
		{"one huge zh-CN text", &notify.Message{Title: "标题", Keyword: "storefence-bot", Footer: "页脚", Sections: []notify.Section{{Text: strings.Repeat("中文字符\\*", 5000)}}}},
		{"huge title", &notify.Message{Title: strings.Repeat("标题*", 3000), Keyword: "storefence-bot"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := notifytest.NewDingTalk("SECtestsecret", "storefence-bot", nil)
			defer d.Close()
			n, err := dingtalk.New(notify.Target{URL: d.WebhookURL(), Secret: "SECtestsecret"}, d.Server.Client(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Notify(context.Background(), tt.msg); err != nil {
				t.Fatalf("Notify: %v (rejected: %q)", err, d.Rejected())
			}
			acc := d.Accepted()
			if len(acc) != 1 {
				t.Fatalf("accepted %d, want 1", len(acc))
			}
			text := acc[0].Text
			if len(text) > dingtalk.MaxText {
				t.Errorf("text is %d bytes, over %d", len(text), dingtalk.MaxText)
			}
			if !utf8.ValidString(text) {
				t.Errorf("text is not valid UTF-8")
			}
			if !strings.Contains(text, "…") {
				t.Errorf("text does not show it was cut")
			}
			if tt.msg.Footer != "" && !strings.HasSuffix(text, "\n\n> "+tt.msg.Footer) {
				t.Errorf("text lost its footer: ...%q", text[max(0, len(text)-80):])
			}
			checkEscapes(t, text)
		})
	}
}

// checkEscapes fails when a backslash in text does not start one of the
// escapes the renderer writes, as a cut inside one would leave.
func checkEscapes(t *testing.T, text string) {
	t.Helper()
	for i := 0; i < len(text); i++ {
		if text[i] != '\\' {
			continue
		}
		if i+1 == len(text) || !strings.ContainsRune("\\*_`[]~<>&#-+=|.)", rune(text[i+1])) {
			t.Errorf("broken escape at byte %d: %q", i, text[max(0, i-20):min(len(text), i+20)])
			return
		}
		i++
	}
}
