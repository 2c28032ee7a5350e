package playable

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/follow"
	"github.com/vodwatchd/vodwatchd/internal/hooks"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// RunnerOptions build a Runner.
type RunnerOptions struct {
	Config *config.Config
	Store  *state.Store
	Client func(ctx context.Context) (follow.API, error) // a VOD client with current credentials, paced
	Ready  func(jobID string)                            // a post-action that waited for ready is pending
	Logger *slog.Logger
}

// Runner follows done jobs to playable and delivers their hooks: the
// follower in the configured mode and the hook dispatcher, over one state.
type Runner struct {
	p        *Playable
	follower *follow.Follower
	disp     *hooks.Dispatcher
	conf     atomic.Pointer[config.Config]
	log      *slog.Logger
}

// NewRunner installs the hook planner on the store and builds the
// follower and the dispatcher.
func NewRunner(o RunnerOptions) (*Runner, error) {
	if o.Config == nil || o.Store == nil || o.Client == nil {
		return nil, errors.New("playable: Config, Store and Client are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{log: o.Logger}
	r.conf.Store(o.Config)
	cfg := o.Config
	var err error
	r.disp, err = hooks.New(hooks.Config{
		Hooks: Hooks(cfg), Outbox: o.Store.Outbox(), MaxAttempts: cfg.HookDelivery.MaxAttempts,
		Backoff: cfg.HookDelivery.Backoff, MaxBackoff: cfg.HookDelivery.MaxBackoff, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	r.p = New(Options{Store: o.Store, Config: r.conf.Load, Notify: r.disp.Notify, Ready: o.Ready, Logger: o.Logger})
	safety := cfg.Follow.SafetyPoll
	if safety == 0 {
		safety = -1
	}
	r.follower, err = follow.New(follow.Config{
		Mode: cfg.Follow.Mode, Client: o.Client, Store: r.p, SubAppID: cfg.VOD.SubAppID,
		Interval: cfg.Follow.Interval, ConfirmForeign: cfg.Follow.ConfirmForeign, SafetyPoll: safety,
		TaskWait: cfg.Follow.TaskWait, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	o.Store.SetPlanner(r.p.Plan)
	return r, nil
}

// Run runs the follower and the dispatcher until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = r.follower.Run(ctx) }()
	go func() { defer wg.Done(); errs[1] = r.disp.Run(ctx) }()
	wg.Wait()
	return errors.Join(errs...)
}

// Reload installs a new configuration: hooks and rules at once; a new
// follow mode takes effect at the next start.
func (r *Runner) Reload(cfg *config.Config) {
	old := r.conf.Swap(cfg)
	if err := r.disp.SetHooks(Hooks(cfg)); err != nil {
		r.log.Error("reload: hooks not replaced", "err", err)
	}
	if old.Follow != cfg.Follow {
		r.log.Warn("follow settings changed; they take effect at the next start", "mode", r.follower.Mode())
	}
}

// Committed tells the runner a job was just committed: a polling follower
// looks soon, the dispatcher delivers its done hooks.
func (r *Runner) Committed() {
	r.follower.Kick()
	r.disp.Notify()
}

// Changed wakes the dispatcher (a job failed or was quarantined).
func (r *Runner) Changed() { r.disp.Notify() }

// Config is the configuration in force.
func (r *Runner) Config() *config.Config { return r.conf.Load() }
