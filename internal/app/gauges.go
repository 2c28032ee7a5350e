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
	pending, err := store.List(ctx, state.Filter{Stages: []state.Stage{
		state.StageQueued, state.StageApplied, state.StageUploading, state.StageCommitting}})
	if err != nil {
		return err
	}
	byPriority := map[string]int{}
	var oldest time.Time
	for _, j := range pending {
		byPriority[strconv.Itoa(j.Priority)]++
		if oldest.IsZero() || j.Created.Before(oldest) {
			oldest = j.Created
		}
	}
	m.SetQueue(len(pending), byPriority)
	if oldest.IsZero() {
		m.SetOldestPendingAge(0)
	} else {
		m.SetOldestPendingAge(now.Sub(oldest))
	}
	return nil
}
