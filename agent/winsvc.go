package agent

// This file builds on every system: it holds the Windows service API and
// all of its logic that does not call Windows (the service's state machine,
// the install settings, event log levels), so that their tests run on
// Linux. The Windows calls live in winsvc_windows.go; winsvc_other.go has
// none, and the API answers ErrNotWindows.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// ServiceName is the name the agent's Windows service is meant to be
// installed and run under, and the name of its event log source.
const ServiceName = "storefence-agent"

// ServiceDescription is the description InstallService gives the service.
const ServiceDescription = "storefence agent: keeps seller store accounts apart"

// Sentinel errors of the Windows service API; check them with errors.Is.
var (
	// ErrNotWindows reports a Windows service call on another system.
	ErrNotWindows = errors.New("only on windows")
	// ErrExists reports that a service of that name is already installed.
	ErrExists = errors.New("already installed")
	// ErrNotInstalled reports that no service of that name is installed.
	ErrNotInstalled = errors.New("not installed")
)

// IsWindowsService reports whether this process was started by the Windows
// service control manager, so that main should call RunService. It is
// always false, with no error, on other systems.
func IsWindowsService() (bool, error) {
	if windowsServices == nil {
		return false, nil
	}
	ok, err := windowsServices.isService()
	if err != nil {
		return false, fmt.Errorf("agent: is windows service: %w", err)
	}
	return ok, nil
}

// RunService runs run as the Windows service name, which must be the name
// the service was installed under, and returns when run does. It reports
// StartPending, then Running while run runs; a Stop or Shutdown request
// cancels run's context and reports StopPending, and Interrogate is
// answered with the current status. A panic in run is recovered and returned
// as an error, but panics in goroutines that run starts are not.
//
// RunService returns run's error, or nil when run returns context.Canceled
// after a stop request, which is a clean stop. When it returns an error,
// the service stops with a service-specific exit code, which the service
// control manager counts as a failure and so restarts it (see
// InstallService). The start parameters of "sc start" are ignored: the
// command line set at install carries the configuration.
//
// RunService fails at once, without calling run, when the process was not
// started by the service control manager (check IsWindowsService first), and
// on other systems with ErrNotWindows.
func RunService(name string, run func(ctx context.Context) error) error {
	if windowsServices == nil {
		return fmt.Errorf("agent: run service %q: %w", name, ErrNotWindows)
	}
	if err := checkServiceName(name); err != nil {
		return fmt.Errorf("agent: run service %q: %w", name, err)
	}
	return windowsServices.run(name, run)
}

// InstallService installs exePath, run with args, as the Windows service
// name. exePath must be absolute, and so must any path in args: a service
// starts in %SystemRoot%\System32. displayName defaults to name.
//
// The service starts automatically, delayed until shortly after the other
// automatic services, so that the network is usually up. It carries
// ServiceDescription. When it fails, by crashing or by stopping with an
// error, the service control manager restarts it after 5s, then 10s, then
// every 60s, and forgets past failures after a day without one.
//
// It runs as LocalSystem, because the agent describes the whole machine
// before anyone logs on: it reads the MachineGuid that identifies the
// installation (HKLM\SOFTWARE\Microsoft\Cryptography) and every user's WTS
// session, console and Remote Desktop, whose details the restricted service
// accounts (LocalService, NetworkService) may not be granted, and a user's
// account would tie the agent to that user.
//
// InstallService also installs an event log source of the same name in the
// Application log, for OpenEventLog. It is all or nothing: when a step
// fails, the service it created is deleted. It returns an error wrapping
// ErrExists when a service of that name is installed already, and needs
// administrator rights.
func InstallService(name, displayName, exePath string, args []string) error {
	if windowsServices == nil {
		return fmt.Errorf("agent: install service %q: %w", name, ErrNotWindows)
	}
	c, err := newServiceConfig(name, displayName, exePath, args)
	if err != nil {
		return fmt.Errorf("agent: install service %q: %w", name, err)
	}
	if err := windowsServices.install(c); err != nil {
		return fmt.Errorf("agent: install service %q: %w", name, err)
	}
	return nil
}

