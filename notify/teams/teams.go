// Package teams delivers notify messages to Microsoft Teams through a
// Workflows webhook (Power Automate: "When a Teams webhook request is
// received"; https://….logic.azure.com/workflows/…/paths/invoke?…&sig=…
// or https://….api.powerplatform.com/…; the sig= parameter is the
// credential, nothing is signed). The message is an Adaptive Card 1.4 in
// the message envelope Workflows expects: a TextBlock with the title
// (coloured by severity, green once resolved), then per section a bold
// TextBlock, a FactSet of its fields and a TextBlock of its text, and the
// footer in small subtle text.
//
// Office 365 connector webhooks (*.webhook.office.com,
// outlook.office.com) are retired and New refuses them, telling the
// operator to create a Workflows webhook (protocols.md section 2.6).
//
// Teams renders a Markdown subset in TextBlocks and facts; its clients
// disagree on backslash escapes (AdaptiveCards issues #5590 and #4677),
// so text is sent as it is. Teams limits a message to 28 KB: the whole
// request body is kept within 28000 bytes, the message cut in its text.
//
// A Workflows URL answers 202 Accepted, which only means the flow was
// triggered: a failure to post shows in the flow's run history, not here.
// Any 2xx is accepted; 429 and 5xx are retried (after Retry-After); the
// rest is permanent, its reason the Logic Apps {"error": {"code",
// "message"}} when there is one.
package teams

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/storefence/storefence/notify"
)

const kind = "teams"

// maxBody is the most bytes sent: Teams documents 28 KB per message.
const maxBody = 28000

// retiredHosts are the domains of the retired Office 365 connectors.
var retiredHosts = []string{"webhook.office.com", "outlook.office.com"}

// Notifier sends messages to one Teams Workflows webhook.
type Notifier struct {
	ep  *notify.Endpoint
	url string
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier for the Workflows webhook t.URL. It refuses an
// Office 365 connector URL. A nil client means http.DefaultClient and a
// nil now means time.Now. The error never quotes the URL.
func New(t notify.Target, client *http.Client, now func() time.Time) (*Notifier, error) {
	ep, u, err := notify.NewEndpoint(kind, "webhook url", t, client, now)
	if err != nil {
		return nil, err
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	for _, h := range retiredHosts {
		if host == h || strings.HasSuffix(host, "."+h) {
			return nil, errors.New("teams: office 365 connector webhooks are retired; " +
				"create a workflow from the template \"post to a channel when a webhook request is received\" and use its url")
		}
	}
	ep.Hide(u.Query().Get("sig"))
	return &Notifier{ep: ep, url: t.URL}, nil
}

// Notify sends m. It returns nil once the workflow accepted it (a 2xx,
// normally 202), and otherwise a *notify.Error: retryable for 429, 5xx
// and network failures, permanent for the rest.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	if m == nil {
		return notify.Permanent(kind, 0, "no message")
	}
	body, err := render(m)
	if err != nil {
		return notify.Permanent(kind, 0, "render message: %v", err)
	}
	return n.ep.Send(ctx, n.url, "application/json", body, nil, checkAnswer)
}

// checkAnswer sorts the workflow's answer the way notify.CheckStatus
// does, naming the Logic Apps error code and message when the body has
// them.
func checkAnswer(r *notify.Response, now time.Time) error {
	err := notify.CheckStatus(kind, r, now)
	var e *notify.Error
	if !errors.As(err, &e) {
		return err
	}
	var a struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(r.Body, &a) == nil && a.Error.Code != "" {
		e.Reason = notify.Snippet([]byte(a.Error.Code + ": " + a.Error.Message))
	}
	return e
}

// envelope is the message Workflows' Teams trigger expects.
type envelope struct {
	Type        string       `json:"type"`
	Attachments []attachment `json:"attachments"`
}

type attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"` // null
	Content     card    `json:"content"`
}

type card struct {
	Schema  string    `json:"$schema"`
	Type    string    `json:"type"`
	Version string    `json:"version"`
	Body    []element `json:"body"`
	MSTeams msteams   `json:"msteams"`
}

type msteams struct {
	Width string `json:"width"`
}

// element is a TextBlock or a FactSet.
type element struct {
	Type      string `json:"type"`
	Text      string `json:"text,omitempty"`
	Weight    string `json:"weight,omitempty"`
	Size      string `json:"size,omitempty"`
	Color     string `json:"color,omitempty"`
	IsSubtle  bool   `json:"isSubtle,omitempty"`
	Wrap      bool   `json:"wrap,omitempty"`
	Separator bool   `json:"separator,omitempty"`
	Spacing   string `json:"spacing,omitempty"`
	Facts     []fact `json:"facts,omitempty"`
}

type fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// render encodes m within maxBody bytes.
func render(m *notify.Message) ([]byte, error) {
	if strings.TrimSpace(m.Plain()) == "" {
		return nil, errors.New("empty message")
	}
	var body []byte
	fitted, err := notify.FitMessage(m, maxBody, func(c *notify.Message) int {
		body = encode(c)
		return len(body)
	})
	if err != nil {
		return nil, err
	}
	if fitted != m { // the last body measured was another cut
		body = encode(fitted)
	}
	return body, nil
}

// encode is m as the card in its envelope.
func encode(m *notify.Message) []byte {
	var els []element
	if m.Title != "" {
		els = append(els, element{Type: "TextBlock", Text: m.Title, Weight: "Bolder", Size: "Medium", Color: colour(m), Wrap: true})
	}
	for _, s := range m.Sections {
		if s.Title != "" {
			els = append(els, element{Type: "TextBlock", Text: s.Title, Weight: "Bolder", Wrap: true, Separator: true, Spacing: "Medium"})
		}
		if len(s.Fields) > 0 {
			fs := element{Type: "FactSet"}
			for _, f := range s.Fields {
				fs.Facts = append(fs.Facts, fact{Title: f.Name, Value: f.Value})
			}
			els = append(els, fs)
		}
		if s.Text != "" {
			els = append(els, element{Type: "TextBlock", Text: s.Text, Wrap: true})
		}
	}
	if m.Footer != "" {
		els = append(els, element{Type: "TextBlock", Text: m.Footer, Size: "Small", IsSubtle: true, Wrap: true, Spacing: "Medium"})
	}
	b, err := json.Marshal(envelope{Type: "message", Attachments: []attachment{{
		ContentType: "application/vnd.microsoft.card.adaptive",
		Content: card{
			Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
			Type:    "AdaptiveCard",
			Version: "1.4",
			Body:    els,
			MSTeams: msteams{Width: "Full"},
		},
	}}})
	if err != nil { // strings and slices only: cannot happen
		panic(err)
	}
	return b
}

// colour is the title's Adaptive Card colour for m's severity.
func colour(m *notify.Message) string {
	switch {
	case m.Resolved:
		return "Good"
	case m.Severity == "critical" || m.Severity == "high":
		return "Attention"
	case m.Severity == "medium":
		return "Warning"
	}
	return "Default"
}
