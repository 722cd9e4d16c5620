package telegram

import (
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
)

var clock = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

func now() time.Time { return clock }

func newPair(t *testing.T) (*notifytest.Telegram, *Notifier) {
	t.Helper()
	r := notifytest.NewTelegram()
	t.Cleanup(r.Close)
	n, err := New(notify.Target{Name: "ops", URL: r.BaseURL(), ChatID: notifytest.TelegramChatID}, r.Server.Client(), now)
	if err != nil {
		t.Fatal(err)
	}
	return r, n
}

// credentials are what no error may name: the bot token and a URL that
// carries it.
func credentials(r *notifytest.Telegram) []string {
	return []string{r.BaseURL(), notifytest.TelegramToken, strings.SplitN(notifytest.TelegramToken, ":", 2)[1]}
}

func TestNotify(t *testing.T) {
	r, n := newPair(t)
	m := notifytest.SampleMessage()
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatalf("Notify: %v (rejected: %v)", err, r.Rejected())
	}
	got := r.Accepted()
	if len(got) != 1 {
		t.Fatalf("accepted %d deliveries, want 1", len(got))
	}
	if diff := cmp.Diff(m.Plain(), got[0].Text); diff != "" {
		t.Errorf("visible text mismatch (-want +got):\n%s", diff)
	}
	var p map[string]any
	if err := json.Unmarshal(got[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"chat_id":              float64(-1001234567890),
		"parse_mode":           "MarkdownV2",
		"link_preview_options": map[string]any{"is_disabled": true},
		"text": "*Shared public IP across stores*\n\n*Stores A & B share 203\\.0\\.113\\.7*\nStores: A, B\nIP: 203\\.0\\.113\\.7\n" +
			"Give each store its own line <before\\> the next audit\\.\n\n_storefence · 2025\\-06\\-01 09:00_",
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("request mismatch (-want +got):\n%s", diff)
	}
}

func TestNotifyChannelUsername(t *testing.T) {
	r := notifytest.NewTelegram()
	defer r.Close()
	n, err := New(notify.Target{URL: r.BaseURL(), ChatID: "@storefence_ops"}, r.Server.Client(), now)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), notifytest.SampleMessage())
	notifytest.NoSecrets(t, err, credentials(r)...)
	if want := "telegram: http 400: Bad Request: chat not found"; err == nil || err.Error() != want {
		t.Errorf("Notify = %v, want %q", err, want)
	}
	if rs := r.Rejected(); len(rs) != 1 || rs[0] != "Bad Request: chat not found" {
		t.Errorf("rejected %q, want the chat", rs)
	}
}

