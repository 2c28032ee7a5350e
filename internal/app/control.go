package app

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"

	"github.com/vodwatchd/vodwatchd/internal/control"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// serveControl serves the local control socket beside the state file, so
// that status, retry and forget work while the daemon holds the state. A
// socket that cannot be served is logged, not fatal: the uploads go on.
func (a *App) serveControl(ctx context.Context) error {
	path := control.SocketPath(a.store.Path())
	err := control.Serve(ctx, path, a.store, a.info)
	if err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		a.log.Error("control socket unavailable: status, retry and forget need the daemon stopped", "socket", path, "err", err)
		<-ctx.Done()
	}
	return nil
}

// info is what `status` shows of the running daemon.
func (a *App) info(ctx context.Context) (control.DaemonInfo, error) {
	byPriority, err := queueByPriority(ctx, a.store)
	if err != nil {
		return control.DaemonInfo{}, err
	}
	line := a.StatusLine(ctx)
	in := control.DaemonInfo{BandwidthLimit: a.schedule.Limit(), UploadRate: a.group.Global().Rate(),
		Active: line.Active, SmallLimit: a.d.SmallLimit(), QueueByPriority: map[string]int{}}
	for p, n := range byPriority {
		in.QueueByPriority[strconv.Itoa(p)] = n
	}
	if line.Note != "" {
		in.StateError = line.Note
	}
	list, counts := a.d.Waiting()
	in.WaitingByReason = counts
	for _, w := range list {
		in.Waiting = append(in.Waiting, control.WaitingFile{Path: filepath.Join(w.Root, filepath.FromSlash(w.Rel)),
			Reason: w.Reason, Detail: w.Detail, Since: w.Since, Missing: w.Missing, NMissing: w.NMissing})
	}
	if in.Hooks, err = control.HookInfoOf(ctx, a.store); err != nil {
		return control.DaemonInfo{}, err
	}
	return in, nil
}

// queueByPriority counts the jobs waiting or in flight, by priority.
func queueByPriority(ctx context.Context, store *state.Store) (map[int]int, error) {
	pending, err := store.List(ctx, state.Filter{Stages: []state.Stage{
		state.StageQueued, state.StageApplied, state.StageUploading, state.StageCommitting}})
	if err != nil {
		return nil, err
	}
	out := map[int]int{}
	for _, j := range pending {
		out[j.Priority]++
	}
	return out, nil
}