// UninstallService stops the Windows service name, waiting up to 30s for it,
// deletes it and removes its event log source. A service that does not stop
// in time is still deleted: Windows removes it when it stops, and
// UninstallService returns an error that says so. It returns an error
// wrapping ErrNotInstalled when no service of that name is installed, and
// needs administrator rights.
func UninstallService(name string) error {
	if windowsServices == nil {
		return fmt.Errorf("agent: uninstall service %q: %w", name, ErrNotWindows)
	}
	if err := checkServiceName(name); err != nil {
		return fmt.Errorf("agent: uninstall service %q: %w", name, err)
	}
	if err := windowsServices.uninstall(name); err != nil {
		return fmt.Errorf("agent: uninstall service %q: %w", name, err)
	}
	return nil
}

// OpenEventLog returns a writer to the Windows Application event log as
// source, the name InstallService gave the service. Each Write is one
// event; a zerolog JSON line is logged as an error, a warning or
// information after its "level" field. Use it as the logger's output under
// RunService, where nothing reads stderr.
func OpenEventLog(source string) (io.WriteCloser, error) {
	if windowsServices == nil {
		return nil, fmt.Errorf("agent: open event log %q: %w", source, ErrNotWindows)
	}
	w, err := windowsServices.openEventLog(source)
	if err != nil {
		return nil, fmt.Errorf("agent: open event log %q: %w", source, err)
	}
	return w, nil
}

// A serviceAPI reaches the Windows service control manager, service
// dispatcher and event log. The API above adds the "agent: <operation>"
// prefix to its errors.
type serviceAPI interface {
	isService() (bool, error)
	run(name string, run func(context.Context) error) error // serveService's error, or the dispatcher's
	install(c serviceConfig) error                          // ErrExists
	uninstall(name string) error                            // ErrNotInstalled
	openEventLog(source string) (io.WriteCloser, error)
}

// windowsServices is the Windows serviceAPI (winsvc_windows.go), nil
// elsewhere (winsvc_other.go); tests replace it with a fake.
var windowsServices = platformServices()

// The service's states and the control requests it handles, in the terms of
// golang.org/x/sys/windows/svc, to which winsvc_windows.go converts them.
// svc itself reports Stopped once the handler returns.
type (
	svcState   uint8
	svcRequest uint8
)

const (
	stateStartPending svcState = iota + 1
	stateRunning
	stateStopPending
)

const (
	reqOther       svcRequest = iota // any request the service does not act on
	reqInterrogate                   // report the current status again
	reqStop                          // svc.Stop
	reqShutdown                      // svc.Shutdown: the system is shutting down
)

// Wait hints: how long the service control manager should allow a pending
// state to last before it considers the service hung. Stopping may wait for
// a report being sent, so it gets longer.
const (
	svcStartWaitHint = 10 * time.Second
	svcStopWaitHint  = 30 * time.Second
)

// A svcStatus is what the service reports to the service control manager.
type svcStatus struct {
	state    svcState
	accepts  bool          // stop and shutdown requests, only while running
	waitHint time.Duration // for the pending states
}

// serveService runs run as the life of a service, answering the requests
// of the service control manager from reqs and reporting its status to
// changes.
// It reports StartPending, then Running once run is under way. A stop or
// shutdown request cancels run's context and reports StopPending; when run
// returns, on request or by itself, it reports StopPending if it has not
// yet and returns. Interrogate is answered with the current status, also
// while stopping, and other requests are ignored: reqs is read until run
// returns, so that the control manager is never kept waiting.
//
// serveService returns run's error, an error for a panic in run, or nil
// when run returned context.Canceled after a stop request: that is a clean
// stop.
//
// It is generic so that the Windows handler passes it svc's channels as they
// are, with ctl and conv to convert, and tests pass plain ones.
func serveService[R, S any](reqs <-chan R, changes chan<- S, ctl func(R) svcRequest, conv func(svcStatus) S, run func(context.Context) error) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cur svcStatus
	report := func(s svcStatus) {
		cur = s
		changes <- conv(s)
	}
	stopping := svcStatus{state: stateStopPending, waitHint: svcStopWaitHint}

	report(svcStatus{state: stateStartPending, waitHint: svcStartWaitHint})
	done := make(chan error, 1)
	go func() { done <- callRun(ctx, run) }()
	report(svcStatus{state: stateRunning, accepts: true})

	stopped := false // by request
	for {
		select {
		case err := <-done:
			if cur.state != stateStopPending {
				report(stopping)
			}
			if stopped && errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		case r := <-reqs:
			switch ctl(r) {
			case reqInterrogate:
				changes <- conv(cur)
			case reqStop, reqShutdown:
				if !stopped {
					stopped = true
					cancel()
					report(stopping)
				}
			}
		}
	}
}

