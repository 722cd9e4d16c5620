package wecom

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/storefence/storefence/notify"
)

var now = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func TestParseAnswer(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   *notify.Error // nil: accepted
	}{
		{"ok", 200, nil, `{"errcode":0,"errmsg":"ok"}`, nil},
		{"rate limit", 200, nil, `{"errcode":45009,"errmsg":"api freq out of limit"}`,
			&notify.Error{Kind: kind, Retry: true, After: time.Minute, Status: 200, Reason: "errcode 45009: api freq out of limit"}},
		{"rate limit with Retry-After", 200, http.Header{"Retry-After": {"90"}}, `{"errcode":45009,"errmsg":"api freq out of limit"}`,
			&notify.Error{Kind: kind, Retry: true, After: 90 * time.Second, Status: 200, Reason: "errcode 45009: api freq out of limit"}},
		{"bad key", 200, nil, `{"errcode":93000,"errmsg":"invalid webhook url, hint: [1700000000_1], from ip: 203.0.113.7, more info at https://open.work.weixin.qq.com/devtool/query?e=93000"}`,
			&notify.Error{Kind: kind, Status: 200, Reason: "errcode 93000: invalid webhook url, hint: [1700000000_1], from ip: 203.0.113.7"}},
		{"too long", 200, nil, `{"errcode":40058,"errmsg":"markdown.content exceed max length 4096. invalid Request Parameter, more info at https://x"}`,
			&notify.Error{Kind: kind, Status: 200, Reason: "errcode 40058: markdown.content exceed max length 4096. invalid Request Parameter"}},
		{"html", 200, nil, "<html>ok</html>", &notify.Error{Kind: kind, Status: 200, Reason: "unexpected answer: <html>ok</html>"}},
		{"503", 503, http.Header{"Retry-After": {"7"}}, "busy", &notify.Error{Kind: kind, Retry: true, After: 7 * time.Second, Status: 503, Reason: "busy"}},
		{"429", 429, nil, "", &notify.Error{Kind: kind, Retry: true, Status: 429, Reason: "(empty answer)"}},
		{"404", 404, nil, "not found", &notify.Error{Kind: kind, Status: 404, Reason: "not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseAnswer(&notify.Response{Status: tt.status, Header: tt.header, Body: []byte(tt.body)}, now)
			var got *notify.Error
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("parseAnswer = %v, not a *notify.Error", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseAnswer(%d, %q) mismatch (-want +got):\n%s", tt.status, tt.body, diff)
			}
		})
	}
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
		err := parseAnswer(r, now)
		if err == nil {
			if status < 200 || status > 299 {
				t.Fatalf("accepted with status %d", status)
			}
			return
		}
		var e *notify.Error
		if !errors.As(err, &e) || e.Kind != kind {
			t.Fatalf("parseAnswer = %#v, want a wecom *notify.Error", err)
		}
		retry, after := notify.Classify(err)
		if after < 0 || after > 24*time.Hour || !retry && after != 0 {
			t.Fatalf("Classify = %v, %v", retry, after)
		}
		s := err.Error()
		if strings.Contains(s, "://") || strings.ContainsAny(s, "\n\r") || !utf8.ValidString(s) {
			t.Fatalf("error text %q", s)
		}
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