func TestNotifyAnswers(t *testing.T) {
	notifytest.RunAnswers(t, kind, []notifytest.Answer{
		{Name: "rate limited", Fault: notifytest.Fault{Status: 429, Body: `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 34","parameters":{"retry_after":34}}`},
			Retry: true, After: 34 * time.Second, Text: "telegram: http 429: Too Many Requests: retry after 34 (retry after 34s)"},
		{Name: "rate limited, header only", Fault: notifytest.Fault{Status: 429, Header: map[string]string{"Retry-After": "9"}, Body: `{"ok":false,"error_code":429,"description":"Too Many Requests"}`},
			Retry: true, After: 9 * time.Second, Text: "telegram: http 429: Too Many Requests (retry after 9s)"},
		{Name: "bad gateway, html", Fault: notifytest.Fault{Status: 502, Body: "<html><title>502 Bad Gateway</title></html>"}, Retry: true, Text: "telegram: http 502: <html><title>502 Bad Gateway</title></html>"},
		{Name: "internal", Fault: notifytest.Fault{Status: 500, Body: `{"ok":false,"error_code":500,"description":"Internal Server Error: restart"}`}, Retry: true, Text: "telegram: http 500: Internal Server Error: restart"},
		{Name: "can't parse", Fault: notifytest.Fault{Status: 400, Body: `{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"}`},
			Text: `telegram: http 400: Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\'`},
		{Name: "too long", Fault: notifytest.Fault{Status: 400, Body: `{"ok":false,"error_code":400,"description":"Bad Request: message is too long"}`}, Text: "telegram: http 400: Bad Request: message is too long"},
		{Name: "migrated", Fault: notifytest.Fault{Status: 400, Body: `{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1009876543210}}`},
			Text: "telegram: http 400: the group became a supergroup: set chat_id to -1009876543210 (Bad Request: group chat was upgraded to a supergroup chat)"},
		{Name: "unauthorized", Fault: notifytest.Fault{Status: 401, Body: `{"ok":false,"error_code":401,"description":"Unauthorized"}`}, Text: "telegram: http 401: Unauthorized"},
		{Name: "kicked", Fault: notifytest.Fault{Status: 403, Body: `{"ok":false,"error_code":403,"description":"Forbidden: bot was kicked from the supergroup chat"}`}, Text: "telegram: http 403: Forbidden: bot was kicked from the supergroup chat"},
		{Name: "200 without ok", Fault: notifytest.Fault{Status: 200, Body: `{"result":{}}`}, Text: `telegram: http 200: error_code 0`},
		{Name: "200 not json", Fault: notifytest.Fault{Status: 200, Body: `<html>captive portal</html>`}, Text: `telegram: http 200: unexpected answer: <html>captive portal</html>`},
		{Name: "echoes the token", Fault: notifytest.Fault{Status: 404, Body: `{"ok":false,"error_code":404,"description":"Not Found: /bot` + notifytest.TelegramToken + `/sendMessage"}`},
			Text: "telegram: http 404: Not Found: /bot<redacted>/sendMessage"},
	}, func(t *testing.T, f notifytest.Fault) ([]string, error) {
		r, n := newPair(t)
		r.Script(f)
		return credentials(r), n.Notify(context.Background(), notifytest.SampleMessage())
	})
}

