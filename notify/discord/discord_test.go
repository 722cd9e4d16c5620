package discord

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/notify/notifytest"
)

var clock = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

func now() time.Time { return clock }

// newPair starts a fake Discord and a Notifier for the webhook url
// returns.
func newPair(t *testing.T, url func(*notifytest.Discord) string) (*notifytest.Discord, *Notifier) {
	t.Helper()
	d := notifytest.NewDiscord()
	t.Cleanup(d.Close)
	n, err := New(notify.Target{Name: "ops", URL: url(d)}, d.Server.Client(), now)
	if err != nil {
		t.Fatal(err)
	}
	return d, n
}

// credentials are what no error may name: the webhook and its token.
func credentials(d *notifytest.Discord) []string {
	return []string{d.WebhookURL(), d.UnversionedURL(), notifytest.DiscordToken}
}

func TestNotify(t *testing.T) {
	for _, tt := range []struct {
		name string
		url  func(*notifytest.Discord) string
	}{
		{"v10", (*notifytest.Discord).WebhookURL},
		{"unversioned, rewritten", (*notifytest.Discord).UnversionedURL},
		{"v6, rewritten", func(d *notifytest.Discord) string { return strings.Replace(d.WebhookURL(), "/v10/", "/v6/", 1) }},
		{"wait", func(d *notifytest.Discord) string { return d.UnversionedURL() + "?wait=true" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, n := newPair(t, tt.url)
			if err := n.Notify(context.Background(), notifytest.SampleMessage()); err != nil {
				t.Fatalf("Notify: %v (rejected: %v)", err, d.Rejected())
			}
			got := d.Accepted()
			if len(got) != 1 {
				t.Fatalf("accepted %d deliveries, want 1", len(got))
			}
			want := "Shared public IP across stores\nStores A & B share 203.0.113.7\n**Stores:** A, B\n**IP:** 203.0.113.7\n" +
				"Give each store its own line <before> the next audit.\nstorefence · 2025-06-01 09:00"
			if diff := cmp.Diff(want, got[0].Text); diff != "" {
				t.Errorf("visible text mismatch (-want +got):\n%s", diff)
			}
			var p map[string]any
			if err := json.Unmarshal(got[0].Body, &p); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]any{"parse": []any{}}, p["allowed_mentions"]); diff != "" {
				t.Errorf("allowed_mentions mismatch (-want +got):\n%s", diff)
			}
			e := p["embeds"].([]any)[0].(map[string]any)
			if e["color"] != float64(colourCritical) || e["timestamp"] != "2025-06-01T09:00:00Z" {
				t.Errorf("embed colour %v, timestamp %v", e["color"], e["timestamp"])
			}
		})
	}
}

