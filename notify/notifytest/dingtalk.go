package notifytest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DingTalk is a fake DingTalk custom robot (protocols.md section 2.1). It
// checks, in DingTalk's order, the access_token, the content type, the
// timestamp (within an hour of its clock) and signature when it has a
// secret, the JSON shape of a text or markdown message and the keyword
// when it has one, and answers as DingTalk does: HTTP 200 with an errcode.
// A Delivery's Text is text.content or markdown.text.
type DingTalk struct {
	Receiver
	Token string // the robot's access_token; WebhookURL carries it

	secret  string
	keyword string
	now     func() time.Time
}

// DingTalkToken is the access_token of every fake DingTalk robot.
const DingTalkToken = "d1a9b5c3e7f24680a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a7b8"

// NewDingTalk starts a fake DingTalk robot that verifies signatures with
// secret and requires keyword, when they are set, with now as its clock
// (time.Now when nil). Close it when done.
func NewDingTalk(secret, keyword string, now func() time.Time) *DingTalk {
	if now == nil {
		now = time.Now
	}
	d := &DingTalk{Token: DingTalkToken, secret: secret, keyword: keyword, now: now}
	startReplying(&d.Receiver, d.handle, jsonReply(`{"errcode":0,"errmsg":"ok"}`))
	return d
}

// WebhookURL is the URL a notifier should post to.
func (d *DingTalk) WebhookURL() string {
	return d.URL() + "/robot/send?access_token=" + d.Token
}

func (d *DingTalk) handle(req *http.Request, body []byte) (string, *Fault, string) {
	if req.Method != http.MethodPost {
		return "", &Fault{Status: http.StatusMethodNotAllowed}, "method " + req.Method
	}
	if req.URL.Path != "/robot/send" {
		return "", &Fault{Status: http.StatusNotFound}, "path " + req.URL.Path
	}
	q := req.URL.Query()
	switch token := q.Get("access_token"); {
	case token == "":
		return "", dingTalkError(40035, "缺少参数 access_token"), "no access_token"
	case token != d.Token:
		return "", dingTalkError(300005, "token is not exist"), "unknown access_token"
	}
	if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		return "", dingTalkError(43004, "无效的HTTP HEADER Content-Type"), "content type " + req.Header.Get("Content-Type")
	}
	if d.secret != "" {
		ts := q.Get("timestamp")
		ms, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || len(q["timestamp"]) != 1 || absInt64(d.now().UnixMilli()-ms) > time.Hour.Milliseconds() {
			return "", dingTalkError(310000, "invalid timestamp"), "invalid timestamp"
		}
		// Query has decoded the sign once: a sign escaped twice (or not
		// at all, its '+' turned into ' ') does not match.
		if len(q["sign"]) != 1 || !hmac.Equal([]byte(q.Get("sign")), []byte(dingTalkSign(d.secret, ts))) {
			return "", dingTalkError(310000, "sign not match"), "sign not match"
		}
	}
	var p struct {
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
		Markdown *struct {
			Title string `json:"title"`
			Text  string `json:"text"`
		} `json:"markdown"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "", dingTalkError(40035, "缺少参数 json"), "body is not json: " + err.Error()
	}
	var text string
	switch p.MsgType {
	case "text":
		if p.Text == nil || p.Text.Content == "" {
			return "", dingTalkError(40035, "缺少参数 text"), "text without content"
		}
		text = p.Text.Content
	case "markdown":
		if p.Markdown == nil || p.Markdown.Title == "" || p.Markdown.Text == "" {
			return "", dingTalkError(40035, "缺少参数 markdown"), "markdown without title or text"
		}
		text = p.Markdown.Text
	default:
		return "", dingTalkError(40035, "缺少参数 msgtype"), "msgtype " + strconv.Quote(p.MsgType)
	}
	if d.keyword != "" && !strings.Contains(text, d.keyword) {
		return "", dingTalkError(310000, "keywords not in content"), "keywords not in content"
	}
	return text, nil, ""
}

// dingTalkSign is the documented signature, written apart from the
// integration's: base64(HMAC-SHA256(key = secret, msg = timestamp + "\n" +
// secret)), over the timestamp exactly as the request carried it.
func dingTalkSign(secret, timestamp string) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(timestamp))
	h.Write([]byte{'\n'})
	h.Write([]byte(secret))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func dingTalkError(code int, msg string) *Fault {
	return jsonFault(map[string]any{"errcode": code, "errmsg": msg})
}

// jsonFault is an HTTP 200 answer with a JSON body, the way DingTalk,
// WeCom and Feishu report business errors.
func jsonFault(v any) *Fault {
	b, _ := json.Marshal(v)
	return &Fault{Status: http.StatusOK, Header: map[string]string{"Content-Type": "application/json"}, Body: string(b)}
}

// jsonReply answers an accepted request with HTTP 200 and the JSON body
// ok, as DingTalk, WeCom and Feishu do.
func jsonReply(ok string) func(*http.Request, string) Fault {
	return func(*http.Request, string) Fault {
		return Fault{Status: http.StatusOK, Header: map[string]string{"Content-Type": "application/json"}, Body: ok}
	}
}

func absInt64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
