package agent

import (
	"math/rand/v2"
	"time"
)

// Backoff is capped exponential backoff with full jitter: the n-th retry in
// a row waits a uniformly random time in [0, min(Cap, Base·2ⁿ⁻¹)], so that
// agents that lost the server together do not come back together.
type Backoff struct {
	Base, Cap time.Duration
}

// DefaultBackoff is the agent's delivery backoff: 1s doubling up to 5m.
var DefaultBackoff = Backoff{Base: time.Second, Cap: 5 * time.Minute}

// Ceiling is the longest wait before retry n (n ≥ 1).
func (b Backoff) Ceiling(n int) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Cap; i++ {
		d *= 2
	}
	return min(d, b.Cap)
}

// Delay is the wait before retry n, drawn by rnd (rand.Int64N when nil)
// from [0, Ceiling(n)], and never shorter than after: the server's
// Retry-After.
func (b Backoff) Delay(n int, after time.Duration, rnd func(int64) int64) time.Duration {
	if rnd == nil {
		rnd = rand.Int64N
	}
	d := time.Duration(rnd(int64(b.Ceiling(n)) + 1))
	return max(d, after)
}
