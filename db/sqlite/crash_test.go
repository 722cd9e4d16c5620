package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storefence/storefence/db/dbtest"
	"github.com/storefence/storefence/report"
)

// crashEnv names the database the crash child writes to; set only in the
// child.
const crashEnv = "STOREFENCE_CRASH_CHILD_DB"

// crashReport is report k of the crash test, a function of k alone so that
// the parent can rebuild whatever the child stored.
func crashReport(k int) *report.Report {
	return dbtest.Rep(fmt.Sprintf("crash-%d", k), fmt.Sprintf("vps-%d", k%8), k, []string{fmt.Sprintf("shop-%d", k%3)},
		fmt.Sprintf("203.0.113.%d", k%17), fmt.Sprintf("h%d", k%8), fmt.Sprintf("198.51.100.%d", k%50))
}

// TestCrashChild is the child of TestCrash: it runs PutReport from several
// goroutines without end and prints "ack <k>" for every report acknowledged.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestCrash")
	}
	first, err := strconv.Atoi(os.Getenv(crashEnv + "_FIRST"))
	if err != nil {
		t.Fatal(err)
	}
	// Should the parent die, stop on our own.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			for k := first + w; ctx.Err() == nil; k += workers {
				if _, err := d.PutReport(ctx, dbtest.Ingest(crashReport(k))); err != nil {
					fmt.Fprintf(os.Stderr, "PutReport %d: %v\n", k, err)
					return
				}
				out.Lock()
				fmt.Fprintf(os.Stdout, "ack %d\n", k) // one write: either all of the line reaches the pipe or none
				out.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestCrash kills a process that is writing reports (SIGKILL on Unix),
// three times over, and checks after each that the database is intact, that
// every acknowledged report is stored, and that no report is stored without
// its sightings and agent state.
func TestCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the child")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := map[int]bool{}
	for round := range 3 {
		first := round * 1_000_000
		cmd := exec.Command(exe, "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path, crashEnv+"_FIRST="+strconv.Itoa(first))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n, killAt := 0, 300+round*200
		for sc.Scan() {
			k, ok := strings.CutPrefix(sc.Text(), "ack ")
			if !ok {
				continue
			}
			id, err := strconv.Atoi(k)
			if err != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			acked[id] = true
			if n++; n == killAt {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
		}
		err = cmd.Wait()
		if n < killAt {
			t.Fatalf("round %d: the child acknowledged %d reports and exited (%v):\n%s", round, n, err, stderr.String())
		}
		t.Logf("round %d: killed after %d acknowledged reports (%v)", round, n, err)
		checkAfterCrash(t, path, acked)
	}
}

func checkAfterCrash(t *testing.T, path string, acked map[int]bool) {
	t.Helper()
	d, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("reopen after the crash: %v", err)
	}
	defer d.Close()
	var ok string
	if err := d.r.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
	rows, err := d.r.Query("SELECT id FROM reports")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := map[int]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		k, err := strconv.Atoi(strings.TrimPrefix(id, "crash-"))
		if err != nil {
			t.Fatalf("stored id %q", id)
		}
		stored[k] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	missing := 0
	for k := range acked {
		if !stored[k] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged reports are not stored", missing, len(acked))
	}
	// Whatever was stored, acknowledged or not, was stored whole.
	var reps []*report.Report
	for k := range stored {
		reps = append(reps, crashReport(k))
	}
	dbtest.CheckAgainst(t, d, reps...)
	t.Logf("%d acknowledged, %d stored", len(acked), len(stored))
}
