package notifytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WeCom is a fake WeCom (企业微信) group robot (protocols.md section 2.2).
// It checks the key, the JSON shape of a text or markdown message, UTF-8
// and the documented sizes (text.content <= 2048 bytes, markdown.content
// <= 4096 bytes), and answers as WeCom does: HTTP 200 with an errcode. A
// Delivery's Text is the text or markdown content.
type WeCom struct {
	Receiver
	Key string // the robot's key; WebhookURL carries it
}

// WeComKey is the key of every fake WeCom robot.
const WeComKey = "693a91f6-7f2e-4a3b-9c8d-0e1f2a3b4c5d"

// Limits WeCom documents for a group robot's message, in bytes.
const (
	WeComMaxText     = 2048
	WeComMaxMarkdown = 4096
)

// NewWeCom starts a fake WeCom group robot. Close it when done.
func NewWeCom() *WeCom {
	w := &WeCom{Key: WeComKey}
	startReplying(&w.Receiver, w.handle, jsonReply(`{"errcode":0,"errmsg":"ok"}`))
	return w
}

// WebhookURL is the URL a notifier should post to.
func (w *WeCom) WebhookURL() string {
	return w.URL() + "/cgi-bin/webhook/send?key=" + w.Key
}

func (w *WeCom) handle(req *http.Request, body []byte) (string, *Fault, string) {
	if req.Method != http.MethodPost {
		return "", &Fault{Status: http.StatusMethodNotAllowed}, "method " + req.Method
	}
	if req.URL.Path != "/cgi-bin/webhook/send" {
		return "", &Fault{Status: http.StatusNotFound}, "path " + req.URL.Path
	}
	if req.URL.Query().Get("key") != w.Key {
		return "", weComError(93000, "invalid webhook url"), "unknown key"
	}
	var p struct {
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
		Markdown *struct {
			Content string `json:"content"`
		} `json:"markdown"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "", weComError(40008, "invalid message type"), "body is not json: " + err.Error()
	}
	var text string
	var limit int
	switch p.MsgType {
	case "text":
		if p.Text == nil {
			return "", weComError(40008, "invalid message type"), "text without text"
		}
		text, limit = p.Text.Content, WeComMaxText
	case "markdown":
		if p.Markdown == nil {
			return "", weComError(40008, "invalid message type"), "markdown without markdown"
		}
		text, limit = p.Markdown.Content, WeComMaxMarkdown
	default:
		return "", weComError(40008, "invalid message type"), "msgtype " + strconv.Quote(p.MsgType)
	}
	switch {
	case strings.TrimSpace(text) == "":
		return "", weComError(44004, "empty content"), "empty content"
	case !utf8.ValidString(text):
		return "", weComError(40058, "content is not utf8. invalid Request Parameter"), "content is not utf8"
	case len(text) > limit:
		return "", weComError(40058, fmt.Sprintf("%s.content exceed max length %d. invalid Request Parameter", p.MsgType, limit)),
			fmt.Sprintf("%s.content is %d bytes, over %d", p.MsgType, len(text), limit)
	}
	return text, nil, ""
}

// weComError is WeCom's error answer, which names a hint, the caller's
// address and a link to the error's page.
func weComError(code int, msg string) *Fault {
	return jsonFault(map[string]any{
		"errcode": code,
		"errmsg": fmt.Sprintf("%s, hint: [1700000000396631957450000], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=%d",
			msg, code),
	})
}
