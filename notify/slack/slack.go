// Package slack delivers notify messages to a Slack incoming webhook
// (https://hooks.slack.com/services/T…/B…/…; the URL is the credential,
// nothing is signed) as Block Kit: a header block with the title, one
// mrkdwn section block per message section, a context block with the
// footer, and the top-level "text" that Slack shows in notifications and
// in clients without blocks (m.Plain, cut).
//
// Text is escaped as Slack asks (& < > become &amp; &lt; &gt;), so data
// can neither mention (<!channel>) nor link; Slack has no escape for * _ ~
// and `, which may still format. Limits (Block Kit reference and
// chat.postMessage "Truncating content"; protocols.md section 2.4): a
// header's plain_text is at most 150 characters, a text object 3000, a
// message 50 blocks, and "text" best under 4000; Slack truncates a
// message over 40000 characters, so the text of all blocks and the
// fallback together stay within that. Sections past the block limit are
// left out and counted in a context block ("… +3").
//
// Slack answers HTTP 200 "ok". Errors are plain-text bodies: 400
// invalid_payload or no_text, 403 invalid_token, 404 no_service
// (the webhook was removed), 410 channel_is_archived are permanent; 429
// (with Retry-After, in seconds) and 5xx are retried.
package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/storefence/storefence/notify"
)

const kind = "slack"

// Limits Slack documents, in characters.
const (
	maxHeader  = 150   // a header block's plain_text
	maxSection = 3000  // a text object
	maxBlocks  = 50    // blocks in a message
	maxText    = 4000  // the top-level text, "for best results"
	maxTotal   = 40000 // beyond it Slack truncates a message
)

// maxSections is how many sections are sent as blocks: the header, the
// count of those left out and the footer take the other three.
const maxSections = maxBlocks - 3

// Notifier sends messages to one Slack incoming webhook.
type Notifier struct {
	ep  *notify.Endpoint // scrubs the URL and its parts from errors
	url string
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier for the incoming webhook t.URL. A nil client
// means http.DefaultClient and a nil now means time.Now. The error never
// quotes the URL.
func New(t notify.Target, client *http.Client, now func() time.Time) (*Notifier, error) {
	ep, u, err := notify.NewEndpoint(kind, "webhook url", t, client, now)
	if err != nil {
		return nil, err
	}
	if len(u.Path) > 1 {
		ep.Hide(u.Path, path.Base(u.Path))
	}
	return &Notifier{ep: ep, url: t.URL}, nil
}

// Notify sends m. It returns nil once Slack accepted it (any 2xx; Slack
// answers 200 "ok"), and otherwise a *notify.Error: retryable for 429,
// 5xx and network failures, permanent for the rest.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	if m == nil {
		return notify.Permanent(kind, 0, "no message")
	}
	p, err := render(m)
	if err != nil {
		return notify.Permanent(kind, 0, "render message: %v", err)
	}
	return n.ep.SendJSON(ctx, n.url, "application/json; charset=utf-8", p, checkAnswer)
}

// checkAnswer sorts Slack's answer: 2xx is accepted, 429 and 5xx are
// retried after their Retry-After, the rest is permanent; the plain-text
// body (invalid_payload, no_service, ...) is the reason.
func checkAnswer(r *notify.Response, now time.Time) error {
	return notify.CheckStatus(kind, r, now)
}

// payload is an incoming-webhook message.
type payload struct {
	Text   string  `json:"text"`
	Blocks []block `json:"blocks"`
}

type block struct {
	Type     string       `json:"type"`
	Text     *textObject  `json:"text,omitempty"`
	Elements []textObject `json:"elements,omitempty"`
}

type textObject struct {
	Type string `json:"type"` // plain_text or mrkdwn
	Text string `json:"text"`
}

// render lays m out within Slack's limits.
func render(m *notify.Message) (*payload, error) {
	plain := m.Plain()
	if strings.TrimSpace(plain) == "" {
		return nil, errors.New("empty message")
	}
	text, err := notify.Fit(plain, maxText, escape, notify.Runes)
	if err != nil {
		return nil, err
	}
	// Cut each piece to its own limit first, then the whole to the
	// message's.
	c := *m
	c.Title = cut(oneLine(m.Title), maxHeader, func(s string) string { return s })
	c.Footer = cut(m.Footer, maxSection, escape)
	shown, hidden := m.Sections, 0
	if len(shown) > maxSections {
		shown, hidden = shown[:maxSections], len(shown)-maxSections
	}
	c.Sections = make([]notify.Section, len(shown))
	for i, s := range shown {
		one, err := notify.FitMessage(&notify.Message{Sections: []notify.Section{s}}, maxSection, func(o *notify.Message) int {
			return notify.Runes(section(o.Sections[0]))
		})
		if err != nil {
			return nil, err
		}
		c.Sections[i] = one.Sections[0]
	}
	const noteRoom = 16 // "… +N"
	fitted, err := notify.FitMessage(&c, maxTotal-notify.Runes(text)-noteRoom, func(c *notify.Message) int {
		return size(blocks(c, 0))
	})
	if err != nil {
		return nil, err
	}
	hidden += len(c.Sections) - len(fitted.Sections)
	return &payload{Text: text, Blocks: blocks(fitted, hidden)}, nil
}

// blocks is the Block Kit layout of m, with a note counting the hidden
// sections left out.
func blocks(m *notify.Message, hidden int) []block {
	var bs []block
	if strings.TrimSpace(m.Title) != "" {
		bs = append(bs, block{Type: "header", Text: &textObject{Type: "plain_text", Text: m.Title}})
	}
	for _, s := range m.Sections {
		if t := section(s); t != "" {
			bs = append(bs, block{Type: "section", Text: &textObject{Type: "mrkdwn", Text: t}})
		}
	}
	if hidden > 0 {
		bs = append(bs, block{Type: "context", Elements: []textObject{{Type: "mrkdwn", Text: fmt.Sprintf("… +%d", hidden)}}})
	}
	if m.Footer != "" {
		bs = append(bs, block{Type: "context", Elements: []textObject{{Type: "mrkdwn", Text: escape(m.Footer)}}})
	}
	return bs
}

// section is s as mrkdwn: its title in bold, a "name: value" line per
// field, then its text.
func section(s notify.Section) string {
	var lines []string
	if t := oneLine(s.Title); strings.TrimSpace(t) != "" {
		lines = append(lines, "*"+escape(t)+"*")
	}
	for _, f := range s.Fields {
		line := escape(f.Value)
		if f.Name != "" {
			line = escape(f.Name) + ": " + line
		}
		lines = append(lines, line)
	}
	if s.Text != "" {
		lines = append(lines, escape(s.Text))
	}
	return strings.Join(lines, "\n")
}

// size counts the characters of the blocks' texts.
func size(bs []block) int {
	n := 0
	for _, b := range bs {
		if b.Text != nil {
			n += notify.Runes(b.Text.Text)
		}
		for _, e := range b.Elements {
			n += notify.Runes(e.Text)
		}
	}
	return n
}

// cut returns the longest prefix of s (with "…" when cut) whose rendering
// has at most limit characters.
func cut(s string, limit int, render func(string) string) string {
	p, err := notify.Fit(s, limit, func(p string) string { return p }, func(p string) int { return notify.Runes(render(p)) })
	if err != nil {
		return ""
	}
	return p
}

// escaper replaces the three characters Slack reserves for its markup
// ("Escaping text" in Slack's formatting reference).
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escape(s string) string { return escaper.Replace(s) }

// oneLine replaces line breaks, for a header or a bold line.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
