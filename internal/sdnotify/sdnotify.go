// Package sdnotify tells systemd how a Type=notify service is doing
// (sd_notify(3)): READY=1 once it serves, WATCHDOG=1 while it is alive,
// STOPPING=1 when it shuts down. Without NOTIFY_SOCKET (not run by systemd,
// or not Type=notify) every call does nothing, as tailscale's sdnotify does.
package sdnotify

import (
	"context"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/rs/zerolog"
)

// Notifier sends states to systemd. The zero value is not usable; call New.
type Notifier struct {
	log      zerolog.Logger
	send     func(state string) (bool, error) // daemon.SdNotify
	watchdog func() (time.Duration, error)    // daemon.SdWatchdogEnabled
	once     sync.Once                        // log the first send failure only
}

// New returns a notifier for the socket in NOTIFY_SOCKET.
func New(log zerolog.Logger) *Notifier {
	return &Notifier{
		log:      log,
		send:     func(s string) (bool, error) { return daemon.SdNotify(false, s) },
		watchdog: func() (time.Duration, error) { return daemon.SdWatchdogEnabled(false) },
	}
}

// Ready says the service is up: READY=1.
func (n *Notifier) Ready() { n.notify(daemon.SdNotifyReady) }

// Stopping says the service is shutting down: STOPPING=1.
func (n *Notifier) Stopping() { n.notify(daemon.SdNotifyStopping) }

func (n *Notifier) notify(state string) {
	if _, err := n.send(state); err != nil {
		n.once.Do(func() { n.log.Warn().Err(err).Msg("systemd notification failed") })
	}
}

// Watchdog feeds the systemd watchdog (WATCHDOG=1) at half the unit's
// WatchdogSec until ctx ends, skipping a beat whenever healthy (which may
// be nil) says no: systemd then restarts a service that hangs. It returns
// at once when the unit has no watchdog.
func (n *Notifier) Watchdog(ctx context.Context, healthy func() bool) {
	every, err := n.watchdog()
	if err != nil {
		n.log.Warn().Err(err).Msg("systemd watchdog settings unreadable; not feeding it")
		return
	}
	if every <= 0 {
		return
	}
	t := time.NewTicker(every / 2)
	defer t.Stop()
	n.log.Debug().Dur("interval", every/2).Msg("feeding the systemd watchdog")
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if healthy == nil || healthy() {
				n.notify(daemon.SdNotifyWatchdog)
			} else {
				n.log.Warn().Msg("not feeding the systemd watchdog: no progress")
			}
		}
	}
}

// StartWatchdog runs Watchdog in a goroutine and returns a function that
// stops it and waits for it to end.
func (n *Notifier) StartWatchdog(ctx context.Context, healthy func() bool) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Watchdog(ctx, healthy)
	}()
	return func() {
		cancel()
		<-done
	}
}
