// Package discord delivers notify messages to a Discord webhook
// (https://discord.com/api/v10/webhooks/{id}/{token}; the URL is the
// credential, nothing is signed) as one embed: the title, a colour for the
// severity (green once resolved), one field per section (its title; its
// "name: value" lines and text), the footer and the time the message was
// created. "allowed_mentions": {"parse": []} is always sent, so no text in
// a message can ever ping @everyone, a role or a user; Discord's markdown
// characters are escaped with a backslash as well, so data cannot format,
// link (masked links) or render mentions.
//
// New sends to the versioned API: the URL Discord's UI copies,
// /api/webhooks/{id}/{token}, is rewritten to /api/v10/webhooks/{id}/{token}.
// Unversioned, Discord applies a deprecated default API version, under
// which retry_after and Retry-After came back in milliseconds, not seconds
// (discord-api-docs issues #2360 and #4722; protocols.md section 2.5).
//
// Limits (Discord's "Embed Limits"): title 256 characters, field name
// 256, field value 1024, footer 2048, 25 fields, and 6000 characters over
// the whole embed. Sections past the 25th field are counted in the last
// one ("… +3").
//
// Discord answers 204 No Content (200 with the message when the URL asks
// ?wait=true). 429 carries {"message", "retry_after" (float seconds),
// "global"} and a Retry-After header: the body's retry_after is honoured,
// the header when the body has none (a Cloudflare ban). 5xx is retried; the
// rest is permanent, e.g. 400 {"code": 50035, "message": "Invalid Form
// Body", "errors": {...}} or 404 {"code": 10015, "message": "Unknown Webhook"}.
package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/storefence/storefence/notify"
)

const kind = "discord"

// Limits Discord documents for an embed, in characters.
const (
	maxTitle  = 256
	maxName   = 256
	maxValue  = 1024
	maxFooter = 2048
	maxFields = 25
	maxTotal  = 6000
)

// Colours by severity (Discord's palette).
const (
	colourResolved = 0x2ECC71 // green
	colourCritical = 0x992D22 // dark red
	colourHigh     = 0xE74C3C // red
	colourMedium   = 0xE67E22 // orange
	colourLow      = 0xF1C40F // yellow
	colourInfo     = 0x3498DB // blue
	colourNone     = 0x95A5A6 // grey: a test message
)

// webhookPath matches a webhook's path, versioned or not.
var webhookPath = regexp.MustCompile(`^/api(/v[0-9]+)?/webhooks/([0-9]+)/([A-Za-z0-9_.-]+)/?$`)

// Notifier sends messages to one Discord webhook.
type Notifier struct {
	ep  *notify.Endpoint
	url string // on /api/v10
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier for the webhook t.URL, moved to /api/v10 when it
// names another API version or none. A nil client means http.DefaultClient
// and a nil now means time.Now. The error never quotes the URL.
func New(t notify.Target, client *http.Client, now func() time.Time) (*Notifier, error) {
	ep, u, err := notify.NewEndpoint(kind, "webhook url", t, client, now)
	if err != nil {
		return nil, err
	}
	p := webhookPath.FindStringSubmatch(u.Path)
	if p == nil {
		return nil, errors.New("discord: webhook url is not of the form https://discord.com/api/webhooks/{id}/{token}")
	}
	token := p[3]
	u.Path, u.RawPath = "/api/v10/webhooks/"+p[2]+"/"+token, ""
	ep.Hide(u.String(), token)
	return &Notifier{ep: ep, url: u.String()}, nil
}

// Notify sends m. It returns nil once Discord accepted it, and otherwise
// a *notify.Error: retryable for 429, 5xx and network failures, permanent
// for the rest.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	if m == nil {
		return notify.Permanent(kind, 0, "no message")
	}
	p, err := render(m)
	if err != nil {
		return notify.Permanent(kind, 0, "render message: %v", err)
	}
	return n.ep.SendJSON(ctx, n.url, "application/json", p, checkAnswer)
}

