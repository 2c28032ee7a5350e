package sdnotify

import (
	"context"
	"errors"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Checker reports whether the daemon is alive; *Liveness implements it.
type Checker interface {
	Check() error
}

// Watchdog pings WATCHDOG=1 at half of systemd's watchdog timeout, but only
// while its Checker reports the daemon alive. A wedged component therefore
// stops the pings and systemd restarts the service.
type Watchdog struct {
	n        *Notifier
	live     Checker
	interval time.Duration
}

// Watchdog returns a watchdog fed by live. Its interval is half of
// WATCHDOG_USEC; when the watchdog is off Run returns at once.
func (n *Notifier) Watchdog(live Checker) *Watchdog {
	return &Watchdog{n: n, live: live, interval: n.watchdog / 2}
}

// Interval is the ping period (0 when the watchdog is off).
func (w *Watchdog) Interval() time.Duration { return w.interval }

// Run pings until ctx is done. It returns nil at once when systemd asked for
// no watchdog. Send failures are logged, not fatal.
func (w *Watchdog) Run(ctx context.Context) error {
	if w.interval <= 0 {
		return nil
	}
	t := time.NewTicker(w.interval)
	defer t.Stop()
	wedged := false
	for {
		wedged = w.tick(wedged)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// tick pings when alive and logs transitions; it returns the new wedged state.
func (w *Watchdog) tick(wasWedged bool) bool {
	err := w.live.Check()
	if err != nil {
		if !wasWedged {
			w.n.log.Error("watchdog: not alive, withholding keep-alive pings; systemd will restart the service",
				"err", err, "watchdog_timeout", w.n.watchdog)
			var se *StaleError
			if errors.As(err, &se) {
				_ = w.n.Status(err.Error())
			}
		}
		return true
	}
	if wasWedged {
		w.n.log.Warn("watchdog: alive again, resuming keep-alive pings")
	}
	if _, err := daemon.SdNotify(false, daemon.SdNotifyWatchdog); err != nil {
		w.n.log.Warn("watchdog: sending WATCHDOG=1 failed", "err", err)
	}
	return false
}