func TestColour(t *testing.T) {
	tests := []struct {
		m    notify.Message
		want int
	}{
		{notify.Message{Severity: "critical"}, colourCritical},
		{notify.Message{Severity: "critical", Resolved: true}, colourResolved},
		{notify.Message{Severity: "high"}, colourHigh},
		{notify.Message{Severity: "medium"}, colourMedium},
		{notify.Message{Severity: "low"}, colourLow},
		{notify.Message{Severity: "info"}, colourInfo},
		{notify.Message{}, colourNone},
	}
	for _, tt := range tests {
		if got := colour(&tt.m); got != tt.want {
			t.Errorf("colour(%+v) = %#x, want %#x", tt.m, got, tt.want)
		}
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain 203.0.113.7", "plain 203.0.113.7"},
		{"**bold** _it_ ~~s~~ `c` ||sp|| [x](https://e.com) <@123> a\\b", `\*\*bold\*\* \_it\_ \~\~s\~\~ \` + "`c\\`" + ` \|\|sp\|\| \[x\](https://e.com) \<@123> a\\b`},
		{"# h\n- item\n  > quote\na-b #c", "\\# h\n\\- item\n  \\> quote\na-b #c"},
		{"@everyone", "@everyone"},
	}
	for _, tt := range tests {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNotifyAnswers(t *testing.T) {
	const invalidForm = `{"code": 50035, "errors": {"embeds": {"0": {"title": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 256 or fewer in length."}]}}}}, "message": "Invalid Form Body"}`
	notifytest.RunAnswers(t, kind, []notifytest.Answer{
		{Name: "invalid form body", Fault: notifytest.Fault{Status: 400, Body: invalidForm},
			Text: "discord: http 400: code 50035: Invalid Form Body (embeds.0.title: BASE_TYPE_MAX_LENGTH)"},
		{Name: "unknown webhook", Fault: notifytest.Fault{Status: 404, Body: `{"message": "Unknown Webhook", "code": 10015}`}, Text: "discord: http 404: code 10015: Unknown Webhook"},
		{Name: "invalid token", Fault: notifytest.Fault{Status: 401, Body: `{"message": "Invalid Webhook Token", "code": 50027}`}, Text: "discord: http 401: code 50027: Invalid Webhook Token"},
		{Name: "rate limited, body wins", Fault: notifytest.Fault{Status: 429, Header: map[string]string{"Retry-After": "2"}, Body: `{"message": "You are being rate limited.", "retry_after": 1.337, "global": false}`},
			Retry: true, After: 1337 * time.Millisecond, Text: "discord: http 429: rate limited (retry after 1.337s)"},
		{Name: "rate limited, global", Fault: notifytest.Fault{Status: 429, Header: map[string]string{"Retry-After": "65", "X-RateLimit-Scope": "global"}, Body: `{"message": "You are being rate limited.", "retry_after": 64.57, "global": true}`},
			Retry: true, After: 64570 * time.Millisecond, Text: "discord: http 429: rate limited (global), scope global (retry after 1m4.57s)"},
		{Name: "rate limited, cloudflare", Fault: notifytest.Fault{Status: 429, Header: map[string]string{"Retry-After": "3600"}, Body: "<html>error code: 1015</html>"},
			Retry: true, After: time.Hour, Text: "discord: http 429: rate limited (retry after 1h0m0s)"},
		{Name: "server error", Fault: notifytest.Fault{Status: 500, Body: `{"message": "500: Internal Server Error", "code": 0}`}, Retry: true, Text: "discord: http 500: code 0: 500: Internal Server Error"},
		{Name: "bad gateway", Fault: notifytest.Fault{Status: 502, Body: "<html>bad gateway</html>"}, Retry: true, Text: "discord: http 502: <html>bad gateway</html>"},
		{Name: "unavailable", Fault: notifytest.Fault{Status: 503, Header: map[string]string{"Retry-After": "7"}}, Retry: true, After: 7 * time.Second, Text: "discord: http 503: (empty answer) (retry after 7s)"},
		{Name: "echoes the token", Fault: notifytest.Fault{Status: 401, Body: `{"message": "bad token ` + notifytest.DiscordToken + `", "code": 50027}`}, Text: "discord: http 401: code 50027: bad token <redacted>"},
	}, func(t *testing.T, f notifytest.Fault) ([]string, error) {
		d, n := newPair(t, (*notifytest.Discord).WebhookURL)
		d.Script(f)
		return credentials(d), n.Notify(context.Background(), notifytest.SampleMessage())
	})
}

// TestReceiverRejects checks that the fake's own answers classify as
// Discord's real ones do.
func TestReceiverRejects(t *testing.T) {
	d := notifytest.NewDiscord()
	defer d.Close()
	for _, tt := range []struct {
		name, url string
		wantText  string
	}{
		{"wrong token", d.URL() + "/api/v10/webhooks/" + notifytest.DiscordWebhookID + "/wrongtoken", "discord: http 401: code 50027: Invalid Webhook Token"},
		{"unknown webhook", d.URL() + "/api/v10/webhooks/42/" + notifytest.DiscordToken, "discord: http 404: code 10015: Unknown Webhook"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, err := New(notify.Target{URL: tt.url}, d.Server.Client(), now)
			if err != nil {
				t.Fatal(err)
			}
			err = n.Notify(context.Background(), notifytest.SampleMessage())
			notifytest.NoSecrets(t, err, credentials(d)...)
			if retry, _ := notify.Classify(err); err == nil || retry || err.Error() != tt.wantText {
				t.Errorf("Notify = %v (retry %v), want %q", err, retry, tt.wantText)
			}
		})
	}
}

func TestNotifyNetwork(t *testing.T) {
	d, n := newPair(t, (*notifytest.Discord).WebhookURL)
	d.Close()
	err := n.Notify(context.Background(), notifytest.SampleMessage())
	notifytest.NoSecrets(t, err, credentials(d)...)
	notifytest.WantError(t, err, kind, true, 0)
}

func TestNotifyHuge(t *testing.T) {
	d, n := newPair(t, (*notifytest.Discord).WebhookURL)
	m := notifytest.HugeMessage()
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatalf("Notify: %v (rejected: %v)", err, d.Rejected())
	}
	var p payload
	if err := json.Unmarshal(d.Accepted()[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	e := p.Embeds[0]
	if n := size(e); n > maxTotal || n < maxTotal*9/10 {
		t.Errorf("embed of %d characters, want just under %d", n, maxTotal)
	}
	if last := e.Fields[len(e.Fields)-1]; last.Name != "…" || !strings.HasPrefix(last.Value, "+") {
		t.Errorf("last field = %+v, want the count of sections left out", last)
	}
	if !strings.Contains(d.Accepted()[0].Text, "<@123>") || strings.Contains(string(d.Accepted()[0].Body), "[]()") {
		t.Error("mentions or links were not escaped, or not delivered as text")
	}
}

func TestNotifyManySections(t *testing.T) {
	d, n := newPair(t, (*notifytest.Discord).WebhookURL)
	m := notifytest.SampleMessage()
	for range 30 {
		m.Sections = append(m.Sections, m.Sections[0])
	}
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatalf("Notify: %v (rejected: %v)", err, d.Rejected())
	}
	var p payload
	if err := json.Unmarshal(d.Accepted()[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	fields := p.Embeds[0].Fields
	if len(fields) != maxFields || fields[maxFields-1] != (field{Name: "…", Value: "+7"}) {
		t.Errorf("%d fields, the last %+v; want %d, the last counting 7 left out", len(fields), fields[len(fields)-1], maxFields)
	}
}

func TestReceiverLimits(t *testing.T) {
	d := notifytest.NewDiscord()
	defer d.Close()
	long := strings.Repeat("x", 257)
	for _, tt := range []struct {
		name, body, want string
	}{
		{"title", `{"embeds":[{"title":"` + long + `"}],"allowed_mentions":{"parse":[]}}`, "discord: http 400: code 50035: Invalid Form Body (embeds.0.title: BASE_TYPE_MAX_LENGTH)"},
		{"total", `{"embeds":[{"description":"` + strings.Repeat("y", 4000) + `"},{"description":"` + strings.Repeat("y", 2001) + `"}],"allowed_mentions":{"parse":[]}}`, "discord: http 400: code 50035: Invalid Form Body (embeds: MAX_EMBED_SIZE_EXCEEDED)"},
		{"empty field", `{"embeds":[{"fields":[{"name":"a","value":""}]}],"allowed_mentions":{"parse":[]}}`, "discord: http 400: code 50035: Invalid Form Body (embeds.0.fields.0.value: BASE_TYPE_REQUIRED)"},
		{"empty", `{"allowed_mentions":{"parse":[]}}`, "discord: http 400: code 50006: Cannot send an empty message"},
		{"mentions", `{"content":"hi"}`, "discord: http 400: code 50035: Invalid Form Body (allowed_mentions: STOREFENCE_MENTIONS)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := notify.Post(context.Background(), d.Server.Client(), kind, d.WebhookURL(), "application/json", []byte(tt.body), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkAnswer(resp, clock); err == nil || err.Error() != tt.want {
				t.Errorf("answer %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"https://discord.com/api/webhooks/1/secretXYZ", "https://discord.com/api/v10/webhooks/1/secretXYZ"},
		{"https://discord.com/api/webhooks/1/secretXYZ/?wait=true", "https://discord.com/api/v10/webhooks/1/secretXYZ?wait=true"},
		{"https://discord.com/api/v9/webhooks/1/secretXYZ", "https://discord.com/api/v10/webhooks/1/secretXYZ"},
		{"https://discord.com/api/v10/webhooks/1/secretXYZ?thread_id=5", "https://discord.com/api/v10/webhooks/1/secretXYZ?thread_id=5"},
		{"https://ptb.discord.com/api/webhooks/1/secretXYZ", "https://ptb.discord.com/api/v10/webhooks/1/secretXYZ"},
	}
	for _, tt := range tests {
		n, err := New(notify.Target{URL: tt.in}, nil, nil)
		if err != nil {
			t.Errorf("New(%q): %v", tt.in, err)
			continue
		}
		if n.url != tt.want {
			t.Errorf("New(%q) posts to %q, want %q", tt.in, n.url, tt.want)
		}
	}
	for _, u := range []string{"", "discord.com/api/webhooks/1/secretXYZ", "https://discord.com/api/webhooks/secretXYZ", "https://discord.com/api/webhooks/1/secretXYZ/slack", "https://discord.com/secretXYZ", "ftp://discord.com/api/webhooks/1/secretXYZ"} {
		_, err := New(notify.Target{URL: u}, nil, nil)
		if err == nil {
			t.Errorf("New(%q) succeeded", u)
			continue
		}
		if strings.Contains(err.Error(), "secretXYZ") || !strings.HasPrefix(err.Error(), "discord: ") {
			t.Errorf("New(%q) = %q: want a discord: error without the url", u, err)
		}
	}
}

func FuzzCheckAnswer(f *testing.F) {
	f.Add(204, "", []byte(""))
	f.Add(429, "2", []byte(`{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}`))
	f.Add(429, "", []byte(`{"retry_after": 1e300}`))
	f.Add(429, "", []byte(`{"retry_after": -3}`))
	f.Add(400, "", []byte(`{"code": 50035, "errors": {"embeds": {"0": {"title": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}}}}, "message": "Invalid Form Body"}`))
	f.Add(400, "", []byte(`{"code": 50035, "errors": {"a": {"_errors": [1]}, "b": [{"_errors": 2}]}, "message": "https://x"}`))
	f.Add(502, "", []byte("<html>"))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		r := &notify.Response{Status: status, Header: http.Header{"Retry-After": {retryAfter}}, Body: body}
		notifytest.CheckStatusAnswer(t, kind, status, checkAnswer(r, clock))
	})
}
