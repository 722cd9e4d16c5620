package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/notify/notifytest"
)

var clock = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

func now() time.Time { return clock }

// newPair starts a fake Slack and a Notifier for it.
func newPair(t *testing.T) (*notifytest.Slack, *Notifier) {
	t.Helper()
	s := notifytest.NewSlack()
	t.Cleanup(s.Close)
	n, err := New(notify.Target{Name: "ops", URL: s.WebhookURL()}, s.Server.Client(), now)
	if err != nil {
		t.Fatal(err)
	}
	return s, n
}

// credentials are what no error may name: the webhook and its credential.
func credentials(s *notifytest.Slack) []string {
	return []string{s.WebhookURL(), notifytest.SlackPath, "slackFakeSecret0123456789"}
}

func TestNotify(t *testing.T) {
	s, n := newPair(t)
	if err := n.Notify(context.Background(), notifytest.SampleMessage()); err != nil {
		t.Fatal(err)
	}
	if r := s.Rejected(); len(r) > 0 {
		t.Fatalf("rejected: %v", r)
	}
	got := s.Accepted()
	if len(got) != 1 {
		t.Fatalf("accepted %d deliveries, want 1", len(got))
	}
	want := "Shared public IP across stores\n" +
		"*Stores A & B share 203.0.113.7*\nStores: A, B\nIP: 203.0.113.7\nGive each store its own line <before> the next audit.\n" +
		"storefence · 2025-06-01 09:00"
	if diff := cmp.Diff(want, got[0].Text); diff != "" {
		t.Errorf("visible text mismatch (-want +got):\n%s", diff)
	}
	var p struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(got[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Text, "Shared public IP across stores\n\nStores A &amp; B share") {
		t.Errorf("fallback text = %q", p.Text)
	}
	var types []string
	for _, b := range p.Blocks {
		types = append(types, b.Type)
	}
	if diff := cmp.Diff([]string{"header", "section", "context"}, types); diff != "" {
		t.Errorf("block types mismatch (-want +got):\n%s", diff)
	}
}

func TestNotifyAnswers(t *testing.T) {
	notifytest.RunAnswers(t, kind, []notifytest.Answer{
		{Name: "invalid payload", Fault: notifytest.Fault{Status: 400, Body: "invalid_payload"}, Text: "slack: http 400: invalid_payload"},
		{Name: "no text", Fault: notifytest.Fault{Status: 400, Body: "no_text"}, Text: "slack: http 400: no_text"},
		{Name: "invalid token", Fault: notifytest.Fault{Status: 403, Body: "invalid_token"}, Text: "slack: http 403: invalid_token"},
		{Name: "action prohibited", Fault: notifytest.Fault{Status: 403, Body: "action_prohibited"}, Text: "slack: http 403: action_prohibited"},
		{Name: "no service", Fault: notifytest.Fault{Status: 404, Body: "no_service"}, Text: "slack: http 404: no_service"},
		{Name: "channel not found", Fault: notifytest.Fault{Status: 404, Body: "channel_not_found"}, Text: "slack: http 404: channel_not_found"},
		{Name: "archived", Fault: notifytest.Fault{Status: 410, Body: "channel_is_archived"}, Text: "slack: http 410: channel_is_archived"},
		{Name: "rate limited", Fault: notifytest.Fault{Status: 429, Header: map[string]string{"Retry-After": "30"}, Body: "rate_limited"}, Retry: true, After: 30 * time.Second, Text: "slack: http 429: rate_limited (retry after 30s)"},
		{Name: "rate limited, http date", Fault: notifytest.Fault{Status: 429, Header: map[string]string{"Retry-After": clock.Add(time.Minute).Format(http.TimeFormat)}}, Retry: true, After: time.Minute, Text: "slack: http 429: (empty answer) (retry after 1m0s)"},
		{Name: "rate limited, no header", Fault: notifytest.Fault{Status: 429}, Retry: true, Text: "slack: http 429: (empty answer)"},
		{Name: "rollup error", Fault: notifytest.Fault{Status: 500, Body: "rollup_error"}, Retry: true, Text: "slack: http 500: rollup_error"},
		{Name: "unavailable", Fault: notifytest.Fault{Status: 503, Header: map[string]string{"Retry-After": "5"}}, Retry: true, After: 5 * time.Second, Text: "slack: http 503: (empty answer) (retry after 5s)"},
		{Name: "echoes the webhook", Fault: notifytest.Fault{Status: 404, Body: "no_service slackFakeSecret0123456789"}, Text: "slack: http 404: no_service <redacted>"},
		{Name: "echoes the url", Fault: notifytest.Fault{Status: 400, Body: "bad " + notifytest.SlackPath}, Text: "slack: http 400: bad <redacted>"},
	}, func(t *testing.T, f notifytest.Fault) ([]string, error) {
		s, n := newPair(t)
		s.Script(f)
		return credentials(s), n.Notify(context.Background(), notifytest.SampleMessage())
	})
}

func TestNotifyNetwork(t *testing.T) {
	s, n := newPair(t)
	s.Close()
	err := n.Notify(context.Background(), notifytest.SampleMessage())
	notifytest.NoSecrets(t, err, credentials(s)...)
	notifytest.WantError(t, err, kind, true, 0)
}

func TestNotifyHuge(t *testing.T) {
	s, n := newPair(t)
	m := notifytest.HugeMessage()
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatalf("Notify: %v (rejected: %v)", err, s.Rejected())
	}
	got := s.Accepted()[0]
	var p payload
	if err := json.Unmarshal(got.Body, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Blocks) > maxBlocks {
		t.Errorf("%d blocks, want at most %d", len(p.Blocks), maxBlocks)
	}
	total := notify.Runes(p.Text) + size(p.Blocks)
	if total > maxTotal || total < maxTotal*9/10 {
		t.Errorf("%d characters, want just under %d", total, maxTotal)
	}
	if !strings.Contains(got.Text, "<!channel>") || strings.Contains(string(got.Body), "<!channel>") {
		t.Error("<!channel> was not escaped, or not delivered as text")
	}
	last := p.Blocks[len(p.Blocks)-2].Elements[0].Text
	if !strings.HasPrefix(last, "… +") {
		t.Errorf("next to last block = %q, want the count of sections left out", last)
	}
}

