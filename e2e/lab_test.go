//go:build e2e && linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The lab's processes are started with `ip netns exec NS PROGRAM`, which
// enters the namespace and then execs PROGRAM in place: the process that
// the test starts is PROGRAM itself, so that signals reach it directly, and
// Pdeathsig kills it should the test process die without its cleanup.

// helperEnv selects a helper mode of the test binary (see TestMain): small
// network clients that must run inside a namespace.
const helperEnv = "STOREFENCE_E2E_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helper runs one helper mode: "http URL [BEARER-TOKEN-FILE]" prints the
// body of a 200 answer; "dns SERVER NAME" prints the A record of NAME.
func helper(mode string, args []string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	switch {
	case mode == "http" && (len(args) == 1 || len(args) == 2):
		err = helperHTTP(ctx, args[0], args[1:])
	case mode == "dns" && len(args) == 2:
		err = helperDNS(ctx, args[0], args[1])
	default:
		err = fmt.Errorf("bad helper call %s %q", mode, args)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e helper:", err)
		return 1
	}
	return 0
}

func helperHTTP(ctx context.Context, url string, tokenFile []string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if len(tokenFile) == 1 {
		tok, err := os.ReadFile(tokenFile[0])
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	_, err = os.Stdout.Write(body)
	return err
}

func helperDNS(ctx context.Context, server, name string) error {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	in, _, err := new(dns.Client).ExchangeContext(ctx, m, server)
	if err != nil {
		return err
	}
	for _, rr := range in.Answer {
		if a, ok := rr.(*dns.A); ok {
			fmt.Println(a.A)
			return nil
		}
	}
	return fmt.Errorf("no A record in %v", in)
}

// lab is the set of network namespaces and processes of one test run. Its
// namespaces are named <prefix>-<host>, the prefix carrying the test's pid so
// that concurrent runs do not meet and leftovers of a killed run can be
// recognised and removed.
type lab struct {
	t      *testing.T
	prefix string
	dir    string

	mu    sync.Mutex
	nss   []string
	procs []*proc
	once  sync.Once
}

const labPrefix = "sfe2e-"

func newLab(t *testing.T) *lab {
	sweepLeftovers(t)
	l := &lab{t: t, prefix: labPrefix + strconv.Itoa(os.Getpid()), dir: t.TempDir()}
	t.Cleanup(l.cleanup)
	// An interrupted `go test` runs no t.Cleanup: tear down on signals too.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	stop := make(chan struct{})
	t.Cleanup(func() { signal.Stop(sigs); close(stop) })
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "e2e: %v: removing the lab\n", s)
			l.cleanup()
			os.Exit(1)
		case <-stop:
		}
	}()
	return l
}

// sweepLeftovers deletes namespaces of earlier runs whose test process is
// gone (a run killed with SIGKILL or by the test timeout).
func sweepLeftovers(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, labPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue // not ours, or its test still runs
		}
		killNetnsProcs(name)
		if err := exec.Command("ip", "netns", "del", name).Run(); err == nil {
			t.Logf("removed namespace %s left by an earlier run", name)
		}
	}
}

// killNetnsProcs kills every process left in namespace name.
func killNetnsProcs(name string) {
	out, _ := exec.Command("ip", "netns", "pids", name).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// cleanup stops every process and deletes every namespace, once, whatever
// state the test left them in.
func (l *lab) cleanup() {
	l.once.Do(func() {
		l.mu.Lock()
		procs, nss := l.procs, l.nss
		l.mu.Unlock()
		for _, p := range procs {
			p.stop(2 * time.Second)
		}
		for _, ns := range nss {
			killNetnsProcs(ns)
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: ip netns del %s: %v: %s\n", ns, err, out)
			}
		}
	})
}

// ns returns the full name of the lab's namespace for host.
func (l *lab) ns(host string) string { return l.prefix + "-" + host }

// addNS creates the namespace of host with its loopback up.
func (l *lab) addNS(host string) {
	l.t.Helper()
	name := l.ns(host)
	l.ip("netns", "add", name)
	l.mu.Lock()
	l.nss = append(l.nss, name)
	l.mu.Unlock()
	l.ip("-n", name, "link", "set", "lo", "up")
}

