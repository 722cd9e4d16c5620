package wecom

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/notify/notifytest"
)

var now = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func TestParseAnswer(t *testing.T) {
	notifytest.RunParse(t, parseAnswer, now, []notifytest.ParseCase{
		{Name: "ok", Status: 200, Body: `{"errcode":0,"errmsg":"ok"}`},
		{Name: "rate limit", Status: 200, Body: `{"errcode":45009,"errmsg":"api freq out of limit"}`,
			Want: &notify.Error{Kind: kind, Retry: true, After: time.Minute, Status: 200, Reason: "errcode 45009: api freq out of limit"}},
		{Name: "rate limit with Retry-After", Status: 200, Header: http.Header{"Retry-After": {"90"}}, Body: `{"errcode":45009,"errmsg":"api freq out of limit"}`,
			Want: &notify.Error{Kind: kind, Retry: true, After: 90 * time.Second, Status: 200, Reason: "errcode 45009: api freq out of limit"}},
		{Name: "bad key", Status: 200, Body: `{"errcode":93000,"errmsg":"invalid webhook url, hint: [1700000000_1], from ip: 203.0.113.7, more info at https://open.work.weixin.qq.com/devtool/query?e=93000"}`,
			Want: &notify.Error{Kind: kind, Status: 200, Reason: "errcode 93000: invalid webhook url, hint: [1700000000_1], from ip: 203.0.113.7"}},
		{Name: "too long", Status: 200, Body: `{"errcode":40058,"errmsg":"markdown.content exceed max length 4096. invalid Request Parameter, more info at https://x"}`,
			Want: &notify.Error{Kind: kind, Status: 200, Reason: "errcode 40058: markdown.content exceed max length 4096. invalid Request Parameter"}},
		{Name: "html", Status: 200, Body: "<html>ok</html>", Want: &notify.Error{Kind: kind, Status: 200, Reason: "unexpected answer: <html>ok</html>"}},
		{Name: "503", Status: 503, Header: http.Header{"Retry-After": {"7"}}, Body: "busy", Want: &notify.Error{Kind: kind, Retry: true, After: 7 * time.Second, Status: 503, Reason: "busy"}},
		{Name: "429", Status: 429, Body: "", Want: &notify.Error{Kind: kind, Retry: true, Status: 429, Reason: "(empty answer)"}},
		{Name: "404", Status: 404, Body: "not found", Want: &notify.Error{Kind: kind, Status: 404, Reason: "not found"}},
	})
}

// FuzzParseAnswer checks that any answer is classified: accepted only
// for errcode 0 in a 2xx, otherwise a wecom *notify.Error whose text is
// one valid line without a URL and whose wait is bounded.
func FuzzParseAnswer(f *testing.F) {
	f.Add(200, []byte(`{"errcode":0,"errmsg":"ok"}`), "")
	f.Add(200, []byte(`{"errcode":45009,"errmsg":"api freq out of limit"}`), "")
	f.Add(200, []byte(`{"errcode":93000,"errmsg":"invalid webhook url, more info at https://open.work.weixin.qq.com/devtool/query?e=93000"}`), "")
	f.Add(503, []byte("busy"), "120")
	f.Add(429, []byte(""), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(200, []byte("\xff\xfe{"), "-5")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		r := &notify.Response{Status: status, Header: http.Header{"Retry-After": {retryAfter}}, Body: body}
		notifytest.CheckAnswer(t, kind, status, parseAnswer(r, now))
	})
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain 文本", "plain 文本"},
		{"<@all> **bold** `code` [link](x)", "＜@all＞ ＊＊bold＊＊ ｀code｀ ［link］(x)"},
		{"two\nlines\r\n", "two lines "},
		{"bad \xff utf8", "bad \uFFFD utf8"},
	}
	for _, tt := range tests {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got, want := escapeText("# title\n\n  > quote\n1. item"), "＃ title\n＞ quote\n1. item"; got != want {
		t.Errorf("escapeText = %q, want %q", got, want)
	}
}

// FuzzRender checks that any message renders within MaxMarkdown as valid
// UTF-8 whose only markup is the renderer's own, balanced.
func FuzzRender(f *testing.F) {
	f.Add("Store alert", "IP", "203.0.113.7", "Fix *it*\n# now <@all>", "footer", uint16(3), true)
	f.Add("店铺告警", "店铺", "甲店_乙店", "请处理\\", "页脚", uint16(400), false)
	f.Add("", "", "", "", "", uint16(0), false)
	f.Fuzz(func(t *testing.T, title, name, value, text, footer string, n uint16, critical bool) {
		m := &notify.Message{Title: title, Footer: footer}
		if critical {
			m.Severity = "critical"
		}
		for range int(n % 500) {
			m.Sections = append(m.Sections, notify.Section{Title: name, Fields: []notify.Field{{Name: name, Value: value}}, Text: text})
		}
		out := render(m)
		if len(out) > MaxMarkdown || !utf8.ValidString(out) {
			t.Fatalf("text of %d bytes, valid UTF-8 %v", len(out), utf8.ValidString(out))
		}
		if on, off := strings.Count(out, "<font"), strings.Count(out, "</font>"); on != off || strings.Count(out, "<") != on+off {
			t.Fatalf("stray or unbalanced markup in %q", out)
		}
	})
}