// answer is Discord's JSON error.
type answer struct {
	Message    string          `json:"message"`
	Code       int             `json:"code"`
	RetryAfter *float64        `json:"retry_after"`
	Global     bool            `json:"global"`
	Errors     json.RawMessage `json:"errors"`
}

// checkAnswer sorts Discord's answer: 2xx is accepted; 429 is retried
// after the body's retry_after, or the Retry-After header; 5xx is
// retried; the rest is permanent, its reason Discord's code and message
// and the first invalid field.
func checkAnswer(r *notify.Response, now time.Time) error {
	if r.Status >= 200 && r.Status < 300 {
		return nil
	}
	var a answer
	jsonErr := json.Unmarshal(r.Body, &a)
	if r.Status == http.StatusTooManyRequests {
		after := notify.RetryAfter(r.Header, now)
		if jsonErr == nil && a.RetryAfter != nil && *a.RetryAfter > 0 {
			after = notify.Seconds(*a.RetryAfter)
		}
		reason := "rate limited"
		if a.Global {
			reason += " (global)"
		}
		if s := r.Header.Get("X-RateLimit-Scope"); s != "" {
			reason += ", scope " + s
		}
		return notify.Retryable(kind, r.Status, after, "%s", notify.Snippet([]byte(reason)))
	}
	if jsonErr != nil || a.Code == 0 && a.Message == "" {
		return notify.CheckStatus(kind, r, now)
	}
	reason := fmt.Sprintf("code %d: %s", a.Code, a.Message)
	if f := firstFormError(a.Errors); f != "" {
		reason += " (" + f + ")"
	}
	reason = notify.Snippet([]byte(reason))
	if r.Status >= 500 {
		return notify.Retryable(kind, r.Status, notify.RetryAfter(r.Header, now), "%s", reason)
	}
	return notify.Permanent(kind, r.Status, "%s", reason)
}

// firstFormError names the first invalid field in Discord's errors
// object, {"embeds": {"0": {"title": {"_errors": [{"code": ...}]}}}}, as
// "embeds.0.title: BASE_TYPE_MAX_LENGTH"; "" when there is none.
func firstFormError(raw json.RawMessage) string {
	var tree any
	if len(raw) == 0 || json.Unmarshal(raw, &tree) != nil {
		return ""
	}
	var walk func(v any, path []string) string
	walk = func(v any, path []string) string {
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		if list, ok := obj["_errors"].([]any); ok && len(list) > 0 {
			code := "invalid"
			if e, ok := list[0].(map[string]any); ok {
				if c, ok := e["code"].(string); ok {
					code = c
				}
			}
			if len(path) == 0 {
				return code
			}
			return strings.Join(path, ".") + ": " + code
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if s := walk(obj[k], append(path, k)); s != "" {
				return s
			}
		}
		return ""
	}
	return walk(tree, nil)
}

// payload is an Execute Webhook body.
type payload struct {
	Embeds          []embed         `json:"embeds"`
	AllowedMentions allowedMentions `json:"allowed_mentions"`
}

type allowedMentions struct {
	Parse []string `json:"parse"` // empty: nothing in the message pings
}

type embed struct {
	Title     string  `json:"title,omitempty"`
	Color     int     `json:"color"`
	Fields    []field `json:"fields,omitempty"`
	Footer    *footer `json:"footer,omitempty"`
	Timestamp string  `json:"timestamp,omitempty"`
}

type field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type footer struct {
	Text string `json:"text"`
}

// blank stands for an empty field name or value, which Discord refuses.
const blank = "\u200b"

