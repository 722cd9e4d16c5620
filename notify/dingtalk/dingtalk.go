// Package dingtalk delivers notify messages to a DingTalk custom robot
// (自定义机器人) as markdown, signing each request when the robot has a
// secret ("加签"). The robot answers HTTP 200 for business errors, so the
// errcode in its JSON answer decides success: 0 is accepted, the rate
// limits (130101, 660026) are retryable, everything else is permanent.
//
// Protocol: https://open.dingtalk.com/document/robots/custom-robot-access
// (protocol notes, section 2.1).
package dingtalk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/storefence/storefence/notify"
)

const kind = "dingtalk"

// MaxText is the most bytes of markdown text sent. DingTalk documents no
// limit; protocols.md section 2.1 advises staying under about 5 KB.
const MaxText = 5000

// rateLimitWait is the wait after a rate-limit answer that named none:
// DingTalk throttles a robot that sent more than 20 messages in a minute
// for 10 minutes.
const rateLimitWait = 10 * time.Minute

// Notifier sends messages to one DingTalk robot.
type Notifier struct {
	ep     *notify.Endpoint
	url    *url.URL // the webhook, with its access_token
	secret string
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier for the robot whose webhook is t.URL, signing
// with t.Secret when it is set. A nil client means http.DefaultClient and
// a nil now means time.Now. The error never quotes the URL.
func New(t notify.Target, client *http.Client, now func() time.Time) (*Notifier, error) {
	ep, u, err := notify.NewEndpoint(kind, "webhook url", t, client, now)
	if err != nil {
		return nil, err
	}
	token := u.Query().Get("access_token")
	if token == "" {
		return nil, errors.New("dingtalk: webhook url has no access_token")
	}
	ep.Hide(token)
	return &Notifier{ep: ep, url: u, secret: t.Secret}, nil
}

// Sign returns DingTalk's signature of a request sent at ts:
// base64(HMAC-SHA256(key = secret, message = ts in milliseconds + "\n" +
// secret)). It is not URL-escaped; url.Values does that once.
func Sign(secret string, ts time.Time) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts.UnixMilli(), 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// payload is a markdown message.
type payload struct {
	MsgType  string   `json:"msgtype"`
	Markdown markdown `json:"markdown"`
}

type markdown struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

// Notify sends m. It returns nil once DingTalk answered errcode 0, and
// otherwise a *notify.Error: retryable for the rate limits, 429, 5xx and
// network failures, permanent for the rest (a bad token, a failed
// signature, timestamp or keyword check).
func (n *Notifier) Notify(ctx context.Context, m *notify.Message) error {
	if m == nil {
		return notify.Permanent(kind, 0, "no message")
	}
	title, text := render(m)
	u := *n.url
	if n.secret != "" {
		ts := n.ep.Now()
		q := u.Query()
		q.Set("timestamp", strconv.FormatInt(ts.UnixMilli(), 10))
		q.Set("sign", Sign(n.secret, ts)) // escaped once, by Encode
		u.RawQuery = q.Encode()
	}
	p := payload{MsgType: "markdown", Markdown: markdown{Title: title, Text: text}}
	return n.ep.SendJSON(ctx, u.String(), "application/json; charset=utf-8", p, parseAnswer)
}

// answer is DingTalk's JSON reply.
type answer struct {
	ErrCode *int64 `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// rules sort DingTalk's replies. Its errmsg may end in a documentation
// link ("sign not match, more: [https://...]"), cut from the reason.
var rules = notify.CodeRules{
	Kind:      kind,
	Name:      "errcode",
	RateLimit: []int64{130101, 660026}, // sending too fast: the robot is throttled for 10 minutes
	Wait:      rateLimitWait,
	LinkIntro: "more",
}

// parseAnswer sorts DingTalk's reply to a send as rules do: nil for
// errcode 0, retryable for the rate limits, 429 and 5xx, permanent for
// the rest (310000 security check, 300005 bad token, 40035 missing
// parameter, ...).
func parseAnswer(r *notify.Response, now time.Time) error {
	var a answer
	if json.Unmarshal(r.Body, &a) != nil {
		a.ErrCode = nil
	}
	return rules.Check(r, now, a.ErrCode, a.ErrMsg)
}
