package dispatch

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/sqlite"
	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/policy"
)

// TestReplicasSendOnce runs two dispatchers, as two server replicas would,
// on one database: both evaluate the same audits and both drain the same
// outbox, and every message reaches the receiver exactly once.
func TestReplicasSendOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sf.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	got := map[string]int{}
	recv := notify.NotifierFunc(func(_ context.Context, m *notify.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got[m.ID]++
		return nil
	})
	var disps []*Dispatcher
	for i := range 2 {
		d, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		disp, err := New(Options{DB: d, Channels: []Channel{{Name: "c", Kind: "webhook", Language: "en", Notifier: recv}},
			Log: zerolog.Nop(), Owner: fmt.Sprintf("replica-%d", i), Poll: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		disps = append(disps, disp)
	}
	var wg sync.WaitGroup
	for _, disp := range disps {
		wg.Add(1)
		go func() { defer wg.Done(); disp.sendLoop(ctx, disp.channels[0]) }()
	}
	// 30 evaluations, each opening one finding and resolving the last,
	// computed by both replicas at once.
	for i := range 30 {
		a := audit(finding(fmt.Sprintf("f%02d", i), policy.High, "a", "b"))
		var ew sync.WaitGroup
		for _, disp := range disps {
			ew.Add(1)
			go func() { defer ew.Done(); disp.OnEvaluate(ctx, a, fresh) }()
		}
		ew.Wait()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := disps[0].opt.DB.OutboxStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	all, err := disps[0].opt.DB.OutboxMessages(context.Background(), "c", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range all {
		if m.State != db.OutboxSent {
			t.Errorf("message %s is %s", m.Key, m.State)
		}
		if got[m.Key] != 1 {
			t.Errorf("message %s received %d times", m.Key, got[m.Key])
		}
	}
	if len(all) != 30 || len(got) != 30 {
		t.Errorf("%d messages queued, %d received; want 30 (one per evaluation, not one per replica)", len(all), len(got))
	}
}

// TestDigest queues one digest per channel per scheduled time, limited to
// what the channel may see, however often it is asked.
func TestDigest(t *testing.T) {
	d := openDB(t)
	clk := &simClock{t: t0}
	all, onlyC := &recorder{}, &recorder{}
	disp := newDispatcher(t, d, clk,
		Channel{Name: "all", Kind: "webhook", Language: "en", Notifier: all, MinSeverity: policy.Low},
		Channel{Name: "c", Kind: "webhook", Language: "zh-CN", Notifier: onlyC, MinSeverity: policy.Low, Stores: []string{"c"}},
	)
	ctx := context.Background()
	a := audit(finding("f1", policy.High, "a", "b"), finding("f2", policy.Critical, "c", "d"))
	a.Clusters = []policy.Cluster{{Stores: []string{"a", "b"}, Severity: policy.High}, {Stores: []string{"c", "d"}, Severity: policy.Critical}}
	a.Warnings = []policy.Warning{{Kind: policy.StaleAgent, Agent: "vps-9", Detail: "silent for 3 days"}}
	disp.last.Store(a)
	at := t0.Add(23 * time.Hour)
	clk.After(23 * time.Hour) // the schedule fired
	for range 2 {             // a second replica, or a retry, queues nothing more
		if err := disp.enqueueDigest(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, disp)
	if ms := all.messages(); len(ms) != 1 || ms[0].Kind != "digest" || ms[0].Title != "storefence daily digest: 2 open findings, 2 clusters, 1 stale agents" {
		t.Errorf("all: %q", titles(ms))
	}
	ms := onlyC.messages()
	if len(ms) != 1 {
		t.Fatalf("c: %d digests", len(ms))
	}
	if p := ms[0].Plain(); !strings.Contains(p, "1 项未解除关联") || strings.Contains(p, "a, b") {
		t.Errorf("c's digest shows more than store c's findings:\n%s", p)
	}
}