// TestReceiverRejects checks the fake's own answers against the
// classification: a wrong token or chat, and text that breaks the rules.
func TestReceiverRejects(t *testing.T) {
	r := notifytest.NewTelegram()
	defer r.Close()
	post := func(url string, p payload) error {
		body, _ := json.Marshal(p)
		resp, err := notify.Post(context.Background(), r.Server.Client(), kind, url, "application/json", body, nil)
		if err != nil {
			return err
		}
		return checkAnswer(resp, clock)
	}
	send := r.BaseURL() + "/sendMessage"
	chat := int64(-1001234567890)
	for _, tt := range []struct {
		name, url string
		p         payload
		want      string
	}{
		{"bad token", r.URL() + "/bot1:wrong/sendMessage", payload{ChatID: chat, Text: "x"}, "telegram: http 401: Unauthorized"},
		{"unescaped", send, payload{ChatID: chat, Text: "v1.2", ParseMode: "MarkdownV2"}, `telegram: http 400: Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\'`},
		{"backslash not escaped", send, payload{ChatID: chat, Text: `C:\` + escape("."), ParseMode: "MarkdownV2"}, `telegram: http 400: Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\'`},
		{"too long", send, payload{ChatID: chat, Text: strings.Repeat("😀", 2049)}, "telegram: http 400: Bad Request: message is too long"},
		{"empty", send, payload{ChatID: chat, Text: "*  *", ParseMode: "MarkdownV2"}, "telegram: http 400: Bad Request: message text is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := post(tt.url, tt.p)
			notifytest.NoSecrets(t, err, credentials(r)...)
			if retry, _ := notify.Classify(err); err == nil || retry || err.Error() != tt.want {
				t.Errorf("answer %v (retry %v), want %q", err, retry, tt.want)
			}
		})
	}
}

func TestNotifyNetwork(t *testing.T) {
	r, n := newPair(t)
	r.Close()
	err := n.Notify(context.Background(), notifytest.SampleMessage())
	notifytest.NoSecrets(t, err, credentials(r)...)
	notifytest.WantError(t, err, kind, true, 0)
}

func TestNotifyHuge(t *testing.T) {
	r, n := newPair(t)
	if err := n.Notify(context.Background(), notifytest.HugeMessage()); err != nil {
		t.Fatalf("Notify: %v (rejected: %v)", err, r.Rejected())
	}
	got := r.Accepted()[0].Text
	if n := utf16Len(got); n > maxText || n < maxText-8 {
		t.Errorf("visible text of %d UTF-16 units, want just under %d", n, maxText)
	}
	if !strings.Contains(got, "店铺共用同一公网IP") || !strings.Contains(got, "👨‍👩‍👧") || !strings.Contains(got, `\\ \* C:\path\`) || !strings.Contains(got, "…") {
		t.Error("the visible text lost the Chinese, the emoji or the backslashes, or was not cut")
	}
}

// TestNotifyCutEverywhere cuts hostile text at every length near the
// limit: the receiver must accept every cut.
func TestNotifyCutEverywhere(t *testing.T) {
	r, n := newPair(t)
	m := &notify.Message{Title: strings.Repeat(`\*_[]{}.!😀中`, 400), Footer: `_footer\`}
	for i := range 40 {
		m.Sections = []notify.Section{{Title: strings.Repeat("x", i)}}
		if err := n.Notify(context.Background(), m); err != nil {
			t.Fatalf("cut %d: %v (rejected: %v)", i, err, r.Rejected())
		}
	}
}

func TestNew(t *testing.T) {
	const base = "https://api.telegram.org/bot123456:secretXYZ-_abc"
	for _, tt := range []struct {
		target   notify.Target
		endpoint string
		chat     any
	}{
		{notify.Target{URL: base, ChatID: "-1001234567890"}, base + "/sendMessage", int64(-1001234567890)},
		{notify.Target{URL: base + "/", ChatID: " 42 "}, base + "/sendMessage", int64(42)},
		{notify.Target{URL: "http://127.0.0.1:8081/bot123456:secretXYZ", ChatID: "@channel"}, "http://127.0.0.1:8081/bot123456:secretXYZ/sendMessage", "@channel"},
	} {
		n, err := New(tt.target, nil, nil)
		if err != nil {
			t.Errorf("New(%+v): %v", tt.target, err)
			continue
		}
		if n.endpoint != tt.endpoint || n.chatID != tt.chat {
			t.Errorf("New(%+v) = %q, %v; want %q, %v", tt.target, n.endpoint, n.chatID, tt.endpoint, tt.chat)
		}
	}
	for _, tt := range []struct {
		target notify.Target
		want   string
	}{
		{notify.Target{URL: base}, "telegram: chat_id is required"},
		{notify.Target{URL: base, ChatID: "ops"}, `telegram: chat_id "ops" is neither a number nor an @username`},
		{notify.Target{URL: "https://api.telegram.org/secretXYZ", ChatID: "1"}, "telegram: bot api url does not end in /bot<token>"},
		{notify.Target{URL: base + "/sendMessage", ChatID: "1"}, "telegram: bot api url does not end in /bot<token>"},
		{notify.Target{URL: base + "?x=secretXYZ", ChatID: "1"}, "telegram: bot api url does not end in /bot<token>"},
		{notify.Target{URL: "api.telegram.org/bot1:secretXYZ", ChatID: "1"}, "telegram: bot api url is not"},
		{notify.Target{URL: "https://api.telegram.org/bot1:secretXYZ%zz", ChatID: "1"}, "telegram: bot api url does not parse"},
	} {
		_, err := New(tt.target, nil, nil)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "secretXYZ") {
			t.Errorf("New(%+v) = %v, want %q… without the token", tt.target, err, tt.want)
		}
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain 中文 😀", "plain 中文 😀"},
		{`_*[]()~` + "`" + `>#+-=|{}.!`, `\_\*\[\]\(\)\~\` + "`" + `\>\#\+\-\=\|\{\}\.\!`},
		{`C:\path\`, `C:\\path\\`},
		{`\.`, `\\\.`},
		{"a\xffb.", "a\xffb\\."},
	}
	for _, tt := range tests {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzEscape checks that escaped text of any kind is valid MarkdownV2
// for the receiver's independent parser and shows exactly the text.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", `\`, `\\`, `a\.b`, "_*[]()~`>#+-=|{}.!", "中文 😀 \x00 \x7f \xff", "> quote\n> x", "```pre```", "||x||"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, wrapped := range []struct{ mark, text string }{{"", escape(s)}, {"*", "*" + escape(s) + "*"}, {"_", "_" + escape(s) + "_"}} {
			if wrapped.mark == "_" && s == "" {
				continue // "__" opens underline: markdownV2 never wraps empty text
			}
			got, err := notifytest.ParseMarkdownV2(wrapped.text)
			if err != nil {
				t.Fatalf("ParseMarkdownV2(%q) (escaped %q): %v", wrapped.text, s, err)
			}
			if got != s {
				t.Fatalf("ParseMarkdownV2(%q) = %q, want %q", wrapped.text, got, s)
			}
		}
	})
}

