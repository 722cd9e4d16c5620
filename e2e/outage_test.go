//go:build e2e && linux

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The outage phase runs the agents on a schedule of one tick, kills the
// server (SIGKILL, as a crash) for outageFor, starts it again on the same
// database, and checks that every report the agents produced is stored
// exactly once: none lost while the server was down, none stored twice,
// the spools empty at the end, nothing dropped.
//
// The agents run as the daemon (`storefence agent --config`), each with a
// stand-in for systemd's notification socket, as the server has too: READY=1
// and watchdog pings, which the units' Type=notify and WatchdogSec= rely on,
// must come, and the agents' pings must go on while the server is away. A
// build whose daemon is not there yet ("not built yet"), or
// STOREFENCE_E2E_ONCE=1, drives the agents with `storefence agent --once`
// once a tick instead (each run spools its report and drains the spool).
//
// Which reports were produced: --once prints each one; the daemon logs each
// report's id (the "report" field of its "run done" JSON log lines). The
// stored ones are read from the server's database. That the two sets are
// equal, and that the restarted server answered 202 exactly once per report
// it stored (a report sent again after a lost answer gets 200), is the
// exactly-once check; the schedule gives a second, independent one: one
// report per tick, with no tick missing across the outage.

// agentRun is one agent of the outage phase: a daemon, or the --once loop.
type agentRun struct {
	spec   agentSpec
	cfg    string
	daemon *proc
	notify *notifySocket

	mu       sync.Mutex
	produced map[string]bool // ids of the reports it produced
	loopErr  []string        // --once runs that failed, for the log
	stop     chan struct{}
	stopped  chan struct{}
}

// drainWait bounds the wait for the spools to drain after the outage.
const drainWait = 150 * time.Second

// watchdogUsec is the watchdog interval given to the daemons (systemd's
// WatchdogSec=): short, so that the pings are seen during the outage.
const watchdogUsec = 4_000_000

func (e *env) testOutage(ctx context.Context) {
	t := e.t
	runs := make([]*agentRun, len(e.agents))
	for i, a := range e.agents {
		runs[i] = &agentRun{spec: a, cfg: e.agentConfig(a, a.stores), produced: map[string]bool{}}
	}
	t0 := time.Now()
	daemon := os.Getenv("STOREFENCE_E2E_ONCE") == "" && e.startDaemons(ctx, runs)
	if !daemon {
		t.Log("outage: driving `agent --once` once a tick (no agent daemon in this build, or STOREFENCE_E2E_ONCE set)")
		for _, r := range runs {
			e.startOnceLoop(ctx, r)
		}
	}

	// Up: every agent delivers.
	e.waitReports(ctx, runs, t0, 2)

	// Down.
	tDown := time.Now()
	e.server.kill()
	watchdogBefore := e.watchdogCounts(runs)
	time.Sleep(outageFor)
	for _, r := range runs {
		if r.daemon != nil && !r.daemon.running() {
			t.Fatalf("agent %s exited while the server was down: %v", r.spec.id, r.daemon.err)
		}
	}
	if daemon {
		for i, r := range runs {
			if n := r.notify.count("WATCHDOG=1") - watchdogBefore[i]; n < 2 {
				t.Errorf("agent %s sent %d watchdog pings during the %s outage, want ≥ 2 (WATCHDOG_USEC=%d): systemd would kill it", r.spec.id, n, outageFor, watchdogUsec)
			}
		}
	}

	// Up again: the spools drain.
	// The daemons retry on a capped exponential backoff with full jitter
	// (agent.DefaultBackoff), which also defers the drains of the ticks:
	// after ten seconds of failures the next attempt may be a minute or
	// two away, hence the long wait.
	tUp := time.Now()
	e.startServer(ctx)
	err := eventually(ctx, drainWait, 200*time.Millisecond, func() error { return e.spoolsEmpty(runs) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("spools drained %s after the server came back", time.Since(tUp).Round(100*time.Millisecond))
	e.waitReports(ctx, runs, time.Now(), 1)

	// Stop the agents; a daemon stops cleanly on SIGTERM.
	tStop := time.Now()
	for _, r := range runs {
		if r.daemon != nil {
			if err := r.daemon.stop(20 * time.Second); err != nil {
				t.Errorf("agent %s: exit on SIGTERM: %v\n%s", r.spec.id, err, r.daemon.stderr.String())
			}
			r.collectLogged()
		} else {
			close(r.stop)
			<-r.stopped
		}
	}
	// A stop that cuts a run's delivery short leaves its report spooled:
	// legitimate, as long as the next start delivers it. One --once run
	// (its own report, and the spool) stands for that start.
	for _, r := range runs {
		if e.spoolsEmpty([]*agentRun{r}) == nil {
			continue
		}
		t.Logf("agent %s left reports spooled at stop; delivering them with agent --once", r.spec.id)
		w := e.once(ctx, r.spec, r.spec.stores)
		r.mu.Lock()
		r.produced[w.ID] = true
		r.mu.Unlock()
	}
	if err := e.spoolsEmpty(runs); err != nil {
		t.Error(err)
	}
	e.checkDelivery(ctx, runs, phaseTimes{t0, tDown, tUp, tStop}, daemon)
	if n := e.serverNotify.count("WATCHDOG=1"); n == 0 {
		t.Errorf("the restarted server sent no watchdog ping (WATCHDOG_USEC=%d): systemd would kill it", watchdogUsec)
	}
}

// startDaemons starts each agent as a daemon and waits for its READY=1. It
// returns false, having started nothing, when the daemon is not built.
func (e *env) startDaemons(ctx context.Context, runs []*agentRun) bool {
	t := e.t
	for _, r := range runs {
		r.notify = listenNotify(t, filepath.Join(e.dir, "notify-"+r.spec.id+".sock"))
		env := []string{"NOTIFY_SOCKET=" + r.notify.path, "WATCHDOG_USEC=" + strconv.Itoa(watchdogUsec)}
		r.daemon = e.start(r.spec.host, "agent "+r.spec.id, env, e.sf, "agent", "--config", r.cfg)
	}
	for _, r := range runs {
		err := eventually(ctx, 15*time.Second, 50*time.Millisecond, func() error {
			if !r.daemon.running() {
				return fmt.Errorf("exited: %v", r.daemon.err)
			}
			if r.notify.count("READY=1") == 0 {
				return fmt.Errorf("no READY=1 on $NOTIFY_SOCKET yet (got %q)", r.notify.String())
			}
			return nil
		})
		if err == nil {
			continue
		}
		if strings.Contains(r.daemon.stderr.String(), "not built yet") {
			for _, r := range runs {
				r.daemon.stop(5 * time.Second)
				r.daemon = nil
			}
			return false
		}
		t.Fatalf("agent %s daemon: %v\n%s", r.spec.id, err, r.daemon.stderr.String())
	}
	return true
}

// startOnceLoop runs `agent --once` for r once a tick until r.stop closes.
func (e *env) startOnceLoop(ctx context.Context, r *agentRun) {
	r.stop, r.stopped = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(r.stopped)
		next := time.Now()
		for {
			out, stderr, err := e.runErr(ctx, r.spec.host, nil, e.sf, "agent", "--once", "--config", r.cfg, "--log-level", "warn")
			var w wireReport
			if jerr := json.Unmarshal(out, &w); jerr == nil && w.ID != "" {
				r.mu.Lock()
				r.produced[w.ID] = true
				r.mu.Unlock()
			}
			if err != nil {
				r.mu.Lock()
				r.loopErr = append(r.loopErr, fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(stderr))))
				r.mu.Unlock()
			}
			next = next.Add(tick)
			select {
			case <-r.stop:
				return
			case <-time.After(time.Until(next)):
			}
		}
	}()
}

