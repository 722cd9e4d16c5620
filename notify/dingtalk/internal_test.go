package dingtalk

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/notify/notifytest"
)

var now = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func TestParseAnswer(t *testing.T) {
	notifytest.RunParse(t, parseAnswer, now, []notifytest.ParseCase{
		{Name: "ok", Status: 200, Body: `{"errcode":0,"errmsg":"ok"}`},
		{Name: "rate limit", Status: 200, Body: `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`,
			Want: &notify.Error{Kind: kind, Retry: true, After: 10 * time.Minute, Status: 200, Reason: "errcode 130101: send too fast, exceed 20 times per minute"}},
		{Name: "rate limit with Retry-After", Status: 200, Header: http.Header{"Retry-After": {"60"}}, Body: `{"errcode":660026,"errmsg":"sending too many messages per minute"}`,
			Want: &notify.Error{Kind: kind, Retry: true, After: time.Minute, Status: 200, Reason: "errcode 660026: sending too many messages per minute"}},
		{Name: "sign, with a doc link", Status: 200, Body: `{"errcode":310000,"errmsg":"sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}`,
			Want: &notify.Error{Kind: kind, Status: 200, Reason: "errcode 310000: sign not match"}},
		{Name: "keyword, chinese", Status: 200, Body: `{"errcode":310000,"errmsg":"description:关键词不匹配;solution:请联系群管理员查看此机器人的关键词，并在发送的信息中包含此关键词;"}`,
			Want: &notify.Error{Kind: kind, Status: 200, Reason: "errcode 310000: description:关键词不匹配;solution:请联系群管理员查看此机器人的关键词，并在发送的信息中包含此关键词;"}},
		{Name: "bad token", Status: 200, Body: `{"errcode":300005,"errmsg":"token is not exist"}`,
			Want: &notify.Error{Kind: kind, Status: 200, Reason: "errcode 300005: token is not exist"}},
		{Name: "missing token", Status: 200, Body: `{"errcode":40035,"errmsg":"缺少参数 access_token"}`,
			Want: &notify.Error{Kind: kind, Status: 200, Reason: "errcode 40035: 缺少参数 access_token"}},
		{Name: "errcode as a string is unreadable", Status: 200, Body: `{"errcode":"0"}`,
			Want: &notify.Error{Kind: kind, Status: 200, Reason: `unexpected answer: {"errcode":"0"}`}},
		{Name: "html", Status: 200, Body: "<html>ok</html>", Want: &notify.Error{Kind: kind, Status: 200, Reason: "unexpected answer: <html>ok</html>"}},
		{Name: "empty", Status: 200, Body: "", Want: &notify.Error{Kind: kind, Status: 200, Reason: "unexpected answer: (empty answer)"}},
		{Name: "503", Status: 503, Header: http.Header{"Retry-After": {"7"}}, Body: "busy", Want: &notify.Error{Kind: kind, Retry: true, After: 7 * time.Second, Status: 503, Reason: "busy"}},
		{Name: "500 with errcode 0", Status: 500, Body: `{"errcode":0}`, Want: &notify.Error{Kind: kind, Retry: true, Status: 500, Reason: `{"errcode":0}`}},
		{Name: "429", Status: 429, Body: "", Want: &notify.Error{Kind: kind, Retry: true, Status: 429, Reason: "(empty answer)"}},
		{Name: "404", Status: 404, Body: "not found", Want: &notify.Error{Kind: kind, Status: 404, Reason: "not found"}},
		{Name: "400 with errcode", Status: 400, Body: `{"errcode":40035,"errmsg":"缺少参数 json"}`, Want: &notify.Error{Kind: kind, Status: 400, Reason: "errcode 40035: 缺少参数 json"}},
		{Name: "302 with errcode 0", Status: 302, Body: `{"errcode":0}`, Want: &notify.Error{Kind: kind, Status: 302, Reason: `{"errcode":0}`}},
	})
}

