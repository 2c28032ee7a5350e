package app

import (
	"context"

	"github.com/vodwatchd/vodwatchd/internal/daemon"
	"github.com/vodwatchd/vodwatchd/internal/health"
	"github.com/vodwatchd/vodwatchd/internal/sdnotify"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// HealthSnapshot implements health.Status: the daemon's snapshot as
// /healthz and /readyz judge it.
func (a *App) HealthSnapshot(ctx context.Context) health.Snapshot {
	return healthSnapshot(a.d.Snapshot(ctx))
}

// StatusLine is systemd's STATUS= line for the daemon now.
func (a *App) StatusLine(ctx context.Context) sdnotify.StatusLine {
	return statusLine(a.d.Snapshot(ctx))
}

func healthSnapshot(s daemon.Snapshot) health.Snapshot {
	out := health.Snapshot{
		Heartbeat: s.Heartbeat, StateOpen: s.StateReadable && s.StateError == "", StateError: s.StateError,
		QueueDepth: s.Pending(), LastProgress: s.LastProgress,
	}
	for _, w := range s.Watches {
		out.Watches = append(out.Watches, health.Watch{Root: w.Root, Live: w.Live, Reason: w.Reason, LastScan: w.LastScan})
	}
	return out
}

// statusLine is systemd's one-line STATUS= summary of the snapshot.
func statusLine(s daemon.Snapshot) sdnotify.StatusLine {
	line := sdnotify.StatusLine{
		Queue: s.Stages[state.StageQueued], Active: s.Active,
		Failed:     s.Stages[state.StageFailed] + s.Stages[state.StageQuarantined],
		LastUpload: s.LastUpload,
	}
	if s.StateError != "" {
		line.Note = "state_error"
	}
	return line
}
