package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// TestHandlerExecute drives the svc.Handler as svc.Run would, with a fake
// pair of channels for the control manager.
func TestHandlerExecute(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name     string
		run      func(context.Context) error
		stop     bool
		wantSpec bool
		wantCode uint32
		wantErr  error
	}{
		{"stopped", runUntilCanceled, true, false, 0, nil},
		{"failed", func(context.Context) error { return errBoom }, false, true, serviceExitFailure, errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &serviceHandler{run: tt.run}
			r := make(chan svc.ChangeRequest)
			changes := make(chan svc.Status, 16)
			type exit struct {
				spec bool
				code uint32
			}
			done := make(chan exit, 1)
			go func() {
				spec, code := h.Execute([]string{"storefence-test"}, r, changes)
				done <- exit{spec, code}
			}()
			next := func(want svc.Status) {
				t.Helper()
				if diff := cmp.Diff(want, <-changes); diff != "" {
					t.Errorf("status mismatch (-want +got):\n%s", diff)
				}
			}
			next(svc.Status{State: svc.StartPending, WaitHint: 10000})
			runningStatus := svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
			next(runningStatus)
			if tt.stop {
				r <- svc.ChangeRequest{Cmd: svc.Interrogate, CurrentStatus: runningStatus}
				next(runningStatus)
				r <- svc.ChangeRequest{Cmd: svc.Stop, CurrentStatus: runningStatus}
			}
			next(svc.Status{State: svc.StopPending, WaitHint: 30000})
			got := <-done
			if got.spec != tt.wantSpec || got.code != tt.wantCode {
				t.Errorf("Execute = %v, %d; want %v, %d", got.spec, got.code, tt.wantSpec, tt.wantCode)
			}
			if err := h.result(); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("result = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestControlOf(t *testing.T) {
	tests := map[svc.Cmd]svcRequest{
		svc.Interrogate: reqInterrogate,
		svc.Stop:        reqStop,
		svc.Shutdown:    reqShutdown,
		svc.Pause:       reqOther,
		svc.PreShutdown: reqOther,
	}
	for cmd, want := range tests {
		if got := requestOf(svc.ChangeRequest{Cmd: cmd}); got != want {
			t.Errorf("controlOf(%d) = %d, want %d", cmd, got, want)
		}
	}
}

func TestMgrConfig(t *testing.T) {
	c, err := newServiceConfig("sf", "Storefence Agent", `C:\sf.exe`, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := mgrConfig(c)
	if got.StartType != mgr.StartAutomatic || !got.DelayedAutoStart || got.ServiceStartName != "" ||
		got.DisplayName != "Storefence Agent" || got.Description != ServiceDescription {
		t.Errorf("mgrConfig = %+v", got)
	}
	want := []mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 10 * time.Second},
		{Type: mgr.ServiceRestart, Delay: time.Minute},
	}
	if diff := cmp.Diff(want, recoveryActions(c)); diff != "" {
		t.Errorf("recoveryActions mismatch (-want +got):\n%s", diff)
	}
}

// TestWindowsAbsAgrees checks windowsAbs against filepath.IsAbs on Windows.
func TestWindowsAbsAgrees(t *testing.T) {
	for _, p := range []string{`C:\sf.exe`, `c:/sf.exe`, `\\server\share\sf.exe`, `//server/share/sf.exe`,
		`C:sf.exe`, `\sf.exe`, `/sf.exe`, `sf.exe`, `..\sf.exe`, ``} {
		if got, want := windowsAbs(p), filepath.IsAbs(p); got != want {
			t.Errorf("windowsAbs(%q) = %v, filepath.IsAbs = %v", p, got, want)
		}
	}
}

// TestInstallService installs and uninstalls a service that is never
// started. It needs an administrator, so it runs only when
// STOREFENCE_TEST_WINSVC is set.
func TestInstallService(t *testing.T) {
	if os.Getenv("STOREFENCE_TEST_WINSVC") == "" {
		t.Skip("set STOREFENCE_TEST_WINSVC=1, as an administrator, to install a test service")
	}
	name := fmt.Sprintf("storefence-test-%d", os.Getpid())
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := InstallService(name, "", exe, []string{"agent", "--config", `C:\no such\agent.yaml`}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { UninstallService(name) })
	if err := InstallService(name, "", exe, nil); !errors.Is(err, ErrExists) {
		t.Errorf("second InstallService = %v, want ErrExists", err)
	}

	m, err := mgr.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StartType != mgr.StartAutomatic || !cfg.DelayedAutoStart || cfg.Description != ServiceDescription ||
		cfg.ServiceStartName != "LocalSystem" {
		t.Errorf("installed config = %+v", cfg)
	}
	actions, err := s.RecoveryActions()
	if err != nil || len(actions) != 3 || actions[0].Delay != 5*time.Second || actions[2].Delay != time.Minute {
		t.Errorf("recovery actions = %+v, %v", actions, err)
	}
	if on, err := s.RecoveryActionsOnNonCrashFailures(); !on || err != nil {
		t.Errorf("recovery on non-crash failures = %v, %v; want true", on, err)
	}
	s.Close()

	w, err := OpenEventLog(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(`{"level":"warn","message":"storefence test event"}` + "\n")); err != nil {
		t.Error(err)
	}
	w.Close()

	if err := UninstallService(name); err != nil {
		t.Fatal(err)
	}
	if err := UninstallService(name); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("second UninstallService = %v, want ErrNotInstalled", err)
	}
}
