package daemon

import (
	"context"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/health"
	"github.com/vodwatchd/vodwatchd/internal/sdnotify"
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
	roots        map[string]health.Watch
}

func (d *Daemon) noteStateError(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.health.stateErr, d.health.stateErrAt = err.Error(), d.now()
	if state.IsStorageFull(err) {
		d.log.Error("the state file cannot be written: not taking new work until it can", "err", err, "retry_in", stateBackoff)
	}
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

func (d *Daemon) rootHealth(root string) health.Watch {
	if d.health.roots == nil {
		d.health.roots = map[string]health.Watch{}
	}
	w, ok := d.health.roots[root]
	if !ok {
		w = health.Watch{Root: root, Reason: "not watched yet"}
	}
	return w
}

// HealthSnapshot implements health.Status.
func (d *Daemon) HealthSnapshot() health.Snapshot {
	counts, err := d.store.Stats(context.Background())
	d.mu.Lock()
	defer d.mu.Unlock()
	s := health.Snapshot{
		Heartbeat:    d.health.heartbeat,
		StateOpen:    err == nil && d.health.stateErr == "",
		StateError:   d.health.stateErr,
		QueueDepth:   counts[state.StageQueued] + counts[state.StageApplied] + counts[state.StageUploading] + counts[state.StageCommitting],
		LastProgress: d.health.lastProgress,
	}
	for _, c := range d.cfg().Watch {
		w := d.rootHealth(c.Path)
		s.Watches = append(s.Watches, w)
	}
	return s
}

// StatusLine is the one-line summary for systemd's STATUS=.
func (d *Daemon) StatusLine(ctx context.Context) sdnotify.StatusLine {
	counts, _ := d.store.Stats(ctx)
	d.sched.mu.Lock()
	active := len(d.sched.running)
	d.sched.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	line := sdnotify.StatusLine{
		Queue: counts[state.StageQueued], Active: active,
		Failed:     counts[state.StageFailed] + counts[state.StageQuarantined],
		LastUpload: d.health.lastUpload,
	}
	if d.health.stateErr != "" {
		line.Note = "state_error"
	}
	return line
}
