package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// servingService is a serveService under test, with plain channels for the control
// manager's side.
type servingService struct {
	reqs    chan svcRequest
	changes chan svcStatus
	done    chan error
}

func startServeService(run func(context.Context) error) *servingService {
	s := &servingService{reqs: make(chan svcRequest), changes: make(chan svcStatus, 16), done: make(chan error, 1)}
	go func() {
		s.done <- serveService(s.reqs, s.changes, func(c svcRequest) svcRequest { return c }, func(st svcStatus) svcStatus { return st }, run)
	}()
	return s
}

// send hands serveService c, failing when it returned instead of taking it.
func (s *servingService) send(t *testing.T, c svcRequest) {
	t.Helper()
	select {
	case s.reqs <- c:
	case err := <-s.done:
		t.Fatalf("serve returned %v before taking request %d", err, c)
	}
}

// next checks the next status serveService reports.
func (s *servingService) next(t *testing.T, want svcStatus) {
	t.Helper()
	if diff := cmp.Diff(want, <-s.changes, cmp.AllowUnexported(svcStatus{})); diff != "" {
		t.Errorf("status mismatch (-want +got):\n%s", diff)
	}
}

// wait returns the statuses serveService reported that next did not
// read, and what it returned.
func (s *servingService) wait() ([]svcStatus, error) {
	err := <-s.done
	close(s.changes)
	var rest []svcStatus
	for st := range s.changes {
		rest = append(rest, st)
	}
	return rest, err
}

var (
	wantSvcStartPending = svcStatus{state: stateStartPending, waitHint: svcStartWaitHint}
	wantSvcRunning      = svcStatus{state: stateRunning, accepts: true}
	wantSvcStopPending  = svcStatus{state: stateStopPending, waitHint: svcStopWaitHint}
)

