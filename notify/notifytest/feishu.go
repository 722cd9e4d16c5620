package notifytest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Feishu is a fake Feishu (Lark) custom bot (protocols.md section 2.3). It
// checks the hook, the body size (<= 20 KB), the JSON, the timestamp
// (seconds, as a string, within an hour of its clock) and the signature
// in the body when it has a secret, the shape of a text or interactive
// message (the card in the top-level "card" field) and the keyword when it
// has one (in the card's title or text), and answers as Feishu does: HTTP
// 200 with a code. A Delivery's Text is content.text, or the card's
// lark_md and plain_text element contents joined by newlines.
type Feishu struct {
	Receiver
	Hook string // the bot's hook id; WebhookURL carries it

	secret  string
	keyword string
	now     func() time.Time
}

// FeishuHook is the hook id of every fake Feishu bot.
const FeishuHook = "4f9c2b7e-5a1d-4c3e-8b6f-2d0e9a7c1b35"

// FeishuMaxBody is the most bytes a request body may have: "the request
// body data size cannot exceed 20 KB".
const FeishuMaxBody = 20 << 10

// NewFeishu starts a fake Feishu bot that verifies signatures with secret
// and requires keyword, when they are set, with now as its clock
// (time.Now when nil). Close it when done.
func NewFeishu(secret, keyword string, now func() time.Time) *Feishu {
	if now == nil {
		now = time.Now
	}
	f := &Feishu{Hook: FeishuHook, secret: secret, keyword: keyword, now: now}
	startReplying(&f.Receiver, f.handle, jsonReply(`{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`))
	return f
}

// WebhookURL is the URL a notifier should post to.
func (f *Feishu) WebhookURL() string {
	return f.URL() + "/open-apis/bot/v2/hook/" + f.Hook
}

// feishuTemplates are the card header colours.
var feishuTemplates = map[string]bool{
	"": true, "default": true, "blue": true, "wathet": true, "turquoise": true, "green": true, "yellow": true,
	"orange": true, "red": true, "carmine": true, "violet": true, "purple": true, "indigo": true, "grey": true,
}

type feishuText struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

func (f *Feishu) handle(req *http.Request, body []byte) (string, *Fault, string) {
	if req.Method != http.MethodPost {
		return "", &Fault{Status: http.StatusMethodNotAllowed}, "method " + req.Method
	}
	hook, ok := strings.CutPrefix(req.URL.Path, "/open-apis/bot/v2/hook/")
	if !ok {
		return "", &Fault{Status: http.StatusNotFound}, "path " + req.URL.Path
	}
	if hook != f.Hook {
		return "", feishuError(19001, "param invalid: incoming webhook access token invalid"), "unknown hook"
	}
	if len(body) > FeishuMaxBody {
		return "", feishuError(9499, "Bad Request"), fmt.Sprintf("body is %d bytes, over %d", len(body), FeishuMaxBody)
	}
	var p struct {
		Timestamp json.RawMessage `json:"timestamp"`
		Sign      string          `json:"sign"`
		MsgType   string          `json:"msg_type"`
		Content   *struct {
			Text string `json:"text"`
		} `json:"content"`
		Card *struct {
			Header *struct {
				Title    *feishuText `json:"title"`
				Template string      `json:"template"`
			} `json:"header"`
			Elements []struct {
				Tag  string      `json:"tag"`
				Text *feishuText `json:"text"`
			} `json:"elements"`
		} `json:"card"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "", feishuError(9499, "Bad Request"), "body is not json: " + err.Error()
	}
	if f.secret != "" {
		const why = "sign match fail or timestamp is not within one hour from current time"
		var ts string // the documented request carries a string
		if err := json.Unmarshal(p.Timestamp, &ts); err != nil {
			return "", feishuError(19021, why), "timestamp is not a string"
		}
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || absInt64(f.now().Unix()-sec) > 3600 {
			return "", feishuError(19021, why), "timestamp not within an hour"
		}
		if !hmac.Equal([]byte(p.Sign), []byte(feishuSign(f.secret, ts))) {
			return "", feishuError(19021, why), "sign mismatch"
		}
	}
	var title, text string
	switch p.MsgType {
	case "text":
		if p.Content == nil || p.Content.Text == "" {
			return "", feishuError(9499, "Bad Request"), "text without content.text"
		}
		text = p.Content.Text
	case "interactive":
		c := p.Card
		if c == nil {
			return "", feishuError(9499, "Bad Request"), "interactive without a top-level card"
		}
		if h := c.Header; h != nil {
			if h.Title == nil || h.Title.Tag != "plain_text" || h.Title.Content == "" {
				return "", feishuError(9499, "Bad Request"), "card header title is not non-empty plain_text"
			}
			if !feishuTemplates[h.Template] {
				return "", feishuError(9499, "Bad Request"), "card header template " + strconv.Quote(h.Template)
			}
			title = h.Title.Content
		}
		if len(c.Elements) == 0 {
			return "", feishuError(9499, "Bad Request"), "card without elements"
		}
		var texts []string
		for i, e := range c.Elements {
			switch e.Tag {
			case "div":
				if e.Text == nil || e.Text.Tag != "lark_md" && e.Text.Tag != "plain_text" {
					return "", feishuError(9499, "Bad Request"), fmt.Sprintf("element %d: div without lark_md or plain_text text", i)
				}
				texts = append(texts, e.Text.Content)
			case "hr", "note":
			default:
				return "", feishuError(9499, "Bad Request"), fmt.Sprintf("element %d: tag %q", i, e.Tag)
			}
		}
		text = strings.Join(texts, "\n")
	default:
		return "", feishuError(9499, "Bad Request"), "msg_type " + strconv.Quote(p.MsgType)
	}
	if f.keyword != "" && !strings.Contains(title, f.keyword) && !strings.Contains(text, f.keyword) {
		return "", feishuError(19024, "Key Words Not Found"), "Key Words Not Found"
	}
	return text, nil, ""
}

// feishuSign is the documented signature, written apart from the
// integration's: the HMAC-SHA256 key is timestamp + "\n" + secret and the
// message is empty; base64 of the sum.
func feishuSign(secret, timestamp string) string {
	h := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func feishuError(code int, msg string) *Fault {
	return jsonFault(map[string]any{"code": code, "msg": msg, "data": map[string]any{}})
}
