package notifytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// Slack is a fake Slack incoming webhook (protocols.md section 2.4). It
// checks the path, that the body is JSON with a non-empty "text" (the
// notification fallback, which we always send with blocks) and Block Kit
// blocks within Slack's limits: at most 50 blocks; header, section,
// context and divider blocks; a header's plain_text at most 150
// characters, every text object 1 to 3000. It answers 200 "ok", or Slack's
// plain-text errors: 404 no_service for another path, 400
// invalid_payload, no_text or invalid_blocks.
//
// Beyond what Slack enforces, it rejects mrkdwn with a bare < or > or an &
// that starts no &amp; &lt; &gt; (Slack would parse data as a mention or a
// link), and, where Slack would truncate, a message whose texts exceed
// 40000 characters (400 msg_too_long). A Delivery's Text is the blocks'
// texts, unescaped, one per line.
type Slack struct {
	Receiver
}

// SlackPath is the path of every fake Slack webhook; its last part is the
// credential.
const SlackPath = "/services/T0FAKE0000/B0FAKE0000/slackFakeSecret0123456789"

// Limits Slack documents, in characters.
const (
	SlackMaxBlocks  = 50
	SlackMaxHeader  = 150
	SlackMaxText    = 3000
	SlackMaxMessage = 40000
)

// NewSlack starts a fake Slack incoming webhook. Close it when done.
func NewSlack() *Slack {
	s := &Slack{}
	startReplying(&s.Receiver, s.handle, func(*http.Request, string) Fault {
		return Fault{Status: http.StatusOK, Header: map[string]string{"Content-Type": "text/html"}, Body: "ok"}
	})
	return s
}

// WebhookURL is the URL a notifier should post to.
func (s *Slack) WebhookURL() string { return s.URL() + SlackPath }

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (s *Slack) handle(req *http.Request, body []byte) (string, *Fault, string) {
	if req.Method != http.MethodPost {
		return "", slackError(http.StatusMethodNotAllowed, "invalid_method"), "method " + req.Method
	}
	if req.URL.Path != SlackPath {
		return "", slackError(http.StatusNotFound, "no_service"), "unknown webhook"
	}
	if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		return "", slackError(http.StatusBadRequest, "invalid_payload"), "content type " + req.Header.Get("Content-Type")
	}
	var p struct {
		Text   *string `json:"text"`
		Blocks []struct {
			Type     string      `json:"type"`
			Text     *slackText  `json:"text"`
			Elements []slackText `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "", slackError(http.StatusBadRequest, "invalid_payload"), "body is not json: " + err.Error()
	}
	if p.Text == nil || strings.TrimSpace(*p.Text) == "" {
		return "", slackError(http.StatusBadRequest, "no_text"), "no text"
	}
	if why := slackCheckMrkdwn(*p.Text); why != "" {
		return "", slackError(http.StatusBadRequest, "invalid_payload"), "text: " + why
	}
	total := utf8.RuneCountInString(*p.Text)
	if len(p.Blocks) > SlackMaxBlocks {
		return "", slackError(http.StatusBadRequest, "invalid_blocks"), fmt.Sprintf("%d blocks", len(p.Blocks))
	}
	var lines []string
	check := func(where string, t *slackText, limit int, types ...string) string {
		switch {
		case t == nil:
			return where + ": no text object"
		case !slices.Contains(types, t.Type):
			return where + ": text type " + t.Type
		case t.Text == "" || utf8.RuneCountInString(t.Text) > limit:
			return fmt.Sprintf("%s: %d characters, want 1 to %d", where, utf8.RuneCountInString(t.Text), limit)
		}
		if t.Type == "mrkdwn" {
			if why := slackCheckMrkdwn(t.Text); why != "" {
				return where + ": " + why
			}
			lines = append(lines, slackUnescape(t.Text))
		} else {
			lines = append(lines, t.Text)
		}
		total += utf8.RuneCountInString(t.Text)
		return ""
	}
	for i, b := range p.Blocks {
		where := fmt.Sprintf("block %d (%s)", i, b.Type)
		var why string
		switch b.Type {
		case "header":
			why = check(where, b.Text, SlackMaxHeader, "plain_text")
		case "section":
			why = check(where, b.Text, SlackMaxText, "plain_text", "mrkdwn")
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				why = fmt.Sprintf("%s: %d elements", where, len(b.Elements))
			}
			for j := range b.Elements {
				if why == "" {
					why = check(fmt.Sprintf("%s element %d", where, j), &b.Elements[j], SlackMaxText, "plain_text", "mrkdwn")
				}
			}
		case "divider":
		default:
			why = where + ": unknown block type"
		}
		if why != "" {
			return "", slackError(http.StatusBadRequest, "invalid_blocks"), why
		}
	}
	if total > SlackMaxMessage {
		return "", slackError(http.StatusBadRequest, "msg_too_long"), fmt.Sprintf("%d characters", total)
	}
	return strings.Join(lines, "\n"), nil, ""
}

// slackCheckMrkdwn reports why s is not safely escaped mrkdwn, "" if it
// is: Slack reads < and > as the start and end of a mention or link, and &
// as the start of an entity.
func slackCheckMrkdwn(s string) string {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<', '>':
			return fmt.Sprintf("bare %q at byte %d", s[i], i)
		case '&':
			rest := s[i:]
			if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
				return fmt.Sprintf("unescaped & at byte %d", i)
			}
		}
	}
	return ""
}

// slackUnescape undoes Slack's three entities.
func slackUnescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// slackError is one of Slack's plain-text error answers.
func slackError(status int, body string) *Fault {
	return &Fault{Status: status, Header: map[string]string{"Content-Type": "text/html"}, Body: body}
}
