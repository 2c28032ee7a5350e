package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/rules"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// Options are what a Daemon is built from.
type Options struct {
	Config   *config.Config
	Store    *state.Store
	Uploader Uploader
	Finder   MediaFinder  // optional: settles commits the service no longer knows
	Deleter  MediaDeleter // optional: deletes a replaced media (on_change: replace)
	Cluster  Cluster      // optional: other nodes on the same folders (cluster:)
	Events   Events       // optional: metrics
	Logger   *slog.Logger
	Now      func() time.Time
	// Beat, when set, is called with a component name each time that
	// component's loop turns (systemd watchdog liveness).
	Beat func(component string)
}

// Daemon is a running vodwatchd.
type Daemon struct {
	opts   Options
	store  *state.Store
	up     Uploader
	finder MediaFinder
	delete MediaDeleter
	log    *slog.Logger
	events events
	sched  *scheduler
	conf   atomic.Pointer[config.Config]
	ended  atomic.Bool // Run has returned

	// waiting: files seen but not jobs yet, for status and metrics.
	waiting waitingBoard
	// reloaded: the watches run with a reloaded configuration (their
	// scans say reason=reload, not startup).
	reloaded atomic.Bool

	mu      sync.Mutex
	watches map[string]*watchState // by root
	restart context.CancelFunc     // restarts the intakes (Reload)
	health  healthState
	hashes  hashLocks // content-hash dedupe

	contentRead atomic.Int64 // bytes read in full by identity checks (ContentBytesRead)
}

// watchState is one configured watch with its rules.
type watchState struct {
	cfg   *config.Watch
	root  string
	rules *rules.Set
}

// New checks opts and builds a Daemon; Run starts it.
func New(opts Options) (*Daemon, error) {
	switch {
	case opts.Config == nil:
		return nil, errors.New("daemon: no configuration")
	case opts.Store == nil:
		return nil, errors.New("daemon: no state store")
	case opts.Uploader == nil:
		return nil, errors.New("daemon: no uploader")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := &Daemon{opts: opts, store: opts.Store, up: opts.Uploader, finder: opts.Finder, delete: opts.Deleter,
		log: opts.Logger, events: events{e: opts.Events, now: opts.Now}}
	d.sched = newScheduler(d)
	d.health.started, d.health.lastProgress = opts.Now(), opts.Now()
	d.setConfig(opts.Config)
	return d, nil
}

func (d *Daemon) now() time.Time { return d.opts.Now() }

func (d *Daemon) cfg() *config.Config { return d.conf.Load() }

func (d *Daemon) beat(component string) {
	d.mu.Lock()
	d.health.heartbeat = d.now()
	d.mu.Unlock()
	if d.opts.Beat != nil {
		d.opts.Beat(component)
	}
}

// setConfig installs a configuration and the rule sets of its watches.
func (d *Daemon) setConfig(c *config.Config) {
	ws := map[string]*watchState{}
	for i := range c.Watch {
		w := &c.Watch[i]
		ws[w.Path] = &watchState{cfg: w, root: w.Path, rules: rules.New(w, d.opts.Now)}
	}
	d.mu.Lock()
	d.watches = ws
	d.mu.Unlock()
	d.conf.Store(c)
}

func (d *Daemon) watchFor(root string) *watchState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.watches[root]
}

func (d *Daemon) watchList() []*watchState {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*watchState, 0, len(d.watches))
	for _, c := range d.cfg().Watch {
		if w := d.watches[c.Path]; w != nil {
			out = append(out, w)
		}
	}
	return out
}

// Run watches, settles, uploads and post-processes until ctx ends. Reload
// swaps the configuration while it runs.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.ended.Store(true)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Whichever half returns first (an error, or nil) stops the other.
	g := new(errgroup.Group)
	g.Go(func() error { defer cancel(); return d.sched.run(ctx) })
	g.Go(func() error { defer cancel(); return d.runWatches(ctx) })
	err := g.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}

// Running reports whether the daemon has not finished: true from New until
// Run returns. (A caller that checks it right after starting Run in a
// goroutine must not see false before Run got going.)
func (d *Daemon) Running() bool { return !d.ended.Load() }

// startReason labels the first scan of a watch: startup, or reload.
func (d *Daemon) startReason() string {
	if d.reloaded.Load() {
		return "reload"
	}
	return "startup"
}

// Reload installs a new, already validated configuration: the watches are
// restarted with it (their start-up scans find anything in between).
func (d *Daemon) Reload(c *config.Config) {
	changed := config.Diff(d.cfg(), c)
	d.setConfig(c)
	if len(changed) == 0 {
		changed = []string{"nothing"}
	}
	d.reloaded.Store(true)
	d.log.Info("configuration reloaded", "file", c.File, "watches", len(c.Watch), "changed", changed)
	d.restartWatches()
	d.sched.poke()
}

// Poke wakes the scheduler now instead of at its next tick (the CLI's
// retry reaches it through the store's change signal; tests call this).
func (d *Daemon) Poke() { d.sched.poke() }
