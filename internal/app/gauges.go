package app

import (
	"context"
	"strconv"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/metrics"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// refreshGauges sets the gauges that describe the queue from the state
// store: jobs by stage, queue depth by priority, oldest pending job.
func refreshGauges(ctx context.Context, store *state.Store, m *metrics.Metrics, now time.Time) error {
	counts, err := store.Stats(ctx)
	if err != nil {
		return err
	}
	byStage := make(map[string]int, len(counts))
	for st, n := range counts {
		byStage[string(st)] = n
	}
	m.SetJobCounts(byStage)
	pending, err := store.Pending(ctx)
	if err != nil {
		return err
	}
	byPriority := make(map[string]int, len(pending.ByPriority))
	for p, n := range pending.ByPriority {
		byPriority[strconv.Itoa(p)] = n
	}
	m.SetQueue(pending.Count, byPriority)
	if pending.Oldest.IsZero() {
		m.SetOldestPendingAge(0)
	} else {
		m.SetOldestPendingAge(now.Sub(pending.Oldest))
	}
	return nil
}
