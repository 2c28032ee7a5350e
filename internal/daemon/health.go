package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/watcher"
)

// stateBackoff is how long the daemon stops taking new work after the
// state file refused a write (disk full, read-only): then it tries again.
const stateBackoff = 10 * time.Second

// healthState is what /readyz, STATUS= and `status` report of the daemon
// itself. Guarded by Daemon.mu.
type healthState struct {
	started      time.Time
	heartbeat    time.Time
	lastProgress time.Time
	lastUpload   time.Time
	stateErr     string
	stateErrAt   time.Time
	roots        map[string]WatchHealth
}

// noteStateError records that the state refused a write. Only a failed
// write of the state folder (*state.StorageError: disk full, read-only,
// permission, I/O) makes the state "not writable" for /readyz and pauses
// new work; any other error (an illegal stage move, a vanished job) is a
// fault of that one job and is only logged.
func (d *Daemon) noteStateError(err error) {
	var se *state.StorageError
	if !errors.As(err, &se) {
		d.log.Error("the state refused an update of one job (the state file itself is writable)", "err", err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.health.stateErr, d.health.stateErrAt = err.Error(), d.now()
	d.log.Error("the state file cannot be written: not taking new work until it can", "err", err, "retry_in", stateBackoff)
}

// acceptingWork is false for a while after the state refused a write.
func (d *Daemon) acceptingWork() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.health.stateErr == "" {
		return true
	}
	if d.now().Sub(d.health.stateErrAt) < stateBackoff {
		return false
	}
	d.health.stateErr = "" // try again; the next failure sets it anew
	return true
}

func (d *Daemon) noteProgress(uploaded bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.health.lastProgress = d.now()
	if uploaded {
		d.health.lastUpload = d.health.lastProgress
	}
}

func (d *Daemon) noteScan(root string, s *watcher.ScanSummary) {
	if s == nil {
		return
	}
	d.events.rescan(root, s.Reason == "overflow")
	d.log.Info("scan finished", "root", root, "reason", s.Reason, "files", s.Files, "dirs", s.Dirs,
		"refused", s.Refused, "unreadable", s.UnreadableCount, "seconds", s.Duration.Seconds())
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.rootHealth(root)
	w.LastScan, w.Live, w.Reason = d.now(), true, ""
	d.health.roots[root] = w
}

func (d *Daemon) noteRoot(root string, ev watcher.Event) {
	live := ev.RootStatus == watcher.RootPresent
	if live {
		d.log.Info("watch root ready", "root", root, "mode", ev.Mode, "why", ev.ModeReason)
	} else {
		d.log.Error("watch root missing; waiting for it to come back (nothing is treated as deleted)", "root", root, "reason", ev.Reason)
	}
	d.events.watchUp(root, live)
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.rootHealth(root)
	w.Live, w.Reason = live, ev.Reason
	d.health.roots[root] = w
}

func (d *Daemon) rootHealth(root string) WatchHealth {
	if d.health.roots == nil {
		d.health.roots = map[string]WatchHealth{}
	}
	w, ok := d.health.roots[root]
	if !ok {
		w = WatchHealth{Root: root, Reason: "not watched yet"}
	}
	return w
}

// Snapshot is the daemon's condition, for /readyz, systemd's STATUS= and
// `vodwatchd status` (the app converts it for each).
type Snapshot struct {
	Heartbeat    time.Time // the scheduler loop's last turn
	LastProgress time.Time // last stage change or bytes sent (start time at first)
	LastUpload   time.Time // last upload done (zero: none yet)
	// StateError says why the state file refused a write recently ("" when
	// it did not); StateReadable is false when it cannot be read now.
	StateError    string
	StateReadable bool
	Stages        map[state.Stage]int // jobs by stage
	Active        int                 // uploads in flight
	Watches       []WatchHealth       // one per configured watch, in order
}

// Pending counts the jobs that could make progress now.
func (s Snapshot) Pending() int {
	return s.Stages[state.StageQueued] + s.Stages[state.StageApplied] + s.Stages[state.StageUploading] + s.Stages[state.StageCommitting]
}

// WatchHealth is one watch root's condition.
type WatchHealth struct {
	Root     string
	Live     bool      // the root exists and is watched (or polled)
	Reason   string    // why not live
	LastScan time.Time // when the last full scan finished (zero: none yet)
}

// SmallLimit is how many small jobs may run at once now: the adaptive
// gate's limit, 0 when their count is fixed at workers.
func (d *Daemon) SmallLimit() int {
	return d.sched.smallLimit()
}

// Snapshot reads the daemon's condition (the state's counts with ctx).
func (d *Daemon) Snapshot(ctx context.Context) Snapshot {
	counts, err := d.store.Stats(ctx)
	active := d.sched.active()
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Snapshot{
		Heartbeat: d.health.heartbeat, LastProgress: d.health.lastProgress, LastUpload: d.health.lastUpload,
		StateError: d.health.stateErr, StateReadable: err == nil, Stages: counts, Active: active,
	}
	for _, c := range d.cfg().Watch {
		s.Watches = append(s.Watches, d.rootHealth(c.Path))
	}
	return s
}
