package main

import (
	"context"
	"fmt"
	"io"

	"github.com/vodwatchd/vodwatchd/internal/control"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// hookInfo is the hook outbox: from the running daemon, or from the state
// file opened here (nil when neither tells).
func hookInfo(ctx context.Context, jobs control.Jobs, info *control.DaemonInfo) *control.HookInfo {
	if info != nil {
		return info.Hooks
	}
	s, ok := jobs.(*state.Store)
	if !ok {
		return nil
	}
	h, err := control.HookInfoOf(ctx, s)
	if err != nil {
		return nil
	}
	return h
}

// writeHooks prints the outbox and its dead letters (nothing when empty).
func writeHooks(w io.Writer, h *control.HookInfo) {
	if h == nil || h.Pending+h.Dead == 0 {
		return
	}
	fmt.Fprintf(w, "hooks: %d pending, %d dead letters\n", h.Pending, h.Dead)
	for _, d := range h.DeadLetters {
		last := "-"
		if d.Last != nil {
			last = d.Last.Error
		}
		fmt.Fprintf(w, "  dead letter: hook %s, %s of job %s (%s), %d attempts: %s\n",
			printable(d.Hook), d.Facts.Event, d.Facts.JobID, printable(d.Facts.Path), d.Attempts, printable(last))
	}
}