// FuzzParseAnswer checks that any answer is classified: accepted only
// for errcode 0 in a 2xx, otherwise a dingtalk *notify.Error whose text
// is one valid line without a URL and whose wait is bounded.
func FuzzParseAnswer(f *testing.F) {
	f.Add(200, []byte(`{"errcode":0,"errmsg":"ok"}`), "")
	f.Add(200, []byte(`{"errcode":130101,"errmsg":"send too fast"}`), "")
	f.Add(200, []byte(`{"errcode":310000,"errmsg":"sign not match, more: [https://ding-doc.dingtalk.com/doc#/x]"}`), "")
	f.Add(200, []byte(`{"errcode":-1e400}`), "")
	f.Add(503, []byte("busy"), "120")
	f.Add(429, []byte(""), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(200, []byte("\xff\xfe{"), "-5")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		r := &notify.Response{Status: status, Header: http.Header{"Retry-After": {retryAfter}}, Body: body}
		notifytest.CheckAnswer(t, kind, status, parseAnswer(r, now))
	})
}

func TestRender(t *testing.T) {
	m := &notify.Message{
		Title: "Store A*B alert",
		Sections: []notify.Section{
			{
				Title:  "Shared IP",
				Fields: []notify.Field{{Name: "Stores", Value: "A_1, [B]"}, {Name: "IP", Value: "203.0.113.7"}},
				Text:   "# not a heading\n  1. not a list\n\n> not a quote\nC:\\path <b>",
			},
			{Fields: []notify.Field{{Name: "Line\nbreak", Value: "x\ny"}}},
		},
		Footer: "storefence",
	}
	title, text := render(m)
	want := "### Store A\\*B alert" +
		"\n\n#### Shared IP" +
		"\n- **Stores**: A\\_1, \\[B\\]" +
		"\n- **IP**: 203.0.113.7" +
		"\n\n\\# not a heading\n\n1\\. not a list\n\n\\> not a quote\n\nC:\\\\path \\<b\\>" +
		"\n\n- **Line break**: x y" +
		"\n\n> storefence"
	if diff := cmp.Diff(want, text); diff != "" {
		t.Errorf("text mismatch (-want +got):\n%s", diff)
	}
	if title != "Store A*B alert" {
		t.Errorf("title = %q", title)
	}
	if title, _ := render(&notify.Message{Title: " \n"}); title != "storefence" {
		t.Errorf("title of an untitled message = %q, want storefence", title)
	}
}

// FuzzRender checks that any message renders within MaxText as valid
// UTF-8 with whole escapes, and carries a (plausible) keyword.
func FuzzRender(f *testing.F) {
	f.Add("Store alert", "IP", "203.0.113.7", "Fix *it*\n# now", "footer", "storefence", uint16(3))
	f.Add("店铺告警", "店铺", "甲店_乙店", "请处理\\", "页脚", "告警", uint16(400))
	f.Add("", "", "", "", "", "", uint16(0))
	f.Fuzz(func(t *testing.T, title, name, value, text, footer, keyword string, n uint16) {
		m := &notify.Message{Title: title, Footer: footer, Keyword: keyword}
		for range int(n % 500) {
			m.Sections = append(m.Sections, notify.Section{Title: name, Fields: []notify.Field{{Name: name, Value: value}}, Text: text})
		}
		title, out := render(m)
		if len(out) > MaxText || len(title) > maxTitle {
			t.Fatalf("text %d bytes, title %d bytes", len(out), len(title))
		}
		if !utf8.ValidString(out) || !utf8.ValidString(title) {
			if utf8.ValidString(keyword) {
				t.Fatalf("invalid UTF-8 in %q", out)
			}
			return
		}
		// The keyword goes in verbatim, for the robot's check; all else
		// is escaped.
		escaped := strings.TrimPrefix(out, "### ["+keyword+"] ")
		for i := 0; i < len(escaped); i++ {
			if escaped[i] == '\\' {
				if i+1 == len(escaped) || !strings.ContainsRune("\\*_`[]~<>&#-+=|.)", rune(escaped[i+1])) {
					t.Fatalf("broken escape at %d in %q", i, escaped)
				}
				i++
			}
		}
		if keyword != "" && len(keyword) < 100 && utf8.ValidString(keyword) && !strings.Contains(out, keyword) {
			t.Fatalf("keyword %q missing from %q", keyword, out)
		}
	})
}
