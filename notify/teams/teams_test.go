package teams

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

func newPair(t *testing.T) (*notifytest.Teams, *Notifier) {
	t.Helper()
	r := notifytest.NewTeams()
	t.Cleanup(r.Close)
	n, err := New(notify.Target{Name: "ops", URL: r.WorkflowURL()}, r.Server.Client(), now)
	if err != nil {
		t.Fatal(err)
	}
	return r, n
}

// credentials are what no error may name: the workflow URL and its sig.
func credentials(r *notifytest.Teams) []string {
	return []string{r.WorkflowURL(), notifytest.TeamsSig, notifytest.TeamsPath}
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
	want := "Shared public IP across stores\nStores A & B share 203.0.113.7\nStores: A, B\nIP: 203.0.113.7\n" +
		"Give each store its own line <before> the next audit.\nstorefence · 2025-06-01 09:00"
	if diff := cmp.Diff(want, got[0].Text); diff != "" {
		t.Errorf("visible text mismatch (-want +got):\n%s", diff)
	}
	var p map[string]any
	if err := json.Unmarshal(got[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	a := p["attachments"].([]any)[0].(map[string]any)
	c := a["content"].(map[string]any)
	if v, ok := a["contentUrl"]; !ok || v != nil {
		t.Errorf("contentUrl = %v, %v; want present and null", v, ok)
	}
	if c["version"] != "1.4" || c["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json" {
		t.Errorf("card version %v, schema %v", c["version"], c["$schema"])
	}
	title := c["body"].([]any)[0].(map[string]any)
	if title["color"] != "Attention" || title["weight"] != "Bolder" {
		t.Errorf("title block = %v", title)
	}
}

func TestColour(t *testing.T) {
	for _, tt := range []struct {
		m    notify.Message
		want string
	}{
		{notify.Message{Severity: "critical"}, "Attention"},
		{notify.Message{Severity: "high", Resolved: true}, "Good"},
		{notify.Message{Severity: "high"}, "Attention"},
		{notify.Message{Severity: "medium"}, "Warning"},
		{notify.Message{Severity: "low"}, "Default"},
		{notify.Message{}, "Default"},
	} {
		if got := colour(&tt.m); got != tt.want {
			t.Errorf("colour(%+v) = %s, want %s", tt.m, got, tt.want)
		}
	}
}

func TestNotifyAnswers(t *testing.T) {
	notifytest.RunAnswers(t, kind, []notifytest.Answer{
		{Name: "accepted with 200", Fault: notifytest.Fault{Status: 200, Body: "1"}},
		{Name: "bad request", Fault: notifytest.Fault{Status: 400, Body: `{"error":{"code":"InvalidRequestContent","message":"The input body for trigger 'manual' of type 'Request' did not match its schema definition."}}`},
			Text: "teams: http 400: InvalidRequestContent: The input body for trigger 'manual' of type 'Request' did not match its schema definition."},
		{Name: "bad sig", Fault: notifytest.Fault{Status: 401, Body: `{"error":{"code":"DirectApiInvalidAuthorizationSignature","message":"The provided authorization signature is invalid."}}`},
			Text: "teams: http 401: DirectApiInvalidAuthorizationSignature: The provided authorization signature is invalid."},
		{Name: "flow disabled", Fault: notifytest.Fault{Status: 409, Body: `{"error":{"code":"WorkflowTriggerIsNotEnabled","message":"Could not find a workflow trigger."}}`},
			Text: "teams: http 409: WorkflowTriggerIsNotEnabled: Could not find a workflow trigger."},
		{Name: "not found, html", Fault: notifytest.Fault{Status: 404, Body: "<html>not found</html>"}, Text: "teams: http 404: <html>not found</html>"},
		{Name: "throttled", Fault: notifytest.Fault{Status: 429, Header: map[string]string{"Retry-After": "12"}, Body: `{"error":{"code":"WorkflowRequestsThrottled","message":"Number of requests exceeded."}}`},
			Retry: true, After: 12 * time.Second, Text: "teams: http 429: WorkflowRequestsThrottled: Number of requests exceeded. (retry after 12s)"},
		{Name: "server error", Fault: notifytest.Fault{Status: 500}, Retry: true, Text: "teams: http 500: (empty answer)"},
		{Name: "gateway timeout", Fault: notifytest.Fault{Status: 504, Header: map[string]string{"Retry-After": "1"}}, Retry: true, After: time.Second, Text: "teams: http 504: (empty answer) (retry after 1s)"},
		{Name: "echoes the sig", Fault: notifytest.Fault{Status: 401, Body: `{"error":{"code":"X","message":"sig ` + notifytest.TeamsSig + ` is wrong"}}`}, Text: "teams: http 401: X: sig <redacted> is wrong"},
	}, func(t *testing.T, f notifytest.Fault) ([]string, error) {
		r, n := newPair(t)
		r.Script(f)
		return credentials(r), n.Notify(context.Background(), notifytest.SampleMessage())
	})
}

func TestReceiverRejectsBadSig(t *testing.T) {
	r := notifytest.NewTeams()
	defer r.Close()
	n, err := New(notify.Target{URL: strings.Replace(r.WorkflowURL(), notifytest.TeamsSig, "wrongsig", 1)}, r.Server.Client(), now)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), notifytest.SampleMessage())
	notifytest.NoSecrets(t, err, credentials(r)...)
	if retry, _ := notify.Classify(err); err == nil || retry || strings.Contains(err.Error(), "wrongsig") {
		t.Errorf("Notify = %v (retry %v), want a permanent error without the sig", err, retry)
	}
}

// TestReceiverRejects checks that the fake refuses what is not a card in
// the Workflows envelope, with answers that classify as permanent.
func TestReceiverRejects(t *testing.T) {
	r := notifytest.NewTeams()
	defer r.Close()
	card := func(version, body string) string {
		return `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{"type":"AdaptiveCard","version":"` + version + `","body":` + body + `}}]}`
	}
	for _, tt := range []struct{ name, body, want string }{
		{"message card", `{"@type":"MessageCard","text":"x"}`, "teams: http 400: InvalidRequestContent: The request content is not valid: type \"\" with 0 attachments, want a message with attachments"},
		{"version 1.6", card("1.6", `[]`), "teams: http 400: InvalidRequestContent"},
		{"unknown element", card("1.4", `[{"type":"Image","url":"x"}]`), "teams: http 400: InvalidRequestContent"},
		{"textblock without text", card("1.4", `[{"type":"TextBlock"}]`), "teams: http 400: InvalidRequestContent"},
		{"too large", card("1.4", `[{"type":"TextBlock","text":"`+strings.Repeat("x", 28<<10)+`"}]`), "teams: http 413: MessageTooLarge"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := notify.Post(context.Background(), r.Server.Client(), kind, r.WorkflowURL(), "application/json", []byte(tt.body), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = checkAnswer(resp, clock)
			if retry, _ := notify.Classify(err); err == nil || retry || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("answer %v (retry %v), want %q…", err, retry, tt.want)
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
	got := r.Accepted()[0]
	if len(got.Body) > maxBody || len(got.Body) < maxBody*9/10 {
		t.Errorf("body of %d bytes, want just under %d", len(got.Body), maxBody)
	}
	if !strings.Contains(got.Text, "店铺共用同一公网IP") || !strings.Contains(got.Text, "…\n") {
		t.Errorf("text does not keep the Chinese or show the cut")
	}
}

func TestNew(t *testing.T) {
	for _, u := range []string{
		"https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=secretXYZ",
		"https://default0a1b.2c.environment.api.powerplatform.com/powerautomate/automations/direct/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=secretXYZ",
	} {
		if _, err := New(notify.Target{URL: u}, nil, nil); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	for _, tt := range []struct{ url, want string }{
		{"https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/secretXYZ/123", "teams: office 365 connector webhooks are retired"},
		{"https://CONTOSO.WEBHOOK.OFFICE.COM./webhookb2/secretXYZ", "teams: office 365 connector webhooks are retired"},
		{"https://outlook.office.com/webhook/abc/IncomingWebhook/secretXYZ/123", "teams: office 365 connector webhooks are retired"},
		{"", "teams: webhook url is not"},
		{"logic.azure.com/secretXYZ", "teams: webhook url is not"},
		{"https://%zz/secretXYZ", "teams: webhook url does not parse"},
	} {
		_, err := New(notify.Target{URL: tt.url}, nil, nil)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "secretXYZ") || strings.Contains(err.Error(), "office.com") {
			t.Errorf("New(%q) = %v, want %q… without the url", tt.url, err, tt.want)
		}
	}
}

func FuzzCheckAnswer(f *testing.F) {
	f.Add(202, "", []byte(""))
	f.Add(429, "12", []byte(`{"error":{"code":"WorkflowRequestsThrottled","message":"x"}}`))
	f.Add(400, "", []byte(`{"error":{"code":"InvalidRequestContent","message":"see https://aka.ms/x"}}`))
	f.Add(401, "", []byte(`{"error":"string"}`))
	f.Add(500, "NaN", []byte(`{"error":{"code":""}}`))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		r := &notify.Response{Status: status, Header: http.Header{"Retry-After": {retryAfter}}, Body: body}
		notifytest.CheckStatusAnswer(t, kind, status, checkAnswer(r, clock))
	})
}
