package feishu

import (
	"encoding/json"
	"net/http"
	"regexp"
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
		{Name: "ok", Status: 200, Body: `{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`},
		{Name: "ok, old shape", Status: 200, Body: `{"StatusCode":0,"StatusMessage":"success"}`},
		{Name: "code wins over StatusCode", Status: 200, Body: `{"StatusCode":0,"code":19024,"msg":"Key Words Not Found"}`,
			Want: &notify.Error{Kind: kind, Status: 200, Reason: "code 19024: Key Words Not Found"}},
		{Name: "rate limit", Status: 200, Body: `{"code":11232,"msg":"frequency limited","data":{}}`,
			Want: &notify.Error{Kind: kind, Retry: true, Status: 200, Reason: "code 11232: frequency limited"}},
		{Name: "bad request", Status: 200, Body: `{"code":9499,"msg":"Bad Request","data":{}}`,
			Want: &notify.Error{Kind: kind, Status: 200, Reason: "code 9499: Bad Request"}},
		{Name: "sign", Status: 200, Body: `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`,
			Want: &notify.Error{Kind: kind, Status: 200, Reason: "code 19021: sign match fail or timestamp is not within one hour from current time"}},
		{Name: "ip", Status: 200, Body: `{"code":19022,"msg":"Ip Not Allowed"}`, Want: &notify.Error{Kind: kind, Status: 200, Reason: "code 19022: Ip Not Allowed"}},
		{Name: "msg with a link", Status: 200, Body: `{"code":19002,"msg":"params error, see https://open.feishu.cn/x"}`,
			Want: &notify.Error{Kind: kind, Status: 200, Reason: "code 19002: params error, see"}},
		{Name: "html", Status: 200, Body: "<html>ok</html>", Want: &notify.Error{Kind: kind, Status: 200, Reason: "unexpected answer: <html>ok</html>"}},
		{Name: "400 with a code", Status: 400, Body: `{"code":9499,"msg":"Bad Request"}`, Want: &notify.Error{Kind: kind, Status: 400, Reason: "code 9499: Bad Request"}},
		{Name: "503", Status: 503, Header: http.Header{"Retry-After": {"7"}}, Body: "busy", Want: &notify.Error{Kind: kind, Retry: true, After: 7 * time.Second, Status: 503, Reason: "busy"}},
		{Name: "429 with a code", Status: 429, Body: `{"code":11232}`, Want: &notify.Error{Kind: kind, Retry: true, Status: 429, Reason: `{"code":11232}`}},
		{Name: "404", Status: 404, Body: "404 page not found", Want: &notify.Error{Kind: kind, Status: 404, Reason: "404 page not found"}},
	})
}

// FuzzParseAnswer checks that any answer is classified: accepted only
// for code 0 in a 2xx, otherwise a feishu *notify.Error whose text is one
// valid line without a URL and whose wait is bounded.
func FuzzParseAnswer(f *testing.F) {
	f.Add(200, []byte(`{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`), "")
	f.Add(200, []byte(`{"code":11232,"msg":"frequency limited"}`), "3")
	f.Add(200, []byte(`{"code":19021,"msg":"sign match fail, see https://open.feishu.cn/x"}`), "")
	f.Add(200, []byte(`{"StatusCode":1}`), "")
	f.Add(503, []byte("busy"), "120")
	f.Add(429, []byte(""), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(200, []byte("\xff\xfe{"), "-5")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		r := &notify.Response{Status: status, Header: http.Header{"Retry-After": {retryAfter}}, Body: body}
		notifytest.CheckAnswer(t, kind, status, parseAnswer(r, now))
	})
}