// FuzzRender checks that any message renders to valid MarkdownV2 whose
// visible text is the fitted message's plain text, within the limit.
func FuzzRender(f *testing.F) {
	f.Add("title", "section", "name", "value", "text", "footer", 1)
	f.Add(`\`, "_", "*", "`", "__", `\`, 3)
	f.Add("", "", "", "", "", "_", 0)
	f.Fuzz(func(t *testing.T, title, stitle, name, value, text, footer string, repeat int) {
		repeat = min(max(repeat, 0), 50)
		m := &notify.Message{Title: title, Footer: footer}
		for range repeat {
			m.Sections = append(m.Sections, notify.Section{Title: stitle, Fields: []notify.Field{{Name: name, Value: value}}, Text: text})
		}
		out, err := render(m)
		if err != nil {
			if strings.TrimSpace(m.Plain()) == "" {
				return
			}
			t.Fatalf("render: %v", err)
		}
		got, err := notifytest.ParseMarkdownV2(out)
		if err != nil {
			t.Fatalf("ParseMarkdownV2(%q): %v", out, err)
		}
		if n := utf16Len(strings.ToValidUTF8(got, "\uFFFD")); n > maxText {
			t.Fatalf("visible text of %d units", n)
		}
		if utf8.ValidString(m.Plain()) && len(m.Plain()) < 1000 && got != m.Plain() {
			t.Fatalf("visible %q, want %q", got, m.Plain())
		}
	})
}

func FuzzCheckAnswer(f *testing.F) {
	f.Add(200, "", []byte(`{"ok":true,"result":{"message_id":1}}`))
	f.Add(429, "", []byte(`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 34","parameters":{"retry_after":34}}`))
	f.Add(400, "", []byte(`{"ok":false,"error_code":400,"description":"x","parameters":{"migrate_to_chat_id":-100123}}`))
	f.Add(200, "", []byte(`{"ok":false,"error_code":429,"parameters":{"retry_after":1e999}}`))
	f.Add(502, "5", []byte(`<html>`))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		r := &notify.Response{Status: status, Header: http.Header{"Retry-After": {retryAfter}}, Body: body}
		err := checkAnswer(r, clock)
		notifytest.CheckAnswer(t, kind, status, err)
		var a answer
		parsed := json.Unmarshal(body, &a) == nil
		if ok := status >= 200 && status < 300 && parsed && a.OK; (err == nil) != ok {
			t.Fatalf("status %d, body %q: err = %v", status, body, err)
		}
		if err == nil {
			return
		}
		if retry, _ := notify.Classify(err); (status == 429 || status >= 500) && !(parsed && a.Parameters != nil && a.Parameters.MigrateToChatID != 0) && !retry {
			t.Fatalf("status %d: permanent", status)
		}
	})
}
