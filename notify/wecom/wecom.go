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
	"net/url"
	"strings"
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
	url    string
	key    string
	client *http.Client
	now    func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier for the robot whose webhook is t.URL. A nil
// client means http.DefaultClient and a nil now means time.Now. WeCom
// robots do not sign, so a t.Secret is a configuration mistake. The error
// never quotes the URL.
func New(t notify.Target, client *http.Client, now func() time.Time) (*Notifier, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, errors.New("wecom: webhook url does not parse")
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, errors.New("wecom: webhook url is not an absolute http(s) url")
	}
	key := u.Query().Get("key")
	if key == "" {
		return nil, errors.New("wecom: webhook url has no key")
	}
	if t.Secret != "" {
		return nil, errors.New("wecom: a signing secret is set, but group robots do not sign")
	}
	if client == nil {
		client = http.DefaultClient
	}
	if now == nil {
		now = time.Now
	}
	return &Notifier{url: u.String(), key: key, client: client, now: now}, nil
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
	body, err := json.Marshal(payload{MsgType: "markdown", Markdown: markdown{Content: render(m)}})
	if err != nil {
		return notify.Permanent(kind, 0, "encode message: %v", err)
	}
	resp, err := notify.Post(ctx, n.client, kind, n.url, "application/json; charset=utf-8", body, nil)
	if err != nil {
		return n.scrub(err)
	}
	return n.scrub(parseAnswer(resp, n.now()))
}

// scrub removes the robot's credentials from err's text, should a
// receiver ever echo them.
func (n *Notifier) scrub(err error) error {
	var e *notify.Error
	if !errors.As(err, &e) {
		return err
	}
	c := *e
	for _, s := range []string{n.url, n.key} {
		if len(s) >= 8 {
			c.Reason = strings.ReplaceAll(c.Reason, s, "<redacted>")
		}
	}
	return &c
}

// answer is WeCom's JSON reply.
type answer struct {
	ErrCode *int64 `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// parseAnswer sorts WeCom's reply to a send: nil for errcode 0, and
// otherwise a *notify.Error. 429 and 5xx are retried whatever the body;
// an errcode decides the rest; an HTTP error without one goes by its
// status; a 2xx without an errcode is permanent, as nothing says the
// message was delivered and a retry is unlikely to fare better.
func parseAnswer(r *notify.Response, now time.Time) error {
	if r.Status == http.StatusTooManyRequests || r.Status >= 500 {
		return notify.CheckStatus(kind, r, now)
	}
	var a answer
	if err := json.Unmarshal(r.Body, &a); err != nil || a.ErrCode == nil {
		if err := notify.CheckStatus(kind, r, now); err != nil {
			return err
		}
		return notify.Permanent(kind, r.Status, "unexpected answer: %s", notify.Snippet(r.Body))
	}
	code := *a.ErrCode
	switch code {
	case 0:
		if r.Status >= 200 && r.Status < 300 {
			return nil
		}
		return notify.CheckStatus(kind, r, now)
	case 45009: // api freq out of limit
		after := notify.RetryAfter(r.Header, now)
		if after == 0 {
			after = rateLimitWait
		}
		return notify.Retryable(kind, r.Status, after, "errcode %d: %s", code, errmsg(a.ErrMsg))
	default: // 93000 bad key, 40058 bad parameter, 40008 bad message type, ...
		return notify.Permanent(kind, r.Status, "errcode %d: %s", code, errmsg(a.ErrMsg))
	}
}

// errmsg is WeCom's errmsg for an error's text, without the link it
// appends ("..., more info at https://open.work.weixin.qq.com/..."):
// notify.Snippet would withhold the whole message for it.
func errmsg(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[:strings.LastIndexAny(s[:i], " [(")+1]
		s = strings.TrimRight(s, " ,;:[(")
		s = strings.TrimSuffix(s, "more info at")
		s = strings.TrimRight(s, " ,;:")
	}
	return notify.Snippet([]byte(s))
}
