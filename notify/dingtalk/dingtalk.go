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
	"strings"
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
	url    *url.URL // the webhook, with its access_token
	token  string
	secret string
	client *http.Client
	now    func() time.Time
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Notifier for the robot whose webhook is t.URL, signing
// with t.Secret when it is set. A nil client means http.DefaultClient and
// a nil now means time.Now. The error never quotes the URL.
func New(t notify.Target, client *http.Client, now func() time.Time) (*Notifier, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, errors.New("dingtalk: webhook url does not parse")
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, errors.New("dingtalk: webhook url is not an absolute http(s) url")
	}
	token := u.Query().Get("access_token")
	if token == "" {
		return nil, errors.New("dingtalk: webhook url has no access_token")
	}
	if client == nil {
		client = http.DefaultClient
	}
	if now == nil {
		now = time.Now
	}
	return &Notifier{url: u, token: token, secret: t.Secret, client: client, now: now}, nil
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
	body, err := json.Marshal(payload{MsgType: "markdown", Markdown: markdown{Title: title, Text: text}})
	if err != nil {
		return notify.Permanent(kind, 0, "encode message: %v", err)
	}
	u := *n.url
	if n.secret != "" {
		ts := n.now()
		q := u.Query()
		q.Set("timestamp", strconv.FormatInt(ts.UnixMilli(), 10))
		q.Set("sign", Sign(n.secret, ts)) // escaped once, by Encode
		u.RawQuery = q.Encode()
	}
	resp, err := notify.Post(ctx, n.client, kind, u.String(), "application/json; charset=utf-8", body, nil)
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
	for _, s := range []string{n.url.String(), n.token, n.secret} {
		if len(s) >= 8 {
			c.Reason = strings.ReplaceAll(c.Reason, s, "<redacted>")
		}
	}
	return &c
}

// answer is DingTalk's JSON reply.
type answer struct {
	ErrCode *int64 `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// parseAnswer sorts DingTalk's reply to a send: nil for errcode 0, and
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
	case 130101, 660026: // sending too fast: the robot is throttled for 10 minutes
		after := notify.RetryAfter(r.Header, now)
		if after == 0 {
			after = rateLimitWait
		}
		return notify.Retryable(kind, r.Status, after, "errcode %d: %s", code, errmsg(a.ErrMsg))
	default: // 310000 security check, 300005 bad token, 40035 missing parameter, ...
		return notify.Permanent(kind, r.Status, "errcode %d: %s", code, errmsg(a.ErrMsg))
	}
}

// errmsg is DingTalk's errmsg for an error's text, without the
// documentation link older answers append ("sign not match, more:
// [https://...]"): notify.Snippet would withhold the whole message for it.
func errmsg(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[:strings.LastIndexAny(s[:i], " [(")+1]
		s = strings.TrimRight(s, " ,;:[(")
		s = strings.TrimSuffix(s, "more")
		s = strings.TrimRight(s, " ,;:")
	}
	return notify.Snippet([]byte(s))
}
