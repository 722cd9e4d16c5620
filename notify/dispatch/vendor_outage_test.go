package dispatch

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/notify/dingtalk"
	"github.com/storefence/storefence/notify/notifytest"
	"github.com/storefence/storefence/policy"
)

// TestVendorOutage plays an outage against the local DingTalk robot, through
// the real notifier and HTTP, on a simulated clock: a 503, a 429 with
// Retry-After, a request that hangs past the send timeout, then DingTalk's
// "send too fast" inside an HTTP 200. The message is accepted exactly once,
// and the waits honour what the robot asked for.
func TestVendorOutage(t *testing.T) {
	clk := &simClock{t: t0}
	recv := notifytest.NewDingTalk("SECoutage", "storefence", clk.Now)
	defer recv.Close()
	recv.Script(
		notifytest.Fault{Status: http.StatusServiceUnavailable, Body: "upstream down"},
		notifytest.Fault{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": "90"}},
		notifytest.Fault{Hang: 10 * time.Second},
		notifytest.Fault{Status: http.StatusOK, Body: `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`},
	)
	dn, err := dingtalk.New(notify.Target{Name: "ops", URL: recv.WebhookURL(), Secret: "SECoutage"}, &http.Client{}, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	var attempts []time.Time
	n := notify.NotifierFunc(func(ctx context.Context, m *notify.Message) error {
		attempts = append(attempts, clk.Now())
		return dn.Notify(ctx, m)
	})
	d := openDB(t)
	disp, err := New(Options{DB: d, Channels: []Channel{{Name: "ops", Kind: "dingtalk", Language: "zh-CN", Keyword: "storefence",
		Notifier: n, Limits: Limits["dingtalk"]}}, Clock: clk, Log: zerolog.Nop(), Owner: "test", Lease: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	disp.OnEvaluate(ctx, audit(finding("f1", policy.Critical, "shop-a", "shop-b")), fresh)
	drain(t, disp)

	if got := recv.Accepted(); len(got) != 1 {
		t.Fatalf("robot accepted %d messages, want 1 (rejected: %v)", len(got), recv.Rejected())
	}
	if len(attempts) != 5 {
		t.Fatalf("%d attempts, want 5", len(attempts))
	}
	if gap := attempts[2].Sub(attempts[1]); gap < 90*time.Second {
		t.Errorf("retried %s after Retry-After: 90", gap)
	}
	if gap := attempts[4].Sub(attempts[3]); gap < 10*time.Minute {
		t.Errorf("retried %s after errcode 130101 (DingTalk throttles for 10 minutes)", gap)
	}
	sent, err := d.OutboxMessages(ctx, "ops", db.OutboxSent, 0)
	if err != nil || len(sent) != 1 || sent[0].Attempts != 5 {
		t.Errorf("outbox: %+v %v", sent, err)
	}
}
