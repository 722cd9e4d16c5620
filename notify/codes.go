package notify

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// CodeRules sort the answers of a vendor that reports business errors in
// an HTTP 200, as a code in its JSON answer that is 0 on success
// (DingTalk, WeCom, Feishu).
type CodeRules struct {
	Kind      string        // the integration, as in Error.Kind
	Name      string        // the vendor's name for the code, in the reason: "errcode"
	RateLimit []int64       // the codes of a rate limit, which are retried
	Wait      time.Duration // the wait after a rate limit whose answer asked for none
	LinkIntro string        // the words before a link in a message ("more info at"), cut with it
}

// Check sorts r, whose JSON body carried code (nil when it had none or
// was not JSON) and msg: nil for code 0 in a 2xx, and otherwise an
// *Error. 429 and 5xx are retried whatever the body; a code decides the
// rest; an HTTP error without one goes by its status; a 2xx without one
// is permanent, as nothing says the message was delivered and a retry is
// unlikely to fare better. A rate limit is retried after the answer's
// Retry-After, or else after Wait.
func (c *CodeRules) Check(r *Response, now time.Time, code *int64, msg string) error {
	if r.Status == http.StatusTooManyRequests || r.Status >= 500 {
		return CheckStatus(c.Kind, r, now)
	}
	if code == nil {
		if err := CheckStatus(c.Kind, r, now); err != nil {
			return err
		}
		return Permanent(c.Kind, r.Status, "unexpected answer: %s", Snippet(r.Body))
	}
	switch {
	case *code == 0:
		if r.Status >= 200 && r.Status < 300 {
			return nil
		}
		return CheckStatus(c.Kind, r, now)
	case slices.Contains(c.RateLimit, *code):
		after := RetryAfter(r.Header, now)
		if after == 0 {
			after = c.Wait
		}
		return Retryable(c.Kind, r.Status, after, "%s %d: %s", c.Name, *code, c.reason(msg))
	default:
		return Permanent(c.Kind, r.Status, "%s %d: %s", c.Name, *code, c.reason(msg))
	}
}

// reason is msg for an error's text, cut before a link it carries and the
// words that introduce it ("sign not match, more: [https://...]"):
// Snippet would withhold the whole message for the link.
func (c *CodeRules) reason(msg string) string {
	if i := strings.Index(msg, "://"); i >= 0 {
		msg = msg[:strings.LastIndexAny(msg[:i], " [(")+1]
		msg = strings.TrimRight(msg, " ,;:[(")
		msg = strings.TrimSuffix(msg, c.LinkIntro)
		msg = strings.TrimRight(msg, " ,;:")
	}
	return Snippet([]byte(msg))
}
