package dispatch

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/storefence/storefence/db"
	"github.com/storefence/storefence/db/sqlite"
	"github.com/storefence/storefence/notify"
	"github.com/storefence/storefence/notify/notifytest"
	"github.com/storefence/storefence/notify/webhook"
)

// The crash child's settings: a short lease so that a killed sender's
// message is free again within the test, a quick poll so that the
// restarted one finds it soon after.
const (
	crashChannel = "hook"
	crashSecret  = "crash-test-signing-secret"
	crashLease   = 3 * time.Second
	crashPoll    = 100 * time.Millisecond
)

// TestMain lets this test binary double as a server's dispatcher for the
// crash tests: with STOREFENCE_NOTIFY_CHILD set to a directory it drains
// the outbox in <dir>/sf.db to the webhook at STOREFENCE_NOTIFY_URL until
// it is killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv("STOREFENCE_NOTIFY_CHILD"); dir != "" {
		if err := crashChild(dir, os.Getenv("STOREFENCE_NOTIFY_URL")); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// crashChild runs one dispatcher with one webhook channel, as a server
// does, and prints "ready" once it is about to send.
func crashChild(dir, url string) error {
	ctx := context.Background()
	d, err := sqlite.Open(ctx, filepath.Join(dir, "sf.db"), sqlite.Options{})
	if err != nil {
		return err
	}
	n, err := webhook.New(notify.Target{Name: crashChannel, URL: url, Secret: crashSecret}, nil, nil)
	if err != nil {
		return err
	}
	disp, err := New(Options{
		DB:       d,
		Channels: []Channel{{Name: crashChannel, Kind: "webhook", Language: "en", Notifier: n, Limits: []Window{{20, time.Second}}}},
		Log:      zerolog.New(os.Stderr).With().Timestamp().Logger(),
		Owner:    fmt.Sprintf("crash-child/%d", os.Getpid()),
		Lease:    crashLease,
		Poll:     crashPoll,
	})
	if err != nil {
		return err
	}
	fmt.Println("ready")
	disp.Run(ctx) // until SIGKILL
	return nil
}

// crashFixture is a database with queued messages, a fake webhook
// receiver, and the child dispatcher currently running.
type crashFixture struct {
	t    *testing.T
	dir  string
	db   *sqlite.DB
	recv *notifytest.Webhook
	keys []string // the queued messages' keys
}