// ip runs ip(8) with args and fails the test on an error.
func (l *lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// link joins host a, as interface ifA with address addrA (CIDR), to host b,
// as ifB with addrB, by a veth pair.
func (l *lab) link(a, ifA, addrA, b, ifB, addrB string) {
	l.t.Helper()
	l.ip("link", "add", ifA, "netns", l.ns(a), "type", "veth", "peer", "name", ifB, "netns", l.ns(b))
	for _, e := range []struct{ host, ifname, addr string }{{a, ifA, addrA}, {b, ifB, addrB}} {
		l.ip("-n", l.ns(e.host), "addr", "add", e.addr, "dev", e.ifname)
		l.ip("-n", l.ns(e.host), "link", "set", e.ifname, "up")
	}
}

// run runs program with args in host's namespace and returns its stdout;
// it fails the test unless the program exits 0.
func (l *lab) run(ctx context.Context, host string, env []string, program string, args ...string) []byte {
	l.t.Helper()
	stdout, stderr, err := l.runErr(ctx, host, env, program, args...)
	if err != nil {
		l.t.Fatalf("%s %s (in %s): %v\nstderr:\n%s", filepath.Base(program), strings.Join(args, " "), host, err, stderr)
	}
	return stdout
}

// runErr is run that returns the error and both outputs instead of failing.
func (l *lab) runErr(ctx context.Context, host string, env []string, program string, args ...string) (stdout, stderr []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ns(host), program}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}

// helper runs a helper mode of this test binary in host's namespace.
func (l *lab) helper(ctx context.Context, host, mode string, args ...string) ([]byte, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	out, stderr, err := l.runErr(ctx, host, []string{helperEnv + "=" + mode}, self, args...)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", mode, strings.Join(args, " "), err, bytes.TrimSpace(stderr))
	}
	return out, nil
}

// proc is a long-running process of the lab.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout *lineBuffer
	stderr *lineBuffer
	done   chan struct{} // closed when it exited
	err    error         // its exit status, once done is closed
}

// start starts program with args in host's namespace. Its output is kept
// and printed in the test log when the test fails.
func (l *lab) start(host, name string, env []string, program string, args ...string) *proc {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns(host), program}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, stdout: &lineBuffer{}, stderr: &lineBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	l.t.Cleanup(func() {
		if l.t.Failed() {
			l.t.Logf("--- %s stdout:\n%s--- %s stderr:\n%s", name, p.stdout.String(), name, p.stderr.String())
		}
	})
	return p
}

// running reports whether p has not exited.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig to p, if it still runs.
func (p *proc) signal(sig syscall.Signal) {
	if p.running() {
		p.cmd.Process.Signal(sig)
	}
}

// stop sends SIGTERM, waits up to grace for the exit, then kills p. It
// returns the exit status.
func (p *proc) stop(grace time.Duration) error {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
	return p.err
}

// kill kills p with SIGKILL, as a crash would, and waits for it.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// lineBuffer is an io.Writer that keeps everything written to it, safe for
// concurrent reads.
type lineBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the complete lines written so far.
func (b *lineBuffer) Lines() []string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// eventually polls cond every interval until it returns nil, for at most
// timeout (or until ctx ends), and then returns cond's last error.
func eventually(ctx context.Context, timeout, interval time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up after %s)", err, timeout)
		case <-time.After(interval):
		}
	}
}

// notifySocket is a stand-in for systemd's notification socket: it collects
// the sd_notify(3) datagrams that a service sends to $NOTIFY_SOCKET.
type notifySocket struct {
	path string
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T, path string) *notifySocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifySocket{path: path, conn: conn}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, strings.Split(strings.TrimSpace(string(buf[:k])), "\n")...)
			n.mu.Unlock()
		}
	}()
	return n
}

// count returns how many notifications carried the assignment kv, such as
// "READY=1" or "WATCHDOG=1".
func (n *notifySocket) count(kv string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, m := range n.msgs {
		if m == kv {
			c++
		}
	}
	return c
}

func (n *notifySocket) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.msgs, " ")
}

// errSkip marks why this machine cannot run the lab.
var errSkip = errors.New("e2e skipped")

// labSupported returns nil when this machine can run the lab: root, ip(8)
// with netns support, and permission to create a namespace and a veth pair.
func labSupported() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (network namespaces); run `sudo make e2e`", errSkip)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: no ip(8) (iproute2)", errSkip)
	}
	probe := fmt.Sprintf("%s%d-probe", labPrefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		return fmt.Errorf("%w: ip netns unavailable here: %s", errSkip, bytes.TrimSpace(out))
	}
	defer exec.Command("ip", "netns", "del", probe).Run()
	if out, err := exec.Command("ip", "-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1").CombinedOutput(); err != nil {
		return fmt.Errorf("%w: cannot create veth pairs here: %s", errSkip, bytes.TrimSpace(out))
	}
	return nil
}
