package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/playable"
	"github.com/vodwatchd/vodwatchd/internal/postaction"
	"github.com/vodwatchd/vodwatchd/internal/rules"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
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

// playFor is playOnDone for a job just committed with media res: when
// another job already followed the same media to its end (content dedupe
// linked them), this one shares that end at once.
func (d *Daemon) playFor(ctx context.Context, res uploader.Result, p rules.Params) (*state.Play, state.PostState) {
	play, post := playOnDone(p)
	if play.State != state.PlayProcessing || res.FileID == "" {
		return play, post
	}
	others, err := d.store.ByFileID(ctx, res.FileID)
	if err != nil {
		return play, post
	}
	for _, o := range others {
		if o.Play != nil && o.Play.State.Terminal() {
			shared := *o.Play
			if shared.State == state.PlayReady && post == state.PostWaiting {
				post = state.PostPending
			}
			return &shared, post
		}
	}
	return play, post
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
