package main

import (
	"context"
	"log/slog"

	"github.com/vodwatchd/vodwatchd/internal/state"
)

// serveControl serves the local control socket beside the state file, so
// that status, retry and forget work while the daemon holds the state.
func serveControl(ctx context.Context, store *state.Store, log *slog.Logger) error {
	<-ctx.Done() // TODO(lead): wire internal/control once it lands.
	return nil
}
