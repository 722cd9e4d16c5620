// Package wecom delivers notify messages to a WeCom (企业微信) group robot
// (群机器人) as markdown. The robot does not sign: the key in the webhook
// URL is its only credential. It answers HTTP 200 for business errors, so
// the errcode in its JSON answer decides success: 0 is accepted, the rate
// limit (45009) is retryable, everything else (93000 for a bad key, ...)
// is permanent.
//
// Protocol: https://developer.work.weixin.qq.com/document/path/91770
// (protocol notes, section 2.2).
package wecom

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/storefence/storefence/notify"
)

const kind = "wecom"

// MaxMarkdown is the most bytes of markdown.content WeCom accepts:
// "markdown内容，最长不超过4096个字节，必须是utf8编码"
// (https://developer.work.weixin.qq.com/document/path/91770).
const MaxMarkdown = 4096

// rateLimitWait is the wait after a rate-limit answer that named none: a
// robot may send 20 messages a minute.
const rateLimitWait = time.Minute

// Notifier sends messages to one WeCom group robot.
type Notifier struct {
	ep  *notify.Endpoint
	url string
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier for the robot whose webhook is t.URL. A nil
// client means http.DefaultClient and a nil now means time.Now. WeCom
// robots do not sign, so a t.Secret is a configuration mistake. The error
// never quotes the URL.
func New(t notify.Target, client *http.Client, now func() time.Time) (*Notifier, error) {
	ep, u, err := notify.NewEndpoint(kind, "webhook url", t, client, now)
	if err != nil {
		return nil, err
	}
	key := u.Query().Get("key")
	if key == "" {
		return nil, errors.New("wecom: webhook url has no key")
	}
	if t.Secret != "" {
		return nil, errors.New("wecom: a signing secret is set, but group robots do not sign")
	}
	ep.Hide(key)
	return &Notifier{ep: ep, url: u.String()}, nil
}

type payload struct {
	MsgType  string   `json:"msgtype"`
	Markdown markdown `json:"markdown"`
}

type markdown struct {
	Content string `json:"content"`
}

// Notify sends m. It returns nil once WeCom answered errcode 0, and
// otherwise a *notify.Error: retryable for the rate limit, 429, 5xx and
// network failures, permanent for the rest (a bad key, a rejected
// message).
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	if m == nil {
		return notify.Permanent(kind, 0, "no message")
	}
	p := payload{MsgType: "markdown", Markdown: markdown{Content: render(m)}}
	return n.ep.SendJSON(ctx, n.url, "application/json; charset=utf-8", p, parseAnswer)
}

// answer is WeCom's JSON reply.
type answer struct {
	ErrCode *int64 `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// rules sort WeCom's replies. Its errmsg ends in a link ("..., more info
// at https://open.work.weixin.qq.com/..."), cut from the reason.
var rules = notify.CodeRules{
	Kind:      kind,
	Name:      "errcode",
	RateLimit: []int64{45009}, // api freq out of limit
	Wait:      rateLimitWait,
	LinkIntro: "more info at",
}

// parseAnswer sorts WeCom's reply to a send as rules do: nil for errcode
// 0, retryable for the rate limit, 429 and 5xx, permanent for the rest
// (93000 bad key, 40058 bad parameter, 40008 bad message type, ...).
func parseAnswer(r *notify.Response, now time.Time) error {
	var a answer
	if json.Unmarshal(r.Body, &a) != nil {
		a.ErrCode = nil
	}
	return rules.Check(r, now, a.ErrCode, a.ErrMsg)
}