func TestNotifyManySections(t *testing.T) {
	s, n := newPair(t)
	m := notifytest.SampleMessage()
	for range 60 {
		m.Sections = append(m.Sections, m.Sections[0])
	}
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatalf("Notify: %v (rejected: %v)", err, s.Rejected())
	}
	var p payload
	if err := json.Unmarshal(s.Accepted()[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Blocks) != maxBlocks {
		t.Errorf("%d blocks, want %d", len(p.Blocks), maxBlocks)
	}
	if got, want := p.Blocks[len(p.Blocks)-2].Elements[0].Text, "… +14"; got != want {
		t.Errorf("next to last block = %q, want %q", got, want)
	}
}

// TestReceiverRejects checks that the fake refuses what real Slack
// refuses, and data that would mention or link, with answers that
// classify as permanent.
func TestReceiverRejects(t *testing.T) {
	s := notifytest.NewSlack()
	defer s.Close()
	section := func(text string) string {
		return `{"text":"x","blocks":[{"type":"section","text":{"type":"mrkdwn","text":` + strconv.Quote(text) + `}}]}`
	}
	for _, tt := range []struct{ name, url, body, want string }{
		{"unknown hook", s.URL() + "/services/T0/B0/other", `{"text":"x"}`, "slack: http 404: no_service"},
		{"not json", s.WebhookURL(), `text=x`, "slack: http 400: invalid_payload"},
		{"no text", s.WebhookURL(), `{"blocks":[]}`, "slack: http 400: no_text"},
		{"mention", s.WebhookURL(), section("hi <!channel>"), "slack: http 400: invalid_blocks"},
		{"bare ampersand", s.WebhookURL(), section("A & B"), "slack: http 400: invalid_blocks"},
		{"long section", s.WebhookURL(), section(strings.Repeat("中", 3001)), "slack: http 400: invalid_blocks"},
		{"long header", s.WebhookURL(), `{"text":"x","blocks":[{"type":"header","text":{"type":"plain_text","text":"` + strings.Repeat("x", 151) + `"}}]}`, "slack: http 400: invalid_blocks"},
		{"header in mrkdwn", s.WebhookURL(), `{"text":"x","blocks":[{"type":"header","text":{"type":"mrkdwn","text":"x"}}]}`, "slack: http 400: invalid_blocks"},
		{"51 blocks", s.WebhookURL(), `{"text":"x","blocks":[` + strings.Repeat(`{"type":"divider"},`, 50) + `{"type":"divider"}]}`, "slack: http 400: invalid_blocks"},
		{"too long", s.WebhookURL(), `{"text":"` + strings.Repeat("x", 40001) + `"}`, "slack: http 400: msg_too_long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ct := "application/json"
			if !strings.HasPrefix(tt.body, "{") {
				ct = "application/x-www-form-urlencoded"
			}
			resp, err := notify.Post(context.Background(), s.Server.Client(), kind, tt.url, ct, []byte(tt.body), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = checkAnswer(resp, clock)
			if retry, _ := notify.Classify(err); err == nil || retry || err.Error() != tt.want {
				t.Errorf("answer %v (retry %v), want %q", err, retry, tt.want)
			}
		})
	}
}

func TestRenderEmpty(t *testing.T) {
	_, n := newPair(t)
	err := n.Notify(context.Background(), &notify.Message{Title: " "})
	if retry, _ := notify.Classify(err); err == nil || retry {
		t.Errorf("empty message: %v, want a permanent error", err)
	}
}

func TestNew(t *testing.T) {
	for _, u := range []string{"", "hooks.slack.com/services/T/B/secretXYZ", "ftp://hooks.slack.com/services/T/B/secretXYZ", "https://", "https://hooks.slack.com/%zz/secretXYZ", "http://[::1/secretXYZ"} {
		_, err := New(notify.Target{URL: u}, nil, nil)
		if err == nil {
			t.Errorf("New(%q) succeeded", u)
			continue
		}
		if strings.Contains(err.Error(), "secretXYZ") || !strings.HasPrefix(err.Error(), "slack: ") {
			t.Errorf("New(%q) = %q: want a slack: error without the url", u, err)
		}
	}
}

func FuzzCheckAnswer(f *testing.F) {
	f.Add(200, "", []byte("ok"))
	f.Add(429, "30", []byte("rate_limited"))
	f.Add(429, "Sun, 01 Jun 2025 09:01:00 GMT", []byte(""))
	f.Add(404, "", []byte("no_service"))
	f.Add(500, "-1", []byte("rollup_error https://hooks.slack.com/services/x"))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		r := &notify.Response{Status: status, Header: http.Header{"Retry-After": {retryAfter}}, Body: body}
		notifytest.CheckStatusAnswer(t, kind, status, checkAnswer(r, clock))
	})
}
