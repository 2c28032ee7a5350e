package daemon

import (
	"log/slog"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/playable"
	"github.com/vodwatchd/vodwatchd/internal/postaction"
	"github.com/vodwatchd/vodwatchd/internal/rules"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// playOnDone is where a job just committed stands on its way to playable,
// and whether its post-action runs now or waits for ready: with a
// procedure it is processing (followed by package follow), without one it
// is ready at once.
func playOnDone(p rules.Params) (*state.Play, state.PostState) {
	if p.Procedure == "" {
		return &state.Play{State: state.PlayReady, Progress: 100}, state.PostPending
	}
	if p.After.When == config.AfterWhenReady {
		return &state.Play{State: state.PlayProcessing}, state.PostWaiting
	}
	return &state.Play{State: state.PlayProcessing}, state.PostPending
}

// PostReady runs the post-action of done job id, which waited for ready,
// as soon as the scheduler can.
func (d *Daemon) PostReady(id string) {
	d.sched.mu.Lock()
	d.sched.postDue[id] = time.Time{}
	d.sched.mu.Unlock()
	d.sched.poke()
}

// afterPost rewrites the sidecar when the job's play state changed while
// its post-action ran (the follower's rewrite needs the recorded path).
func (d *Daemon) afterPost(used, recorded *state.Job, log *slog.Logger) {
	if recorded.Post.Sidecar == "" || used.DisplayStage() == recorded.DisplayStage() {
		return
	}
	if err := postaction.UpdateSidecar(recorded.Post.Sidecar, playable.SidecarResult(recorded)); err != nil {
		log.Warn("sidecar not updated", "err", err)
	}
}