// runUntilCanceled is a run that runs until stopped, as the daemon does.
func runUntilCanceled(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestServeStops(t *testing.T) {
	for name, c := range map[string]svcRequest{"stop": reqStop, "shutdown": reqShutdown} {
		t.Run(name, func(t *testing.T) {
			s := startServeService(runUntilCanceled)
			s.next(t, wantSvcStartPending)
			s.next(t, wantSvcRunning)
			s.send(t, c)
			rest, err := s.wait()
			if err != nil {
				t.Errorf("serve = %v, want nil: context.Canceled after a stop is a clean stop", err)
			}
			if diff := cmp.Diff([]svcStatus{wantSvcStopPending}, rest, cmp.AllowUnexported(svcStatus{})); diff != "" {
				t.Errorf("statuses after the stop (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServeInterrogate(t *testing.T) {
	release := make(chan struct{})
	s := startServeService(func(ctx context.Context) error {
		<-ctx.Done()
		<-release // still draining while stop is pending
		return nil
	})
	s.next(t, wantSvcStartPending)
	s.next(t, wantSvcRunning)
	s.send(t, reqInterrogate)
	s.next(t, wantSvcRunning)
	s.send(t, reqOther) // ignored
	s.send(t, reqStop)
	s.next(t, wantSvcStopPending)
	s.send(t, reqInterrogate)
	s.next(t, wantSvcStopPending)
	s.send(t, reqShutdown) // already stopping: ignored, but taken
	s.send(t, reqStop)
	close(release)
	rest, err := s.wait()
	if err != nil {
		t.Errorf("serve = %v, want nil", err)
	}
	if len(rest) != 0 {
		t.Errorf("unexpected statuses %+v", rest)
	}
}

func TestServeReturns(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		stop    bool // send a stop request first
		run     func(context.Context) error
		wantErr func(error) bool
	}{
		{"nil by itself", false, func(context.Context) error { return nil },
			func(err error) bool { return err == nil }},
		{"error", false, func(context.Context) error { return errBoom },
			func(err error) bool { return errors.Is(err, errBoom) }},
		{"error while stopping", true, func(ctx context.Context) error {
			<-ctx.Done()
			return fmt.Errorf("drain: %w", errBoom)
		}, func(err error) bool { return errors.Is(err, errBoom) }},
		{"canceled without a stop", false, func(context.Context) error { return context.Canceled },
			func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"panic", false, func(context.Context) error { panic("kaboom") },
			func(err error) bool {
				return err != nil && strings.HasPrefix(err.Error(), "agent: service: panic: kaboom\n") &&
					strings.Contains(err.Error(), "goroutine ")
			}},
		{"panic while stopping", true, func(ctx context.Context) error {
			<-ctx.Done()
			panic(errBoom)
		}, func(err error) bool { return err != nil && strings.Contains(err.Error(), "panic: boom") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServeService(tt.run)
			s.next(t, wantSvcStartPending)
			s.next(t, wantSvcRunning)
			if tt.stop {
				s.send(t, reqStop)
			}
			rest, err := s.wait()
			if !tt.wantErr(err) {
				t.Errorf("serve = %v", err)
			}
			// StopPending is reported once, by the stop or by run's return.
			if diff := cmp.Diff([]svcStatus{wantSvcStopPending}, rest, cmp.AllowUnexported(svcStatus{})); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewServiceConfig(t *testing.T) {
	args := []string{"agent", "--config", `C:\ProgramData\storefence\agent.yaml`}
	got, err := newServiceConfig("storefence-agent", "", `C:\Program Files\storefence\storefence.exe`, args)
	if err != nil {
		t.Fatal(err)
	}
	want := serviceConfig{
		name:          "storefence-agent",
		displayName:   "storefence-agent",
		description:   "storefence agent: keeps seller store accounts apart",
		exePath:       `C:\Program Files\storefence\storefence.exe`,
		args:          args,
		restartDelays: []time.Duration{5 * time.Second, 10 * time.Second, time.Minute},
		resetPeriod:   24 * time.Hour,
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(serviceConfig{})); diff != "" {
		t.Errorf("newServiceConfig mismatch (-want +got):\n%s", diff)
	}
	args[0] = "changed"
	if got.args[0] != "agent" {
		t.Error("newServiceConfig shares the caller's args")
	}

	got, err = newServiceConfig("sf", "Storefence Agent", `D:/sf.exe`, nil)
	if err != nil || got.displayName != "Storefence Agent" {
		t.Errorf("display name = %q, %v; want Storefence Agent", got.displayName, err)
	}

	bad := []struct{ name, display, exe, wantErr string }{
		{"", "", `C:\sf.exe`, "empty service name"},
		{`a\b`, "", `C:\sf.exe`, "service name"},
		{"a/b", "", `C:\sf.exe`, "service name"},
		{strings.Repeat("n", 257), "", `C:\sf.exe`, "service name: longer than 256"},
		{"sf", strings.Repeat("😀", 129), `C:\sf.exe`, "display name: longer than 256"}, // 258 UTF-16 units
		{"sf", "", `sf.exe`, `executable "sf.exe": want an absolute path`},
		{"sf", "", `\sf.exe`, "want an absolute path"},
		{"sf", "", "", "want an absolute path"},
	}
	for _, tt := range bad {
		if _, err := newServiceConfig(tt.name, tt.display, tt.exe, nil); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("newServiceConfig(%.20q, %.20q, %q) = %v, want an error with %q", tt.name, tt.display, tt.exe, err, tt.wantErr)
		}
	}
	if _, err := newServiceConfig(strings.Repeat("n", 256), "", `C:\sf.exe`, nil); err != nil {
		t.Errorf("a 256-character name: %v", err)
	}
}

func TestWindowsAbs(t *testing.T) {
	tests := map[string]bool{
		`C:\sf.exe`:                 true,
		`c:/sf.exe`:                 true,
		`\\server\share\sf.exe`:     true,
		`//server/share/sf.exe`:     true,
		`C:sf.exe`:                  false,
		`\sf.exe`:                   false,
		`/usr/bin/sf`:               false,
		`sf.exe`:                    false,
		`1:\sf.exe`:                 false,
		``:                          false,
		`..\storefence\sf.exe`:      false,
		`C:\Program Files\sf\x.exe`: true,
	}
	for p, want := range tests {
		if got := windowsAbs(p); got != want {
			t.Errorf("windowsAbs(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestEvent(t *testing.T) {
	tests := []struct {
		in        string
		wantLevel eventLevel
		wantText  string
	}{
		{`{"level":"info","message":"report sent"}` + "\n", eventInfo, `{"level":"info","message":"report sent"}`},
		{`{"level":"debug"}`, eventInfo, `{"level":"debug"}`},
		{`{"level":"warn","error":"timeout"}` + "\r\n", eventWarning, `{"level":"warn","error":"timeout"}`},
		{`{"level":"error"}`, eventError, `{"level":"error"}`},
		{`{"level":"fatal"}`, eventError, `{"level":"fatal"}`},
		{`{"level":"panic"}`, eventError, `{"level":"panic"}`},
		{`{"message":"no level"}`, eventInfo, `{"message":"no level"}`},
		{"plain text, not JSON\n", eventInfo, "plain text, not JSON"},
		{"a\x00b", eventInfo, "ab"},
		{"", eventInfo, ""},
	}
	for _, tt := range tests {
		level, text := eventOf([]byte(tt.in))
		if level != tt.wantLevel || text != tt.wantText {
			t.Errorf("event(%q) = %d, %q; want %d, %q", tt.in, level, text, tt.wantLevel, tt.wantText)
		}
	}

	// A long line is cut on a character boundary, within the limit.
	long := strings.Repeat("x", maxEventBytes-1) + "é and more"
	_, text := eventOf([]byte(long))
	if len(text) != maxEventBytes-1 || !utf8.ValidString(text) {
		t.Errorf("event of %d bytes: got %d bytes, valid UTF-8 %v; want %d", len(long), len(text), utf8.ValidString(text), maxEventBytes-1)
	}
}

func TestNotWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the ErrNotWindows paths are for other systems")
	}
	if ok, err := IsWindowsService(); ok || err != nil {
		t.Errorf("IsWindowsService() = %v, %v; want false, nil", ok, err)
	}
	ran := false
	err := RunService(ServiceName, func(context.Context) error { ran = true; return nil })
	if !errors.Is(err, ErrNotWindows) || ran {
		t.Errorf("RunService = %v, ran %v; want ErrNotWindows, not run", err, ran)
	}
	if err := InstallService(ServiceName, "", `C:\sf.exe`, nil); !errors.Is(err, ErrNotWindows) {
		t.Errorf("InstallService = %v, want ErrNotWindows", err)
	}
	if err := UninstallService(ServiceName); !errors.Is(err, ErrNotWindows) {
		t.Errorf("UninstallService = %v, want ErrNotWindows", err)
	}
	if w, err := OpenEventLog(ServiceName); w != nil || !errors.Is(err, ErrNotWindows) {
		t.Errorf("OpenEventLog = %v, %v; want nil, ErrNotWindows", w, err)
	}
	const want = `agent: install service "storefence-agent": only on windows`
	if err := InstallService(ServiceName, "", `C:\sf.exe`, nil); err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

// fakeServiceAPI is a serviceAPI that records what it is asked.
type fakeServiceAPI struct {
	installed []serviceConfig
	err       error
}

func (f *fakeServiceAPI) isService() (bool, error) { return true, f.err }
func (f *fakeServiceAPI) run(_ string, run func(context.Context) error) error {
	return run(context.Background())
}
func (f *fakeServiceAPI) install(c serviceConfig) error {
	f.installed = append(f.installed, c)
	return f.err
}
func (f *fakeServiceAPI) uninstall(string) error                      { return f.err }
func (f *fakeServiceAPI) openEventLog(string) (io.WriteCloser, error) { return nil, f.err }

// useFakeServiceAPI makes f the serviceAPI for the rest of the test.
func useFakeServiceAPI(t *testing.T, f *fakeServiceAPI) {
	t.Helper()
	saved := windowsServices
	windowsServices = f
	t.Cleanup(func() { windowsServices = saved })
}

// TestAPI checks what the exported functions add to the serviceAPI: the
// checks of their arguments and the wrapping of its errors.
func TestAPI(t *testing.T) {
	f := &fakeServiceAPI{}
	useFakeServiceAPI(t, f)

	if err := InstallService("sf", "", "sf.exe", nil); err == nil || len(f.installed) != 0 {
		t.Errorf("InstallService with a relative path = %v, installed %d; want an error first", err, len(f.installed))
	}
	if err := InstallService("sf", "", `C:\sf.exe`, []string{"agent"}); err != nil || len(f.installed) != 1 || f.installed[0].args[0] != "agent" {
		t.Errorf("InstallService = %v, installed %+v", err, f.installed)
	}
	if err := RunService("", func(context.Context) error { t.Error("run called"); return nil }); err == nil {
		t.Error("RunService with no name: no error")
	}
	if err := UninstallService(`a\b`); err == nil {
		t.Error(`UninstallService("a\b"): no error`)
	}

	f.err = ErrExists
	err := InstallService("sf", "", `C:\sf.exe`, nil)
	if !errors.Is(err, ErrExists) || err.Error() != `agent: install service "sf": already installed` {
		t.Errorf("InstallService = %v, want ErrExists", err)
	}
	f.err = ErrNotInstalled
	err = UninstallService("sf")
	if !errors.Is(err, ErrNotInstalled) || err.Error() != `agent: uninstall service "sf": not installed` {
		t.Errorf("UninstallService = %v, want ErrNotInstalled", err)
	}
	f.err = errors.New("access denied")
	if ok, err := IsWindowsService(); ok || err == nil || !strings.HasPrefix(err.Error(), "agent: is windows service: ") {
		t.Errorf("IsWindowsService = %v, %v", ok, err)
	}
	errRun := errors.New("daemon failed")
	if err := RunService("sf", func(context.Context) error { return errRun }); err != errRun {
		t.Errorf("RunService = %v, want run's error as it is", err)
	}
}
