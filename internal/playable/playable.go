// Package playable ties following uploads to "playable" and the hooks to
// the job state: it presents the state to the follower as its job store,
// plans the hook deliveries of every job change from the configuration,
// and keeps a done job's sidecar in step with its stage.
package playable

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/follow"
	"github.com/vodwatchd/vodwatchd/internal/hooks"
	"github.com/vodwatchd/vodwatchd/internal/postaction"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// Options build a Playable.
type Options struct {
	Store  *state.Store
	Config func() *config.Config // the current configuration
	Notify func()                // wakes the hook dispatcher; optional
	Ready  func(jobID string)    // a post-action that waited for ready is pending; optional
	Logger *slog.Logger
}

// Playable implements follow.Store and state.Planner over a state store.
type Playable struct {
	opts Options
	log  *slog.Logger
}

var _ follow.Store = (*Playable)(nil)

// New builds a Playable; install its Plan with Store.SetPlanner.
func New(opts Options) *Playable {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Playable{opts: opts, log: opts.Logger.With("component", "playable")}
}

// Hooks converts the configuration's hooks for the dispatcher.
func Hooks(c *config.Config) []hooks.Hook {
	var out []hooks.Hook
	for _, h := range c.Hooks() {
		out = append(out, convert(h))
	}
	return out
}

func convert(h config.Hook) hooks.Hook {
	return hooks.Hook{Name: h.Name, On: h.On, URL: h.URL, Secret: h.Secret.Reveal(), Command: h.Command, Timeout: h.Timeout}
}

// rule is the configured rule of a job (nil when it is gone).
func (p *Playable) rule(j *state.Job) *config.Rule {
	c := p.opts.Config()
	for i := range c.Watch {
		w := &c.Watch[i]
		if w.Path != j.Key.Root {
			continue
		}
		for k := range w.Rules {
			if w.Rules[k].Name == j.Rule {
				return &w.Rules[k]
			}
		}
	}
	return nil
}

// Plan is the state.Planner: the hook deliveries a change of a job causes.
func (p *Playable) Plan(old, next *state.Job) []hooks.Delivery {
	events := eventsOf(old, next)
	if len(events) == 0 {
		return nil
	}
	r := p.rule(next)
	if r == nil || len(r.Hooks) == 0 {
		return nil
	}
	hs := make([]hooks.Hook, 0, len(r.Hooks))
	for _, h := range r.Hooks {
		hs = append(hs, convert(h))
	}
	var out []hooks.Delivery
	for _, e := range events {
		out = append(out, hooks.Plan(hs, Facts(e, next))...)
	}
	return out
}

// eventsOf names the hook events of a change: the stage's, then the play
// state's (a job without a procedure is done and ready at once).
func eventsOf(old, next *state.Job) []string {
	var out []string
	if old.Stage != next.Stage {
		switch next.Stage {
		case state.StageDone:
			out = append(out, hooks.OnDone)
		case state.StageFailed:
			out = append(out, hooks.OnFailed)
		case state.StageQuarantined:
			out = append(out, hooks.OnQuarantined)
		}
	}
	if was, is := playOf(old), playOf(next); was != is && next.Stage == state.StageDone {
		switch is {
		case state.PlayReady:
			out = append(out, hooks.OnReady)
		case state.PlayFailed:
			out = append(out, hooks.OnProcessingFailed)
		}
	}
	return out
}

func playOf(j *state.Job) state.PlayState {
	if j.Play == nil {
		return ""
	}
	return j.Play.State
}

// Facts are what a hook is told about job j at event.
func Facts(event string, j *state.Job) hooks.Facts {
	f := hooks.Facts{
		Event: event, JobID: j.ID, Path: j.SourcePath(), Rule: j.Rule,
		FileID: j.Result.FileID, MediaURL: j.Result.MediaURL, At: j.Updated,
	}
	if j.Post.MovedTo != "" {
		f.Path = j.Post.MovedTo
	}
	switch {
	case event == hooks.OnFailed || event == hooks.OnQuarantined:
		if e := j.LastError; e != nil {
			f.Error = e.Code + ": " + e.Message
		}
	case j.Play != nil && j.Play.Error != nil:
		f.Error = j.Play.Error.Code + ": " + j.Play.Error.Message
	}
	if j.Play != nil && j.Play.Outputs != nil {
		o := *j.Play.Outputs
		f.Outputs = &o
	}
	return f
}

