package notifytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Discord is a fake Discord webhook (protocols.md section 2.5). It serves
// only the versioned path, /api/v10/webhooks/{id}/{token}, so a client
// that forgets the version fails loudly (404), checks the token (401
// code 50027), and checks the JSON body against Discord's limits:
// content 2000 characters; 10 embeds; per embed a title of 256, a
// description of 4096, 25 fields with a name of 1 to 256 and a value of 1
// to 1024, a footer of 2048, an author name of 256; 6000 characters over
// all embeds. A breach is answered as Discord does, 400 {"code": 50035,
// "errors": {...}, "message": "Invalid Form Body"}; a body with neither
// content nor embeds gets 400 code 50006. Beyond Discord, it requires
// "allowed_mentions": {"parse": []}, our rule that data never pings.
//
// It answers 204 No Content, or 200 with the message when the URL asks
// ?wait=true. A Delivery's Text is the content, then each embed's title,
// description, field names and values and footer, one per line, with
// markdown escapes removed.
type Discord struct {
	Receiver
}

// The webhook of every fake Discord; the token is the credential.
const (
	DiscordWebhookID = "1234567890123456789"
	DiscordToken     = "fAkE-DiScOrD_t0ken.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
)

// Limits Discord documents, in characters.
const (
	DiscordMaxContent     = 2000
	DiscordMaxEmbeds      = 10
	DiscordMaxTitle       = 256
	DiscordMaxDescription = 4096
	DiscordMaxFields      = 25
	DiscordMaxFieldName   = 256
	DiscordMaxFieldValue  = 1024
	DiscordMaxFooter      = 2048
	DiscordMaxAuthor      = 256
	DiscordMaxEmbedTotal  = 6000
)

// NewDiscord starts a fake Discord webhook. Close it when done.
func NewDiscord() *Discord {
	d := &Discord{}
	startReplying(&d.Receiver, d.handle, func(req *http.Request, text string) Fault {
		if req.URL.Query().Get("wait") == "true" {
			b, _ := json.Marshal(map[string]any{"id": "1300000000000000000", "type": 0, "channel_id": "1200000000000000000", "webhook_id": DiscordWebhookID, "content": ""})
			return Fault{Status: http.StatusOK, Header: map[string]string{"Content-Type": "application/json"}, Body: string(b)}
		}
		return Fault{Status: http.StatusNoContent}
	})
	return d
}

// WebhookURL is the URL a notifier should post to.
func (d *Discord) WebhookURL() string {
	return d.URL() + "/api/v10/webhooks/" + DiscordWebhookID + "/" + DiscordToken
}

// UnversionedURL is the webhook as Discord's UI copies it, without the API
// version; a notifier must rewrite it to WebhookURL.
func (d *Discord) UnversionedURL() string {
	return d.URL() + "/api/webhooks/" + DiscordWebhookID + "/" + DiscordToken
}

type discordEmbed struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Color       *int64 `json:"color"`
	Fields      []struct {
		Name  *string `json:"name"`
		Value *string `json:"value"`
	} `json:"fields"`
	Footer *struct {
		Text string `json:"text"`
	} `json:"footer"`
	Author *struct {
		Name string `json:"name"`
	} `json:"author"`
}

