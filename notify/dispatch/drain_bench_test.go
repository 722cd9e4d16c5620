package dispatch

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/notify/dingtalk"
	"github.com/storefence/storefence/notify/notifytest"
)

// BenchmarkOutageDrain is issue 6's target: a DingTalk robot (the local
// receiver, verifying signatures and keyword on the same simulated clock)
// is down for 24 h while 10,000 notifications queue; when it returns they
// drain at DingTalk's 20 per minute, none lost and none duplicated. The
// clock is simulated, so the day and the 8 h drain take seconds; each
// message still goes through the real notifier, HTTP and the SQLite outbox.
func BenchmarkOutageDrain(b *testing.B) {
	const n = 10000
	for range b.N {
		clk := &simClock{t: t0}
		recv := notifytest.NewDingTalk("SECdrain", "storefence", clk.Now)
		recv.SetDown(true)
		back := t0.Add(24 * time.Hour)
		clk.onTick = func(now time.Time) {
			if !now.Before(back) {
				recv.SetDown(false)
			}
		}
		dn, err := dingtalk.New(notify.Target{Name: "ops", URL: recv.WebhookURL(), Secret: "SECdrain"}, &http.Client{}, clk.Now)
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		var delivered []time.Time
		var probes int
		n2 := notify.NotifierFunc(func(ctx context.Context, m *notify.Message) error {
			err := dn.Notify(ctx, m)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				delivered = append(delivered, clk.Now())
			} else if clk.Now().Before(back) {
				probes++
			}
			return err
		})
		d := openDB(b)
		disp, err := New(Options{DB: d, Channels: []Channel{{Name: "ops", Kind: "dingtalk", Language: "zh-CN", Keyword: "storefence",
			Notifier: n2, Limits: Limits["dingtalk"]}}, Clock: clk, Log: zerolog.Nop(), Owner: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		// 10,000 notifications queue over the first hours of the outage.
		for i := 0; i < n; i += 500 {
			var msgs []db.OutboxMessage
			for j := i; j < i+500; j++ {
				m := testMessage("zh-CN", "ops", clk.Now())
				m.Title = fmt.Sprintf("通知 %05d", j)
				om, err := outboxMessage("ops", fmt.Sprintf("ops/bench/%05d", j), m, clk.Now())
				if err != nil {
					b.Fatal(err)
				}
				msgs = append(msgs, om)
			}
			if err := d.NotifyTransition(ctx, func([]db.FindingState, []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
				return nil, msgs, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		drain(b, disp)
		real := time.Since(start)
		recv.Close()

		texts := map[string]int{}
		for _, a := range recv.Accepted() {
			texts[a.Text]++
		}
		if len(recv.Accepted()) != n || len(texts) != n {
			b.Fatalf("receiver accepted %d messages, %d distinct; want %d of each", len(recv.Accepted()), len(texts), n)
		}
		if rej := recv.Rejected(); len(rej) > 0 {
			b.Fatalf("receiver rejected %d: %v", len(rej), rej[0])
		}
		worst := 0
		for i := range delivered {
			j := i
			for j < len(delivered) && delivered[j].Sub(delivered[i]) < time.Minute {
				j++
			}
			worst = max(worst, j-i)
		}
		if worst > 20 {
			b.Fatalf("%d messages within one minute, over DingTalk's 20", worst)
		}
		if delivered[0].Before(back) {
			b.Fatalf("a message delivered during the outage")
		}
		b.ReportMetric(delivered[len(delivered)-1].Sub(back).Minutes(), "drain-sim-min")
		b.ReportMetric(float64(worst), "max-per-min")
		b.ReportMetric(float64(probes), "probes-while-down")
		b.ReportMetric(real.Seconds(), "real-s")
	}
}
