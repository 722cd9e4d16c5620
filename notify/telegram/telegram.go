// Package telegram delivers notify messages to a Telegram chat through the
// Bot API's sendMessage, as MarkdownV2: the title in bold, each section's
// title in bold with its "name: value" lines and text, and the footer in
// italics, link previews off.
//
// Target.URL is the Bot API base with the bot's token,
// https://api.telegram.org/bot<token> (or a local Bot API server's,
// http://127.0.0.1:8081/bot<token>); Notify posts to it with
// "/sendMessage" appended. The token is the credential and never appears
// in an error. Target.ChatID is required: a numeric chat id
// (-1001234567890) or a public channel's @username.
//
// Escaping follows the Bot API's MarkdownV2 rules: outside entities every
// one of _ * [ ] ( ) ~ ` > # + - = | { } . ! takes a backslash, and so does
// the backslash itself, which is escaped first (in the same pass), so that
// data ending in a backslash cannot escape the character after it.
//
// The Bot API allows 1 to 4096 characters "after entities parsing": the
// visible text, markup and escapes removed, which is exactly m.Plain()
// here. It is measured in UTF-16 code units, the unit Telegram counts
// entity offsets in and never fewer than characters, and cut to fit with
// notify.FitMessage, so a cut is never inside an escape or an entity.
//
// Telegram answers {"ok": true, "result": {...}}. Errors are {"ok": false,
// "error_code", "description", "parameters"}: 429 with
// parameters.retry_after (seconds; the Retry-After header when absent)
// and 5xx are retried; the rest is permanent, e.g. 400 "Bad Request: can't
// parse entities: ..." or "message is too long", 401 "Unauthorized" (a bad
// token), 403 "Forbidden: bot was kicked from the group chat". A group
// upgraded to a supergroup answers 400 with parameters.migrate_to_chat_id:
// permanent, with a reason that names the chat id to configure instead.
package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/storefence/storefence/notify"
)

const kind = "telegram"

// maxText is the most UTF-16 code units of visible text in a message.
const maxText = 4096

// botPath matches the end of a Bot API base: /bot<token>.
var botPath = regexp.MustCompile(`/bot([0-9]+:[A-Za-z0-9_-]+)/?$`)

// Notifier sends messages to one Telegram chat.
type Notifier struct {
	ep       *notify.Endpoint
	endpoint string // the base + "/sendMessage"
	chatID   any    // int64, or an @username
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier for the chat t.ChatID, through the Bot API base
// t.URL (https://api.telegram.org/bot<token>). A nil client means
// http.DefaultClient and a nil now means time.Now. The error never quotes
// the URL or the token.
func New(t notify.Target, client *http.Client, now func() time.Time) (*Notifier, error) {
	ep, u, err := notify.NewEndpoint(kind, "bot api url", t, client, now)
	if err != nil {
		return nil, err
	}
	m := botPath.FindStringSubmatch(u.Path)
	if m == nil || u.RawQuery != "" {
		return nil, errors.New("telegram: bot api url does not end in /bot<token>, as in https://api.telegram.org/bot123456:ABC-DEF")
	}
	token := m[1]
	u.Path, u.RawPath = strings.TrimSuffix(u.Path, "/")+"/sendMessage", ""
	var chat any
	switch id := strings.TrimSpace(t.ChatID); {
	case id == "":
		return nil, errors.New("telegram: chat_id is required")
	case len(id) > 1 && id[0] == '@':
		chat = id
	default:
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("telegram: chat_id %q is neither a number nor an @username", id)
		}
		chat = n
	}
	ep.Hide(u.String(), token)
	return &Notifier{ep: ep, endpoint: u.String(), chatID: chat}, nil
}

// payload is a sendMessage request.
type payload struct {
	ChatID             any         `json:"chat_id"`
	Text               string      `json:"text"`
	ParseMode          string      `json:"parse_mode"`
	LinkPreviewOptions linkPreview `json:"link_preview_options"`
}

type linkPreview struct {
	IsDisabled bool `json:"is_disabled"`
}