func (d *Discord) handle(req *http.Request, body []byte) (string, *Fault, string) {
	if req.Method != http.MethodPost {
		return "", discordError(http.StatusMethodNotAllowed, map[string]any{"message": "405: Method Not Allowed", "code": 0}), "method " + req.Method
	}
	base := "/api/v10/webhooks/" + DiscordWebhookID + "/"
	switch {
	case req.URL.Path == base+DiscordToken:
	case strings.HasPrefix(req.URL.Path, base):
		return "", discordError(http.StatusUnauthorized, map[string]any{"message": "Invalid Webhook Token", "code": 50027}), "wrong token"
	default:
		return "", discordError(http.StatusNotFound, map[string]any{"message": "Unknown Webhook", "code": 10015}), "path is not the v10 webhook"
	}
	if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		return "", discordError(http.StatusBadRequest, map[string]any{"message": "Cannot send an empty message", "code": 50006}), "content type " + req.Header.Get("Content-Type")
	}
	var p struct {
		Content         *string        `json:"content"`
		Embeds          []discordEmbed `json:"embeds"`
		AllowedMentions *struct {
			Parse *[]string `json:"parse"`
		} `json:"allowed_mentions"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "", discordError(http.StatusBadRequest, map[string]any{"message": "The request body contains invalid JSON.", "code": 50109}), "body is not json: " + err.Error()
	}
	content := ""
	if p.Content != nil {
		content = *p.Content
	}
	if strings.TrimSpace(content) == "" && len(p.Embeds) == 0 {
		return "", discordError(http.StatusBadRequest, map[string]any{"message": "Cannot send an empty message", "code": 50006}), "empty message"
	}
	length := utf8.RuneCountInString
	maxLen := func(n int) (string, string) {
		return "BASE_TYPE_MAX_LENGTH", fmt.Sprintf("Must be %d or fewer in length.", n)
	}
	if n := length(content); n > DiscordMaxContent {
		code, msg := maxLen(DiscordMaxContent)
		return "", discordFormError([]string{"content"}, code, msg), fmt.Sprintf("content: %d characters", n)
	}
	if len(p.Embeds) > DiscordMaxEmbeds {
		code, msg := maxLen(DiscordMaxEmbeds)
		return "", discordFormError([]string{"embeds"}, code, msg), fmt.Sprintf("%d embeds", len(p.Embeds))
	}
	var lines []string
	if content != "" {
		lines = append(lines, discordUnescape(content))
	}
	total := 0
	for i, e := range p.Embeds {
		at := func(path ...string) []string { return append([]string{"embeds", strconv.Itoa(i)}, path...) }
		type check struct {
			path  []string
			text  string
			limit int
		}
		checks := []check{{at("title"), e.Title, DiscordMaxTitle}, {at("description"), e.Description, DiscordMaxDescription}}
		if len(e.Fields) > DiscordMaxFields {
			code, msg := maxLen(DiscordMaxFields)
			return "", discordFormError(at("fields"), code, msg), fmt.Sprintf("embed %d: %d fields", i, len(e.Fields))
		}
		for j, f := range e.Fields {
			for _, part := range []struct {
				name  string
				text  *string
				limit int
			}{{"name", f.Name, DiscordMaxFieldName}, {"value", f.Value, DiscordMaxFieldValue}} {
				path := at("fields", strconv.Itoa(j), part.name)
				if part.text == nil || strings.TrimSpace(*part.text) == "" {
					return "", discordFormError(path, "BASE_TYPE_REQUIRED", "This field is required"), strings.Join(path, ".") + " empty"
				}
				checks = append(checks, check{path, *part.text, part.limit})
			}
		}
		if e.Footer != nil {
			checks = append(checks, check{at("footer", "text"), e.Footer.Text, DiscordMaxFooter})
		}
		if e.Author != nil {
			checks = append(checks, check{at("author", "name"), e.Author.Name, DiscordMaxAuthor})
		}
		for _, c := range checks {
			n := length(c.text)
			if n > c.limit {
				code, msg := maxLen(c.limit)
				return "", discordFormError(c.path, code, msg), fmt.Sprintf("%s: %d characters", strings.Join(c.path, "."), n)
			}
			total += n
			if c.text != "" {
				lines = append(lines, discordUnescape(c.text))
			}
		}
		if e.Color != nil && (*e.Color < 0 || *e.Color > 0xFFFFFF) {
			return "", discordFormError(at("color"), "NUMBER_TYPE_MAX", "int value should be less than or equal to 16777215."), "color out of range"
		}
	}
	if total > DiscordMaxEmbedTotal {
		return "", discordFormError([]string{"embeds"}, "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"), fmt.Sprintf("embeds: %d characters", total)
	}
	if p.AllowedMentions == nil || p.AllowedMentions.Parse == nil || len(*p.AllowedMentions.Parse) > 0 {
		return "", discordFormError([]string{"allowed_mentions"}, "STOREFENCE_MENTIONS", "allowed_mentions.parse must be present and empty"), "mentions allowed"
	}
	return strings.Join(lines, "\n"), nil, ""
}

// discordFormError is Discord's answer to a body that breaks a limit:
// the error sits in a tree that follows the JSON path.
func discordFormError(path []string, code, message string) *Fault {
	var tree any = map[string]any{"_errors": []any{map[string]any{"code": code, "message": message}}}
	for i := len(path) - 1; i >= 0; i-- {
		tree = map[string]any{path[i]: tree}
	}
	return discordError(http.StatusBadRequest, map[string]any{"code": 50035, "errors": tree, "message": "Invalid Form Body"})
}

func discordError(status int, v map[string]any) *Fault {
	b, _ := json.Marshal(v)
	return &Fault{Status: status, Header: map[string]string{"Content-Type": "application/json"}, Body: string(b)}
}

// discordUnescape removes markdown escapes: Discord shows a backslash
// followed by ASCII punctuation as the punctuation alone.
func discordUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
