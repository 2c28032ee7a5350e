// Package sdnotify tells systemd about the daemon's state (READY, STATUS,
// RELOADING, STOPPING) and keeps its watchdog fed only while every registered
// component is alive.
//
// It wraps github.com/coreos/go-systemd/v22/daemon, which reads
// $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID from the process
// environment; with NOTIFY_SOCKET unset every call is a no-op.
package sdnotify

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Options configure a Notifier. The zero value is ready to use.
type Options struct {
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Notifier sends state notifications to systemd.
type Notifier struct {
	log      *slog.Logger
	now      func() time.Time
	watchdog time.Duration // WATCHDOG_USEC, 0 when the watchdog is off
}

// New reads the watchdog settings from the environment. It fails only when
// WATCHDOG_USEC or WATCHDOG_PID is set but malformed.
func New(opts Options) (*Notifier, error) {
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return nil, fmt.Errorf("sdnotify: reading systemd watchdog settings: %w", err)
	}
	n := &Notifier{log: opts.Logger, now: opts.Now, watchdog: wd}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.now == nil {
		n.now = time.Now
	}
	return n, nil
}

// WatchdogTimeout is systemd's WatchdogSec for this service (0 when off).
// Heartbeat allowances should stay well below it.
func (n *Notifier) WatchdogTimeout() time.Duration { return n.watchdog }

// Ready tells systemd that startup (or a reload) has finished.
func (n *Notifier) Ready() error { return n.send("READY", daemon.SdNotifyReady) }

// Stopping tells systemd that shutdown has begun.
func (n *Notifier) Stopping() error { return n.send("STOPPING", daemon.SdNotifyStopping) }

// Reloading tells systemd that the configuration is being reloaded; call
// Ready when the reload is done.
func (n *Notifier) Reloading() error {
	msg := daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec()
	return n.send("RELOADING", msg)
}

// Status sets the free-form status line shown by `systemctl status`.
// Line breaks are replaced so the text cannot add other assignments.
func (n *Notifier) Status(text string) error {
	return n.send("STATUS", "STATUS="+sanitize(text))
}

func (n *Notifier) send(what, state string) error {
	if _, err := daemon.SdNotify(false, state); err != nil {
		return fmt.Errorf("sdnotify: sending %s: %w", what, err)
	}
	return nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\n', '\r':
			return ' '
		case 0:
			return -1
		}
		return r
	}, s)
}

// StatusLine is the daemon's one-line summary, formatted for STATUS=.
type StatusLine struct {
	Queue      int       // jobs waiting to be uploaded
	Active     int       // uploads in progress
	Failed     int       // jobs failed or quarantined (shown when > 0)
	LastUpload time.Time // last successful upload (zero: none yet)
	Note       string    // optional, e.g. "reloading" or an error code
}

// String renders "queue=12 active=3 last_upload=2026-01-02T15:04:05Z".
func (s StatusLine) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "queue=%d active=%d", s.Queue, s.Active)
	if s.Failed > 0 {
		fmt.Fprintf(&b, " failed=%d", s.Failed)
	}
	if s.LastUpload.IsZero() {
		b.WriteString(" last_upload=never")
	} else {
		b.WriteString(" last_upload=" + s.LastUpload.UTC().Format(time.RFC3339))
	}
	if s.Note != "" {
		b.WriteString(" " + s.Note)
	}
	return b.String()
}
