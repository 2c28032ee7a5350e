package app

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
)

// compactEvery is how often done records are compacted (compact_after).
const compactEvery = time.Hour

// compactor shrinks old done records to their identity and result
// (compact_after), at start and then every hour; 0 keeps them whole.
type compactor struct {
	store *state.Store
	log   *slog.Logger
	after atomic.Int64 // time.Duration; changed by a reload
}

func (c *compactor) run(ctx context.Context) error {
	t := time.NewTicker(compactEvery)
	defer t.Stop()
	for {
		c.once(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// once compacts what is due now.
func (c *compactor) once(ctx context.Context) {
	after := time.Duration(c.after.Load())
	if after <= 0 {
		return
	}
	n, err := c.store.Compact(ctx, after)
	switch {
	case err != nil && ctx.Err() == nil:
		c.log.Warn("compacting done records", "err", err)
	case n > 0:
		c.log.Info("compacted done records", "count", n, "older_than", after)
	}
}
