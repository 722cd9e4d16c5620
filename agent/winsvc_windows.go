package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// platformServices is the service control manager of Windows.
func platformServices() serviceAPI { return scm{} }

// scm is the serviceAPI of Windows, over golang.org/x/sys/windows/svc.
type scm struct{}

func (scm) isService() (bool, error) { return svc.IsWindowsService() }

func (scm) run(name string, run func(context.Context) error) error {
	h := &serviceHandler{run: run}
	if err := svc.Run(name, h); err != nil {
		return fmt.Errorf("agent: run service %q: %w", name, err)
	}
	return h.result()
}

// serviceHandler is the svc.Handler of RunService: serveService over
// svc's channels.
type serviceHandler struct {
	run func(context.Context) error

	mu  sync.Mutex
	err error // what serveService returned
}

// serviceExitFailure is the service-specific exit code of a run that
// failed; any code but 0 makes the control manager take the recovery
// actions.
const serviceExitFailure = 1

// Execute runs h.run under the requests of r, reporting to changes. The
// arguments of the service's start are ignored.
func (h *serviceHandler) Execute(_ []string, r <-chan svc.ChangeRequest, changes chan<- svc.Status) (svcSpecificEC bool, exitCode uint32) {
	err := serveService(r, changes, requestOf, toSvcStatus, h.run)
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
	if err != nil {
		return true, serviceExitFailure
	}
	return false, 0
}

// result is what serveService returned in Execute.
func (h *serviceHandler) result() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// requestOf is the request of r in serveService's terms.
func requestOf(r svc.ChangeRequest) svcRequest {
	switch r.Cmd {
	case svc.Interrogate:
		return reqInterrogate
	case svc.Stop:
		return reqStop
	case svc.Shutdown:
		return reqShutdown
	}
	return reqOther
}

// toSvcStatus is s in svc's terms.
func toSvcStatus(s svcStatus) svc.Status {
	var out svc.Status
	switch s.state {
	case stateStartPending:
		out.State = svc.StartPending
	case stateRunning:
		out.State = svc.Running
	case stateStopPending:
		out.State = svc.StopPending
	}
	if s.accepts {
		out.Accepts = svc.AcceptStop | svc.AcceptShutdown
	}
	out.WaitHint = uint32(s.waitHint / time.Millisecond)
	return out
}

func (scm) install(c serviceConfig) (err error) {
	m, err := connectSCM()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	if s, err := m.OpenService(c.name); err == nil {
		s.Close()
		return ErrExists
	}
	s, err := m.CreateService(c.name, c.exePath, mgrConfig(c), c.args...)
	if errors.Is(err, windows.ERROR_SERVICE_EXISTS) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer s.Close()
	defer func() {
		if err != nil {
			s.Delete() // all or nothing; err says what went wrong
		}
	}()
	if err := s.SetRecoveryActions(recoveryActions(c), uint32(c.resetPeriod/time.Second)); err != nil {
		return fmt.Errorf("set recovery actions: %w", err)
	}
	// Without this flag, a service that stops with an error exit code, as
	// RunService does when run fails, is not restarted: only crashes are.
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("set recovery on non-crash failures: %w", err)
	}
	// A source left behind by an interrupted uninstall is replaced, so that
	// it surely points at EventCreate.exe's messages.
	if err := removeEventSource(c.name); err != nil {
		return err
	}
	if err := eventlog.InstallAsEventCreate(c.name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		return fmt.Errorf("install event log source: %w", err)
	}
	return nil
}

// connectSCM connects to the service control manager with the rights to
// create and delete services, which only administrators have.
func connectSCM() (*mgr.Mgr, error) {
	m, err := mgr.Connect()
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return nil, fmt.Errorf("connect to the service manager (run as administrator): %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to the service manager: %w", err)
	}
	return m, nil
}

// mgrConfig is c's service configuration; the recovery actions are set
// apart. An empty ServiceStartName runs the service as LocalSystem.
func mgrConfig(c serviceConfig) mgr.Config {
	return mgr.Config{
		ServiceType:      windows.SERVICE_WIN32_OWN_PROCESS,
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true,
		ErrorControl:     mgr.ErrorNormal,
		DisplayName:      c.displayName,
		Description:      c.description,
	}
}

// recoveryActions restarts the service after each of c's restart delays.
func recoveryActions(c serviceConfig) []mgr.RecoveryAction {
	var as []mgr.RecoveryAction
	for _, d := range c.restartDelays {
		as = append(as, mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: d})
	}
	return as
}

// serviceStopTimeout bounds how long UninstallService waits for the
// service to stop: as long as serveService asks for its own stop.
const serviceStopTimeout = svcStopWaitHint

func (scm) uninstall(name string) error {
	m, err := connectSCM()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		removeEventSource(name) // best effort: a leftover of an interrupted uninstall
		return ErrNotInstalled
	}
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer s.Close()
	stopErr := stopService(s, serviceStopTimeout)
	if err := s.Delete(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_MARKED_FOR_DELETE) {
		return errors.Join(stopErr, fmt.Errorf("delete: %w", err))
	}
	if err := removeEventSource(name); err != nil {
		return errors.Join(stopErr, err)
	}
	if stopErr != nil {
		return fmt.Errorf("marked for deletion, done when it stops: %w", stopErr)
	}
	return nil
}

// stopService asks s to stop, unless it has, and waits for it up to timeout.
func stopService(s *mgr.Service, timeout time.Duration) error {
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	if st.State != svc.Stopped && st.State != svc.StopPending {
		if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
			return fmt.Errorf("stop: %w", err)
		}
	}
	deadline := time.Now().Add(timeout)
	for st.State != svc.Stopped {
		if time.Now().After(deadline) {
			return fmt.Errorf("stop: still running after %v", timeout)
		}
		time.Sleep(250 * time.Millisecond)
		if st, err = s.Query(); err != nil {
			return fmt.Errorf("query: %w", err)
		}
	}
	return nil
}

// removeEventSource removes the event log source name, if there is one.
func removeEventSource(name string) error {
	if err := eventlog.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove event log source: %w", err)
	}
	return nil
}

func (scm) openEventLog(source string) (io.WriteCloser, error) {
	l, err := eventlog.Open(source)
	if err != nil {
		return nil, err
	}
	return eventWriter{l}, nil
}

// eventLogID is the id of every event. EventCreate.exe, the source's message
// file, holds the message "%1" for the ids 1 to 1000.
const eventLogID = 1

// eventWriter writes each Write to the event log as one event.
type eventWriter struct{ l *eventlog.Log }

func (w eventWriter) Write(p []byte) (int, error) {
	level, msg := eventOf(p)
	if msg == "" {
		return len(p), nil
	}
	var err error
	switch level {
	case eventError:
		err = w.l.Error(eventLogID, msg)
	case eventWarning:
		err = w.l.Warning(eventLogID, msg)
	default:
		err = w.l.Info(eventLogID, msg)
	}
	if err != nil {
		return 0, fmt.Errorf("agent: event log: %w", err)
	}
	return len(p), nil
}

func (w eventWriter) Close() error { return w.l.Close() }