func newCrashFixture(t *testing.T, n int) *crashFixture {
	t.Helper()
	f := &crashFixture{t: t, dir: t.TempDir(), recv: notifytest.NewWebhook(crashSecret, nil)}
	t.Cleanup(f.recv.Close) // after the children are gone (cleanups run last first)
	var err error
	f.db, err = sqlite.Open(context.Background(), filepath.Join(f.dir, "sf.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	now := time.Now()
	var msgs []db.OutboxMessage
	for i := range n {
		key := fmt.Sprintf("%s/crash/%03d", crashChannel, i)
		om, err := outboxMessage(crashChannel, key, testMessage("en", crashChannel, now), now)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, om)
		f.keys = append(f.keys, key)
	}
	err = f.db.NotifyTransition(context.Background(), func([]db.FindingState, []db.Ack) ([]db.FindingState, []db.OutboxMessage, error) {
		return nil, msgs, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// child is one run of the child dispatcher.
type child struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
}

// start runs the child dispatcher and waits until it is ready. A child
// still running when the test ends is killed; its log is shown when the
// test failed.
func (f *crashFixture) start() *child {
	t := f.t
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STOREFENCE_NOTIFY_CHILD="+f.dir, "STOREFENCE_NOTIFY_URL="+f.recv.WebhookURL())
	c := &child{cmd: cmd, stderr: new(syncBuffer)}
	cmd.Stderr = c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("child %d log:\n%s", cmd.Process.Pid, c.stderr)
		}
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("child did not start: %v\n%s", err, c.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("child did not start within 20 s\n%s", c.stderr)
	}
	return c
}

// kill sends SIGKILL and reaps the child; it is safe to call twice.
func (c *child) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// waitFor polls cond every 5 ms until it holds, failing the test after
// limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitDelivered waits until the receiver accepted as many deliveries as
// were queued and the outbox has nothing pending any more (the sender
// records a delivery just after the receiver answers).
func (f *crashFixture) waitDelivered(limit time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		accepted := len(f.recv.Accepted())
		pending, err := f.db.OutboxMessages(context.Background(), crashChannel, db.OutboxPending, 0)
		if err != nil {
			f.t.Fatal(err)
		}
		if accepted >= len(f.keys) && len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("after %s: the receiver accepted %d of %d messages (%d requests), %d still pending in the outbox",
				limit, accepted, len(f.keys), f.recv.Requests(), len(pending))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkExactlyOnce checks that the receiver accepted every queued message
// exactly once, by its X-Storefence-Delivery id, and that the outbox
// holds every one of them as sent.
func (f *crashFixture) checkExactlyOnce() {
	t := f.t
	t.Helper()
	count := map[string]int{}
	for _, d := range f.recv.Accepted() {
		count[d.Header.Get(webhook.HeaderDelivery)]++
	}
	for _, k := range f.keys {
		if count[k] != 1 {
			t.Errorf("message %s accepted %d times, want once", k, count[k])
		}
		delete(count, k)
	}
	for k, n := range count {
		t.Errorf("accepted %d deliveries of %q, which was never queued", n, k)
	}
	if n := f.recv.Repeats(); n != 0 {
		t.Errorf("the receiver saw %d repeated delivery ids, want 0", n)
	}
	if why := f.recv.Rejected(); len(why) != 0 {
		t.Errorf("the receiver rejected deliveries: %q", why)
	}
	ctx := context.Background()
	sent, err := f.db.OutboxMessages(ctx, crashChannel, db.OutboxSent, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != len(f.keys) {
		t.Errorf("%d of %d outbox messages are sent", len(sent), len(f.keys))
	}
	for _, state := range []string{db.OutboxPending, db.OutboxDead} {
		if ms, err := f.db.OutboxMessages(ctx, crashChannel, state, 0); err != nil || len(ms) != 0 {
			t.Errorf("%d outbox messages %s (%v), want none", len(ms), state, err)
		}
	}
}

// TestKillMidDelivery kills the dispatcher with SIGKILL while a delivery
// hangs in the receiver, restarts it, and checks that each of the 40
// queued messages reached the receiver exactly once, and that the outbox
// holds them all as sent.
//
// The hung message stays leased to the dead sender; the restarted one
// sends the others meanwhile, and sends it once the lease (3 s here, two
// minutes in a server) runs out. The receiver never accepted it, so it
// arrives once.
//
// The honest limit: a crash in the few milliseconds between the receiver
// accepting a message and the outbox recording it as sent makes the
// restarted sender deliver that one message again after the lease. The
// outbox cannot close that window (no sender can commit and deliver
// atomically); the generic webhook's X-Storefence-Delivery header, which
// a retry repeats, lets a receiver drop the repeat. This test kills while
// the receiver holds the request unanswered, outside that window, so it
// asserts exactly once.
func TestKillMidDelivery(t *testing.T) {
	const n = 40
	f := newCrashFixture(t, n)
	first := f.start()
	waitFor(t, 20*time.Second, "15 deliveries", func() bool { return len(f.recv.Accepted()) >= 15 })

	// The next request hangs. Sends are one at a time, so the hang is in
	// flight once one request has been outstanding for longer than any
	// loopback delivery takes (and well within the child's send timeout
	// of half its lease, 1.5 s, after which it would give up by itself).
	f.recv.Script(notifytest.Fault{Hang: 30 * time.Second})
	waitHung(t, f.recv)
	before := len(f.recv.Accepted())
	first.kill()
	if got := len(f.recv.Accepted()); got != before {
		t.Fatalf("accepted %d deliveries after the kill, had %d: the hung request was recorded", got, before)
	}
	if before >= n {
		t.Fatalf("all %d delivered before the kill; nothing was in flight", before)
	}

	f.start()
	f.waitDelivered(30 * time.Second)
	f.checkExactlyOnce()
	// One request more than messages: the hung one, never accepted.
	if got := f.recv.Requests(); got != n+1 {
		t.Errorf("%d requests for %d messages, want %d (one hung, every other one accepted once)", got, n, n+1)
	}
}

// waitHung waits until one request has been outstanding (arrived, neither
// accepted nor rejected) for 100 ms while no other arrived.
func waitHung(t *testing.T, r *notifytest.Webhook) {
	t.Helper()
	var since time.Time
	last := -1
	waitFor(t, 10*time.Second, "the hung request", func() bool {
		req, done := r.Requests(), len(r.Accepted())+len(r.Rejected())
		if req != done+1 || req != last {
			last, since = req, time.Now()
			return false
		}
		return time.Since(since) >= 100*time.Millisecond
	})
}

// TestKillWhileReceiverDown kills the dispatcher while the receiver is
// down and messages wait in the outbox between retries, restarts it, and
// brings the receiver back: every message arrives exactly once.
func TestKillWhileReceiverDown(t *testing.T) {
	const n = 40
	f := newCrashFixture(t, n)
	f.recv.SetDown(true)
	first := f.start()
	waitFor(t, 20*time.Second, "a retry against the down receiver", func() bool { return f.recv.Requests() >= 2 })
	first.kill()
	if got := len(f.recv.Accepted()); got != 0 {
		t.Fatalf("a down receiver accepted %d", got)
	}
	pending, err := f.db.OutboxMessages(context.Background(), crashChannel, db.OutboxPending, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != n {
		t.Fatalf("after the kill: %d messages pending, want all %d", len(pending), n)
	}
	if p := pending[0]; p.Attempts == 0 || !strings.Contains(p.LastError, "503") {
		t.Fatalf("after the kill the first message has %d attempts (%q), want a retry after a 503", p.Attempts, p.LastError)
	}

	f.start()
	f.recv.SetDown(false)
	f.waitDelivered(30 * time.Second)
	f.checkExactlyOnce()
}

// syncBuffer is a bytes.Buffer safe for the child's stderr copier and the
// test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