// Notify sends m. It returns nil once Telegram answered ok, and otherwise
// a *notify.Error: retryable for 429, 5xx and network failures, permanent
// for the rest.
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	if m == nil {
		return notify.Permanent(kind, 0, "no message")
	}
	text, err := render(m)
	if err != nil {
		return notify.Permanent(kind, 0, "render message: %v", err)
	}
	p := payload{ChatID: n.chatID, Text: text, ParseMode: "MarkdownV2", LinkPreviewOptions: linkPreview{IsDisabled: true}}
	return n.ep.SendJSON(ctx, n.endpoint, "application/json", p, checkAnswer)
}

// answer is the Bot API's reply.
type answer struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  *struct {
		RetryAfter      float64 `json:"retry_after"`
		MigrateToChatID int64   `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// checkAnswer sorts the Bot API's reply: ok is accepted; a group that
// moved is permanent, naming its new id; 429 (HTTP or error_code) and 5xx
// are retried after parameters.retry_after or Retry-After; the rest is
// permanent, its reason the description. A 2xx without "ok": true is
// permanent: nothing says the message was sent. An answer that is not the
// Bot API's JSON (a proxy's error page) goes by its HTTP status.
func checkAnswer(r *notify.Response, now time.Time) error {
	var a answer
	jsonErr := json.Unmarshal(r.Body, &a)
	ok2xx := r.Status >= 200 && r.Status < 300
	switch {
	case ok2xx && jsonErr == nil && a.OK:
		return nil
	case !ok2xx && (jsonErr != nil || a.OK):
		return notify.CheckStatus(kind, r, now)
	case jsonErr != nil:
		return notify.Permanent(kind, r.Status, "unexpected answer: %s", notify.Snippet(r.Body))
	}
	reason := a.Description
	if reason == "" {
		reason = fmt.Sprintf("error_code %d", a.ErrorCode)
	}
	reason = notify.Snippet([]byte(reason))
	if p := a.Parameters; p != nil && p.MigrateToChatID != 0 {
		return notify.Permanent(kind, r.Status, "the group became a supergroup: set chat_id to %d (%s)", p.MigrateToChatID, reason)
	}
	if r.Status == http.StatusTooManyRequests || a.ErrorCode == http.StatusTooManyRequests || r.Status >= 500 || a.ErrorCode >= 500 {
		after := notify.RetryAfter(r.Header, now)
		if p := a.Parameters; p != nil && p.RetryAfter > 0 {
			after = notify.Seconds(p.RetryAfter)
		}
		return notify.Retryable(kind, r.Status, after, "%s", reason)
	}
	return notify.Permanent(kind, r.Status, "%s", reason)
}

// render lays m out as MarkdownV2 whose visible text fits maxText.
func render(m *notify.Message) (string, error) {
	if strings.TrimSpace(m.Plain()) == "" {
		return "", errors.New("empty message")
	}
	fitted, err := notify.FitMessage(m, maxText, func(c *notify.Message) int { return utf16Len(c.Plain()) })
	if err != nil {
		return "", err
	}
	return markdownV2(fitted), nil
}

// markdownV2 is m laid out as m.Plain lays it out, with the title and
// the section titles in bold and the footer in italics; its visible text
// is m.Plain().
func markdownV2(m *notify.Message) string {
	var b strings.Builder
	wrap := func(mark, s string) {
		if s != "" { // an empty "__" would open underline
			b.WriteString(mark + escape(s) + mark)
		}
	}
	wrap("*", m.Title)
	for _, s := range m.Sections {
		b.WriteString("\n\n")
		wrap("*", s.Title)
		for _, f := range s.Fields {
			b.WriteString("\n" + escape(f.Name) + ": " + escape(f.Value))
		}
		if s.Text != "" {
			b.WriteString("\n" + escape(s.Text))
		}
	}
	if m.Footer != "" {
		b.WriteString("\n\n")
		wrap("_", m.Footer)
	}
	return b.String()
}

// specials are the characters MarkdownV2 reserves outside entities.
const specials = "_*[]()~`>#+-=|{}.!"

// escape makes s literal MarkdownV2 text: a backslash before every
// backslash and every special. One pass over the bytes escapes the
// backslashes first, and apart from the ones it adds; the specials are
// ASCII, so multi-byte characters (and invalid UTF-8) pass unchanged.
func escape(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || strings.IndexByte(specials, c) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// utf16Len is s's length in UTF-16 code units, counting an invalid byte
// as one (JSON sends it as U+FFFD).
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