// render lays m out within Discord's limits.
func render(m *notify.Message) (*payload, error) {
	if strings.TrimSpace(m.Plain()) == "" {
		return nil, errors.New("empty message")
	}
	// Cut each piece to its own limit first, then the whole embed to 6000.
	c := *m
	c.Title = cut(oneLine(m.Title), maxTitle)
	c.Footer = cut(m.Footer, maxFooter)
	shown, hidden := m.Sections, 0
	if len(shown) > maxFields {
		shown, hidden = shown[:maxFields-1], len(shown)-(maxFields-1)
	}
	c.Sections = make([]notify.Section, len(shown))
	for i, s := range shown {
		body, err := notify.FitMessage(&notify.Message{Sections: []notify.Section{{Fields: s.Fields, Text: s.Text}}}, maxValue, func(o *notify.Message) int {
			return notify.Runes(value(o.Sections[0]))
		})
		if err != nil {
			return nil, err
		}
		c.Sections[i] = body.Sections[0]
		c.Sections[i].Title = cut(oneLine(s.Title), maxName)
	}
	const noteRoom = 16 // "…" and "+N"
	fitted, err := notify.FitMessage(&c, maxTotal-noteRoom, func(c *notify.Message) int {
		return size(layout(c, 0))
	})
	if err != nil {
		return nil, err
	}
	hidden += len(c.Sections) - len(fitted.Sections)
	return &payload{Embeds: []embed{layout(fitted, hidden)}, AllowedMentions: allowedMentions{Parse: []string{}}}, nil
}

// layout is the embed for m, with a last field counting the hidden
// sections left out.
func layout(m *notify.Message, hidden int) embed {
	e := embed{Title: escape(m.Title), Color: colour(m)}
	for _, s := range m.Sections {
		f := field{Name: escape(s.Title), Value: value(s)}
		if strings.TrimSpace(f.Name) == "" {
			f.Name = blank
		}
		if strings.TrimSpace(f.Value) == "" {
			f.Value = blank
		}
		e.Fields = append(e.Fields, f)
	}
	if hidden > 0 {
		e.Fields = append(e.Fields, field{Name: "…", Value: fmt.Sprintf("+%d", hidden)})
	}
	if m.Footer != "" {
		e.Footer = &footer{Text: escape(m.Footer)}
	}
	if !m.Created.IsZero() {
		e.Timestamp = m.Created.UTC().Format(time.RFC3339)
	}
	return e
}

// value is a section's field value: "**name:** value" lines, then its
// text.
func value(s notify.Section) string {
	var lines []string
	for _, f := range s.Fields {
		line := escape(f.Value)
		if f.Name != "" {
			line = "**" + escape(f.Name) + ":** " + line
		}
		lines = append(lines, line)
	}
	if s.Text != "" {
		lines = append(lines, escape(s.Text))
	}
	return strings.Join(lines, "\n")
}

// size is the embed's length as Discord counts it against 6000: title,
// field names and values, footer.
func size(e embed) int {
	n := notify.Runes(e.Title)
	for _, f := range e.Fields {
		n += notify.Runes(f.Name) + notify.Runes(f.Value)
	}
	if e.Footer != nil {
		n += notify.Runes(e.Footer.Text)
	}
	return n
}

// colour is the embed's colour for m's severity.
func colour(m *notify.Message) int {
	if m.Resolved {
		return colourResolved
	}
	switch m.Severity {
	case "critical":
		return colourCritical
	case "high":
		return colourHigh
	case "medium":
		return colourMedium
	case "low":
		return colourLow
	case "info":
		return colourInfo
	}
	return colourNone
}

// cut returns the longest prefix of s (with "…" when cut) whose escaped
// form has at most limit characters.
func cut(s string, limit int) string {
	p, err := notify.Fit(s, limit, func(p string) string { return p }, func(p string) int { return notify.Runes(escape(p)) })
	if err != nil {
		return ""
	}
	return p
}

// escape puts a backslash before the characters that start Discord
// markdown: anywhere \ * _ ~ ` | [ ] < (emphasis, code, spoilers, masked
// links, mentions), and at the start of a line # - > (headings, lists,
// quotes). Discord drops a backslash before any ASCII punctuation, the
// way discord.js's escapeMarkdown relies on.
func escape(s string) string {
	var b strings.Builder
	lineStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if strings.IndexByte("\\*_~`|[]<", c) >= 0 || lineStart && strings.IndexByte("#->", c) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
		switch c {
		case '\n':
			lineStart = true
		case ' ', '\t':
		default:
			lineStart = false
		}
	}
	return b.String()
}

// oneLine replaces line breaks, for a title or a field name.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