// reportIDRE matches a report id (UUIDv7) in a log field.
var reportIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// collectLogged adds to r.produced the report ids that the daemon logged:
// the "report" field of its JSON log lines.
func (r *agentRun) collectLogged() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, line := range r.daemon.stderr.Lines() {
		var fields map[string]any
		if json.Unmarshal([]byte(line), &fields) != nil {
			continue
		}
		if id, ok := fields["report"].(string); ok && reportIDRE.MatchString(id) {
			r.produced[id] = true
		}
	}
}

// waitReports waits until every agent has at least n reports stored that
// were collected at or after from.
func (e *env) waitReports(ctx context.Context, runs []*agentRun, from time.Time, n int) {
	e.t.Helper()
	err := eventually(ctx, 30*time.Second, 200*time.Millisecond, func() error {
		stored, err := e.storedReports(ctx)
		if err != nil {
			return err
		}
		for _, r := range runs {
			if got := len(since(stored[r.spec.id], from)); got < n {
				return fmt.Errorf("agent %s: %d reports collected since %s stored, want ≥ %d", r.spec.id, got, from.Format("15:04:05.000"), n)
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// spoolsEmpty returns an error naming the reports still queued or
// rejected in the agents' spools.
func (e *env) spoolsEmpty(runs []*agentRun) error {
	var left []string
	for _, r := range runs {
		dir := filepath.Join(filepath.Dir(r.cfg), "spool")
		for _, sub := range []string{dir, filepath.Join(dir, "rejected")} {
			names, _ := filepath.Glob(filepath.Join(sub, "*.json"))
			for _, n := range names {
				rel, _ := filepath.Rel(filepath.Dir(r.cfg), n)
				left = append(left, r.spec.id+": "+rel)
			}
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("spools not empty: %s", strings.Join(left, ", "))
	}
	return nil
}

// watchdogCounts returns how many watchdog pings each daemon has sent.
func (e *env) watchdogCounts(runs []*agentRun) []int {
	n := make([]int, len(runs))
	for i, r := range runs {
		if r.notify != nil {
			n[i] = r.notify.count("WATCHDOG=1")
		}
	}
	return n
}

// phaseTimes are the moments of the outage phase: the agents start, the
// server goes down, comes up again, the agents stop.
type phaseTimes struct{ start, down, up, stop time.Time }

// checkDelivery is the verdict of the outage phase.
func (e *env) checkDelivery(ctx context.Context, runs []*agentRun, pt phaseTimes, daemon bool) {
	t := e.t
	stored, err := e.storedReports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	receivedAfterUp := 0
	for _, r := range runs {
		id := r.spec.id
		got := since(stored[id], pt.start)
		var gotIDs []string
		outage := 0
		for i, s := range got {
			gotIDs = append(gotIDs, s.id)
			if !s.receivedAt.Before(pt.up) {
				receivedAfterUp++
			}
			if s.collectedAt.After(pt.down) && s.collectedAt.Before(pt.up) {
				outage++
				if s.receivedAt.Before(pt.up) {
					t.Errorf("agent %s: report %s collected during the outage was received at %s, before the server was back", id, s.id, s.receivedAt.Format(time.StampMilli))
				}
			}
			if s.spool != nil && s.spool.Dropped != 0 {
				t.Errorf("agent %s: report %s says the spool dropped %d reports", id, s.id, s.spool.Dropped)
			}
			// One report per tick while the agents ran: a gap of two ticks
			// is a report lost.
			if i > 0 && s.collectedAt.Before(pt.stop) {
				if gap := s.collectedAt.Sub(got[i-1].collectedAt); gap > tick*3/2 || gap < tick/2 {
					t.Errorf("agent %s: reports %s and %s were collected %s apart, want one per %s", id, got[i-1].id, s.id, gap.Round(time.Millisecond), tick)
				}
			}
		}
		// Reports of the outage were spooled and delivered after it.
		if want := int(outageFor/tick) - 1; outage < want {
			t.Errorf("agent %s: %d reports collected during the %s outage were stored, want ≥ %d", id, outage, outageFor, want)
		}
		r.mu.Lock()
		produced := make([]string, 0, len(r.produced))
		for p := range r.produced {
			produced = append(produced, p)
		}
		loopErr := len(r.loopErr)
		r.mu.Unlock()
		slices.Sort(produced)
		slices.Sort(gotIDs)
		switch {
		case len(produced) == 0:
			t.Errorf("agent %s: no report id in its output (the daemon's \"report\" log field): the reports it produced cannot be counted", id)
		case !slices.Equal(produced, gotIDs):
			missing, extra := diffIDs(produced, gotIDs)
			t.Errorf("agent %s: produced %d reports, %d stored since the phase began; not stored: %v; stored but not produced: %v", id, len(produced), len(gotIDs), missing, extra)
		}
		t.Logf("agent %s: %d reports stored, %d of them collected during the outage (%d --once runs failed)", id, len(got), outage, loopErr)
	}
	if daemon {
		// Maximum queue the spool reported while the server was down.
		for _, r := range runs {
			var maxQueued int64 = -1
			for _, s := range since(stored[r.spec.id], pt.start) {
				if s.spool != nil {
					maxQueued = max(maxQueued, s.spool.Queued)
				}
			}
			t.Logf("agent %s: largest spool queue reported upstream: %d", r.spec.id, maxQueued)
		}
	}
	e.checkAccepted(ctx, receivedAfterUp)
}

// checkAccepted checks that the restarted server answered 202 (stored)
// exactly once per report it stored, whatever the number of 200s (a
// report sent again after a lost answer).
func (e *env) checkAccepted(ctx context.Context, storedAfterUp int) {
	out, err := e.helper(ctx, hostServer, "http", serverURL+"/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	counts := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "storefence_reports_total{") {
			continue
		}
		labels, value, _ := strings.Cut(strings.TrimPrefix(line, "storefence_reports_total"), " ")
		v, _ := strconv.ParseFloat(value, 64)
		for _, l := range strings.Split(strings.Trim(labels, "{}"), ",") {
			if code, ok := strings.CutPrefix(l, `code="`); ok {
				counts[strings.TrimSuffix(code, `"`)] += v
			}
		}
	}
	if int(counts["202"]) != storedAfterUp {
		e.t.Errorf("the restarted server answered 202 %v times but stored %d reports", counts["202"], storedAfterUp)
	}
	for code, n := range counts {
		if code != "202" && code != "200" {
			e.t.Errorf("the restarted server answered %s %v times", code, n)
		}
	}
	e.t.Logf("restarted server: %v stored (202), %v already had (200)", counts["202"], counts["200"])
}

// diffIDs returns the ids of want missing from got and those of got not in
// want; both sorted.
func diffIDs(want, got []string) (missing, extra []string) {
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok {
			extra = append(extra, g)
		}
	}
	return missing, extra
}