// Following implements follow.Store.
func (p *Playable) Following(ctx context.Context) ([]follow.Job, error) {
	jobs, err := p.opts.Store.Following(ctx)
	if err != nil {
		return nil, err
	}
	return p.followJobs(jobs), nil
}

// Match implements follow.Store: the done jobs of the media; else a job
// of that SourceContext not recorded as committed yet (its event came
// before the daemon wrote done, or a crash came between), returned
// without FileId so that the event waits.
func (p *Playable) Match(ctx context.Context, fileID, sourceContext string) ([]follow.Job, error) {
	jobs, err := p.opts.Store.ByFileID(ctx, fileID)
	if err != nil || len(jobs) > 0 || sourceContext == "" {
		return p.followJobs(jobs), err
	}
	open, err := p.opts.Store.List(ctx, state.Filter{Stages: []state.Stage{state.StageQueued, state.StageApplied,
		state.StageUploading, state.StageCommitting, state.StageFailed}})
	if err != nil {
		return nil, err
	}
	for _, j := range open {
		if j.SourceContext == sourceContext {
			return []follow.Job{{ID: j.ID, SourceContext: sourceContext}}, nil
		}
	}
	return nil, nil
}

func (p *Playable) followJobs(jobs []*state.Job) []follow.Job {
	out := make([]follow.Job, 0, len(jobs))
	for _, j := range jobs {
		fj := follow.Job{ID: j.ID, FileID: j.Result.FileID, SourceContext: j.SourceContext, Committed: j.Finished}
		if j.Play != nil {
			fj.TaskID = j.Play.TaskID
		}
		if r := p.rule(j); r != nil {
			fj.Procedure, fj.SubAppID = r.Procedure, r.SubAppID
		}
		if fj.Procedure == "" && playOf(j) == state.PlayProcessing {
			fj.Procedure = "(rule changed)" // committed with one: still follow it
		}
		out = append(out, fj)
	}
	return out
}

// Apply implements follow.Store: the update is durable (with its hook
// deliveries) before it returns.
func (p *Playable) Apply(ctx context.Context, id string, u follow.Update) error {
	pu := state.PlayUpdate{State: state.PlayState(u.Stage), TaskID: u.TaskID, Progress: u.Progress}
	if !u.Outputs.Empty() {
		o := u.Outputs
		pu.Outputs = &o
	}
	if u.ErrCode != "" || u.Message != "" {
		pu.Error = &state.JobError{Code: u.ErrCode, Message: u.Message, Op: "ProcedureTask " + u.TaskID, At: time.Now().UTC()}
	}
	j, changed, err := p.opts.Store.UpdatePlay(ctx, id, pu, nil)
	if err != nil {
		return fmt.Errorf("job %s: %w", id, err)
	}
	if changed {
		p.afterPlayChange(j)
	}
	return nil
}

// afterPlayChange wakes the dispatcher, lets a waiting post-action run and
// rewrites the sidecar.
func (p *Playable) afterPlayChange(j *state.Job) {
	if !j.Play.State.Terminal() {
		return
	}
	if p.opts.Notify != nil {
		p.opts.Notify()
	}
	if j.Play.State == state.PlayReady && j.Post.State == state.PostPending && p.opts.Ready != nil {
		p.opts.Ready(j.ID)
	}
	if j.Post.State == state.PostDone && j.Post.Sidecar != "" {
		if err := postaction.UpdateSidecar(j.Post.Sidecar, SidecarResult(j)); err != nil {
			p.log.Warn("sidecar not updated", "job", j.ID, "err", err)
		}
	}
}

// SidecarResult is what a done job's sidecar says.
func SidecarResult(j *state.Job) postaction.Result {
	res := postaction.Result{FileID: j.Result.FileID, MediaURL: j.Result.MediaURL, CoverURL: j.Result.CoverURL,
		RequestID: j.Result.RequestID, Path: j.Key.Rel, UploadedAt: j.Finished, Playable: postaction.Playable{Stage: j.DisplayStage()}}
	if pl := j.Play; pl != nil {
		res.TaskID, res.Progress, res.Outputs = pl.TaskID, pl.Progress, pl.Outputs
		if pl.Error != nil {
			res.Error = pl.Error.Code + ": " + pl.Error.Message
		}
	}
	return res
}
