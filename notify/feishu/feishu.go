// Package feishu delivers notify messages to a Feishu (Lark) custom bot
// (自定义机器人) as an interactive card: a header coloured by severity and
// a lark_md body. When the bot has a secret ("签名校验") each request
// carries a timestamp in seconds and a signature in its JSON body. The bot
// answers HTTP 200 for business errors, so the code in its JSON answer
// decides success: 0 is accepted, the rate limit (11232) is retryable,
// everything else (9499 bad request, 19021 signature, 19022 IP, 19024
// keyword, ...) is permanent.
//
// Protocol: https://open.larksuite.com/document/client-docs/bot-v3/use-custom-bots-in-a-group
// and https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
// (protocol notes, section 2.3).
package feishu

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/storefence/storefence/notify"
)

const kind = "feishu"

// MaxBody is the most bytes a request body may have: "the request body
// data size cannot exceed 20 KB".
const MaxBody = 20 << 10

// hookPath is where a custom bot's webhook lives, on open.feishu.cn and
// open.larksuite.com alike.
const hookPath = "/open-apis/bot/v2/hook/"

// Notifier sends messages to one Feishu custom bot.
type Notifier struct {
	ep     *notify.Endpoint
	url    string
	secret string
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier for the bot whose webhook is t.URL
// (https://open.feishu.cn/open-apis/bot/v2/hook/<id>), signing with
// t.Secret when it is set. A nil client means http.DefaultClient and a nil
// now means time.Now. The error never quotes the URL.
func New(t notify.Target, client *http.Client, now func() time.Time) (*Notifier, error) {
	ep, u, err := notify.NewEndpoint(kind, "webhook url", t, client, now)
	if err != nil {
		return nil, err
	}
	hook, ok := strings.CutPrefix(u.Path, hookPath)
	if !ok || hook == "" || strings.Contains(hook, "/") {
		return nil, errors.New("feishu: webhook url is not a custom bot's (" + hookPath + "<id>)")
	}
	ep.Hide(hook)
	return &Notifier{ep: ep, url: u.String(), secret: t.Secret}, nil
}

// Sign returns Feishu's signature of a request sent at ts. The quirk, as
// in Feishu's own sample: the HMAC-SHA256 key is ts in seconds + "\n" +
// secret and the message is empty. The result is base64, and goes in the
// JSON body as is.
func Sign(secret string, ts time.Time) string {
	mac := hmac.New(sha256.New, []byte(strconv.FormatInt(ts.Unix(), 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// payload is an interactive message; the card goes in the top-level
// "card" field, not in "content".
type payload struct {
	Timestamp string `json:"timestamp,omitempty"` // seconds, as a string as in the doc
	Sign      string `json:"sign,omitempty"`
	MsgType   string `json:"msg_type"`
	Card      card   `json:"card"`
}

type card struct {
	Header   header    `json:"header"`
	Elements []element `json:"elements"`
}

type header struct {
	Title    text   `json:"title"`
	Template string `json:"template"`
}

type text struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

type element struct {
	Tag  string `json:"tag"`
	Text *text  `json:"text,omitempty"`
}

// Notify sends m. It returns nil once Feishu answered code 0, and
// otherwise a *notify.Error: retryable for the rate limit, 429, 5xx and
// network failures, permanent for the rest (a bad hook, a failed
// signature, timestamp, IP or keyword check, a rejected card).
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	if m == nil {
		return notify.Permanent(kind, 0, "no message")
	}
	p := payload{MsgType: "interactive"}
	if n.secret != "" {
		ts := n.ep.Now()
		p.Timestamp = strconv.FormatInt(ts.Unix(), 10)
		p.Sign = Sign(n.secret, ts)
	}
	body, err := build(p, m)
	if err != nil {
		return err
	}
	return n.ep.Send(ctx, n.url, "application/json; charset=utf-8", body, nil, parseAnswer)
}

// encode is JSON without HTML escaping, which would turn each '<', '>'
// and '&' of the lark_md into six bytes.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// answer is Feishu's JSON reply. Older replies carry only StatusCode and
// StatusMessage; current ones carry both pairs, of which code and msg are
// the ones to read.
type answer struct {
	Code          *int64 `json:"code"`
	Msg           string `json:"msg"`
	StatusCode    *int64 `json:"StatusCode"`
	StatusMessage string `json:"StatusMessage"`
}

// rules sort Feishu's replies; a link in a msg is cut from the reason.
var rules = notify.CodeRules{
	Kind:      kind,
	Name:      "code",
	RateLimit: []int64{11232}, // 100 a minute, 5 a second, busiest on the hour
}

// parseAnswer sorts Feishu's reply to a send as rules do: nil for code 0,
// retryable for the rate limit, 429 and 5xx, permanent for the rest (9499
// bad request or too big, 19021 sign or timestamp, 19022 IP, 19024
// keyword, ...).
func parseAnswer(r *notify.Response, now time.Time) error {
	var a answer
	if json.Unmarshal(r.Body, &a) != nil {
		return rules.Check(r, now, nil, "")
	}
	if a.Code == nil {
		return rules.Check(r, now, a.StatusCode, a.StatusMessage)
	}
	return rules.Check(r, now, a.Code, a.Msg)
}
