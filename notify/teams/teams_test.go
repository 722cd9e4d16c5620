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

// noSecrets fails t when err's text names the workflow URL or its sig.
func noSecrets(t *testing.T, err error, r *notifytest.Teams) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{r.WorkflowURL(), notifytest.TeamsSig, notifytest.TeamsPath} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains a credential", err)
		}
	}
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
	tests := []struct {
		name      string
		fault     notifytest.Fault
		wantRetry bool
		wantAfter time.Duration
		wantText  string
	}{
		{"accepted with 200", notifytest.Fault{Status: 200, Body: "1"}, false, 0, ""},
		{"bad request", notifytest.Fault{Status: 400, Body: `{"error":{"code":"InvalidRequestContent","message":"The input body for trigger 'manual' of type 'Request' did not match its schema definition."}}`},
			false, 0, "teams: http 400: InvalidRequestContent: The input body for trigger 'manual' of type 'Request' did not match its schema definition."},
		{"bad sig", notifytest.Fault{Status: 401, Body: `{"error":{"code":"DirectApiInvalidAuthorizationSignature","message":"The provided authorization signature is invalid."}}`},
			false, 0, "teams: http 401: DirectApiInvalidAuthorizationSignature: The provided authorization signature is invalid."},
		{"flow disabled", notifytest.Fault{Status: 409, Body: `{"error":{"code":"WorkflowTriggerIsNotEnabled","message":"Could not find a workflow trigger."}}`},
			false, 0, "teams: http 409: WorkflowTriggerIsNotEnabled: Could not find a workflow trigger."},
		{"not found, html", notifytest.Fault{Status: 404, Body: "<html>not found</html>"}, false, 0, "teams: http 404: <html>not found</html>"},
		{"throttled", notifytest.Fault{Status: 429, Header: map[string]string{"Retry-After": "12"}, Body: `{"error":{"code":"WorkflowRequestsThrottled","message":"Number of requests exceeded."}}`},
			true, 12 * time.Second, "teams: http 429: WorkflowRequestsThrottled: Number of requests exceeded. (retry after 12s)"},
		{"server error", notifytest.Fault{Status: 500}, true, 0, "teams: http 500: (empty answer)"},
		{"gateway timeout", notifytest.Fault{Status: 504, Header: map[string]string{"Retry-After": "1"}}, true, time.Second, "teams: http 504: (empty answer) (retry after 1s)"},
		{"echoes the sig", notifytest.Fault{Status: 401, Body: `{"error":{"code":"X","message":"sig ` + notifytest.TeamsSig + ` is wrong"}}`}, false, 0, "teams: http 401: X: sig <redacted> is wrong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, n := newPair(t)
			r.Script(tt.fault)
			err := n.Notify(context.Background(), notifytest.SampleMessage())
			noSecrets(t, err, r)
			if tt.wantText == "" {
				if err != nil {
					t.Fatalf("Notify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			retry, after := notify.Classify(err)
			if retry != tt.wantRetry || after != tt.wantAfter {
				t.Errorf("Classify = %v, %v; want %v, %v", retry, after, tt.wantRetry, tt.wantAfter)
			}
			if err.Error() != tt.wantText {
				t.Errorf("error = %q, want %q", err, tt.wantText)
			}
		})
	}
}

func TestReceiverRejectsBadSig(t *testing.T) {
	r := notifytest.NewTeams()
	defer r.Close()
	n, err := New(notify.Target{URL: strings.Replace(r.WorkflowURL(), notifytest.TeamsSig, "wrongsig", 1)}, r.Server.Client(), now)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), notifytest.SampleMessage())
	noSecrets(t, err, r)
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
	noSecrets(t, err, r)
	if retry, _ := notify.Classify(err); !retry {
		t.Errorf("closed server: Classify(%v) = permanent, want retryable", err)
	}
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
		{"https://%zz/secretXYZ", "teams: webhook url is not"},
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
		err := checkAnswer(r, clock)
		if (err == nil) != (status >= 200 && status < 300) {
			t.Fatalf("status %d: err = %v", status, err)
		}
		if err == nil {
			return
		}
		retry, after := notify.Classify(err)
		if retry != (status == 429 || status >= 500) || after < 0 || after > 24*time.Hour || !retry && after != 0 {
			t.Fatalf("status %d: Classify = %v, %v", status, retry, after)
		}
		if s := err.Error(); strings.Contains(s, "://") || strings.Contains(s, "\n") || !strings.HasPrefix(s, "teams: ") {
			t.Fatalf("error text %q", s)
		}
	})
}
