package dispatch

import (
	"time"
)

// Window is one rate limit: at most N sends in any Per.
type Window struct {
	N   int
	Per time.Duration
}

// limiter enforces every window of a channel exactly: it remembers the
// times of the last sends, so that "20 per minute" means no 21st within
// any 60 s, as DingTalk and WeCom count (a token bucket would allow a
// burst on top of the refill).
type limiter struct {
	windows []Window
	sent    []time.Time // the most recent sends, oldest first, at most max N
}

func newLimiter(ws []Window) *limiter { return &limiter{windows: ws} }

// wait returns how long to wait from now before the next send.
func (l *limiter) wait(now time.Time) time.Duration {
	var d time.Duration
	for _, w := range l.windows {
		if len(l.sent) < w.N {
			continue
		}
		// The N-th most recent send must be at least Per ago.
		if w := l.sent[len(l.sent)-w.N].Add(w.Per).Sub(now); w > d {
			d = w
		}
	}
	return d
}

// record notes a send at t.
func (l *limiter) record(t time.Time) {
	keep := 0
	for _, w := range l.windows {
		keep = max(keep, w.N)
	}
	if keep == 0 {
		return
	}
	l.sent = append(l.sent, t)
	if len(l.sent) > keep {
		l.sent = append(l.sent[:0], l.sent[len(l.sent)-keep:]...)
	}
}

// Limits are the documented rate limits of each kind (see
// ../shared/reference/protocols.md §2.8); Discord publishes none to hard
// code, and is paced by its 429s.
var Limits = map[string][]Window{
	"dingtalk": {{20, time.Minute}},
	"wecom":    {{20, time.Minute}},
	"feishu":   {{5, time.Second}, {100, time.Minute}},
	"slack":    {{1, time.Second}},
	"telegram": {{1, time.Second}, {20, time.Minute}},
	"teams":    {{4, time.Second}},
	"discord":  nil,
	"webhook":  {{10, time.Second}},
}
