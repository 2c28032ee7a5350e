package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vodwatchd/vodwatchd/internal/control"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// serveControl serves the local control socket beside the state file, so
// that status, retry and forget work while the daemon holds the state. A
// socket that cannot be served is logged, not fatal: the uploads go on.
func serveControl(ctx context.Context, store *state.Store, log *slog.Logger) error {
	path := control.SocketPath(store.Path())
	err := control.Serve(ctx, path, store)
	if err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		log.Error("control socket unavailable: status, retry and forget need the daemon stopped", "socket", path, "err", err)
		<-ctx.Done()
	}
	return nil
}