// TestJSONLen checks jsonLen against the encoder and that it adds up.
func TestJSONLen(t *testing.T) {
	parts := []string{"", "plain", "中文", "\"q\"", "a\\b", "\n\r\t\b\f\x01\x1f", "<>&", "\u2028\u2029", "\uFFFD", "😀", "\x7f"}
	all := ""
	sum := 0
	for _, p := range parts {
		b, _ := json.Marshal(p) // escapes HTML: only the other characters are compared
		if !strings.ContainsAny(p, "<>&") && jsonLen(p) != len(b)-2 {
			t.Errorf("jsonLen(%q) = %d, want %d", p, jsonLen(p), len(b)-2)
		}
		all += p
		sum += jsonLen(p)
	}
	if jsonLen("<>&") != 3 {
		t.Errorf("jsonLen(<>&) = %d, want 3 (no HTML escaping)", jsonLen("<>&"))
	}
	if jsonLen(all) != sum {
		t.Errorf("jsonLen of the concatenation = %d, sum of parts %d", jsonLen(all), sum)
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain 文本", "plain 文本"},
		{"<at id=all></at> **b** ~~s~~ `c` [l](x) a_b \\ &", "&#60;at id=all&#62;&#60;/at&#62; &#42;&#42;b&#42;&#42; &#126;&#126;s&#126;&#126; &#96;c&#96; &#91;l&#93;(x) a&#95;b &#92; &#38;"},
		{"two\nlines\r\n", "two lines "},
		{"bad \xff utf8", "bad \uFFFD utf8"},
	}
	for _, tt := range tests {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got, want := escapeText("one *\n\n\ttwo"), "one &#42;\ntwo"; got != want {
		t.Errorf("escapeText = %q, want %q", got, want)
	}
}

func TestTemplate(t *testing.T) {
	tests := []struct {
		m    notify.Message
		want string
	}{
		{notify.Message{Severity: "critical"}, "red"},
		{notify.Message{Severity: "high"}, "orange"},
		{notify.Message{Severity: "medium"}, "yellow"},
		{notify.Message{Severity: "low"}, "blue"},
		{notify.Message{Severity: "info"}, "blue"},
		{notify.Message{}, "blue"},
		{notify.Message{Severity: "critical", Resolved: true}, "green"},
	}
	for _, tt := range tests {
		if got := template(&tt.m); got != tt.want {
			t.Errorf("template(%q, resolved %v) = %q, want %q", tt.m.Severity, tt.m.Resolved, got, tt.want)
		}
	}
}

var entity = regexp.MustCompile(`^&#[0-9]+;`)

// FuzzBuild checks that any message makes a body of at most MaxBody
// bytes of valid JSON whose lark_md has whole entities and whose card
// carries a (plausible) keyword.
func FuzzBuild(f *testing.F) {
	f.Add("Store alert", "IP", "203.0.113.7", "Fix *it*\n<at id=all></at>", "footer", "storefence", uint16(3))
	f.Add("店铺告警", "店铺", "甲店_乙店&", "请处理\\", "页脚", "告警", uint16(400))
	f.Add("", "", "", "", "", "", uint16(0))
	f.Fuzz(func(t *testing.T, title, name, value, text, footer, keyword string, n uint16) {
		m := &notify.Message{Title: title, Footer: footer, Keyword: keyword, Severity: "high"}
		for range int(n % 500) {
			m.Sections = append(m.Sections, notify.Section{Title: name, Fields: []notify.Field{{Name: name, Value: value}}, Text: text})
		}
		body, err := build(payload{MsgType: "interactive", Timestamp: "1700000000", Sign: "x"}, m)
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		if len(body) > MaxBody {
			t.Fatalf("body is %d bytes", len(body))
		}
		var p payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
		if len(p.Card.Elements) != 1 || p.Card.Elements[0].Text == nil || p.Card.Elements[0].Text.Content == "" || p.Card.Header.Title.Content == "" {
			t.Fatalf("card shape: %s", body)
		}
		content := p.Card.Elements[0].Text.Content
		for i := range len(content) {
			if content[i] == '&' && !entity.MatchString(content[i:]) {
				t.Fatalf("broken entity at %d in %q", i, content)
			}
		}
		if keyword != "" && len(keyword) < 100 && strings.TrimSpace(keyword) == keyword && !strings.ContainsAny(keyword, "\n\r\t") && utf8.ValidString(keyword) &&
			!strings.Contains(p.Card.Header.Title.Content, keyword) && !strings.Contains(content, keyword) {
			t.Fatalf("keyword %q missing from %s", keyword, body)
		}
	})
}