// callRun calls run, recovering a panic into an error that carries the stack.
func callRun(ctx context.Context, run func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("agent: service: panic: %v\n%s", v, debug.Stack())
		}
	}()
	return run(ctx)
}

// serviceConfig is how InstallService sets up a service.
type serviceConfig struct {
	name, displayName, description string
	exePath                        string
	args                           []string
	restartDelays                  []time.Duration // after the 1st, 2nd and later failures
	resetPeriod                    time.Duration   // failures are forgotten after this long without one
}

// maxServiceName is the longest service or display name Windows takes, in
// UTF-16 code units (CreateServiceW: "The maximum string length is 256
// characters").
const maxServiceName = 256

// newServiceConfig checks InstallService's arguments and returns the
// service's settings.
func newServiceConfig(name, displayName, exePath string, args []string) (serviceConfig, error) {
	if err := checkServiceName(name); err != nil {
		return serviceConfig{}, err
	}
	if displayName == "" {
		displayName = name
	}
	if utf16Len(displayName) > maxServiceName {
		return serviceConfig{}, fmt.Errorf("display name: longer than %d characters", maxServiceName)
	}
	if !windowsAbs(exePath) {
		return serviceConfig{}, fmt.Errorf("executable %q: want an absolute path", exePath)
	}
	return serviceConfig{
		name:          name,
		displayName:   displayName,
		description:   ServiceDescription,
		exePath:       exePath,
		args:          slices.Clone(args),
		restartDelays: []time.Duration{5 * time.Second, 10 * time.Second, 60 * time.Second},
		resetPeriod:   24 * time.Hour,
	}, nil
}

// checkServiceName checks name as a service name, which also names the
// service's event log source, a registry key: at most 256 characters, and
// no slash or backslash.
func checkServiceName(name string) error {
	switch {
	case name == "":
		return errors.New("empty service name")
	case utf16Len(name) > maxServiceName:
		return fmt.Errorf("service name: longer than %d characters", maxServiceName)
	case strings.ContainsAny(name, `/\`+"\x00"):
		return errors.New(`service name: holds "/", "\" or NUL`)
	}
	return nil
}

// utf16Len is the length of s in UTF-16 code units, as Windows counts.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// windowsAbs reports whether p is an absolute Windows path, "C:\..." or
// "\\server\share\...", on any system (filepath.IsAbs knows only the
// system it runs on).
func windowsAbs(p string) bool {
	if len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') {
		c := p[0] | 0x20 // lower case
		return c >= 'a' && c <= 'z'
	}
	return len(p) > 2 && (p[0] == '\\' || p[0] == '/') && (p[1] == '\\' || p[1] == '/')
}

// The kinds of event an event log line becomes.
type eventLevel uint8

const (
	eventInfo eventLevel = iota
	eventWarning
	eventError
)

// maxEventBytes keeps an event's text within ReportEventW's limit of 31,839
// characters per string
// (https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-reporteventw);
// a byte count is never below the UTF-16 count of the same text.
const maxEventBytes = 31839

// eventOf returns the level and text of the event for the log line p. The
// level is that of zerolog's "level" field: error, fatal and panic are
// errors, warn is a warning, and anything else, including a line that is not
// JSON, is information. The text is p without its final newline and NULs,
// cut to maxEventBytes on a character boundary.
func eventOf(p []byte) (eventLevel, string) {
	var line struct {
		Level string `json:"level"`
	}
	level := eventInfo
	if json.Unmarshal(p, &line) == nil {
		switch line.Level {
		case "error", "fatal", "panic":
			level = eventError
		case "warn":
			level = eventWarning
		}
	}
	s := strings.ReplaceAll(strings.TrimRight(string(p), "\r\n"), "\x00", "")
	if len(s) > maxEventBytes {
		n := maxEventBytes
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return level, s
}
