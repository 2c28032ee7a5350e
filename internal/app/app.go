// Package app builds, runs and reloads the daemon from a configuration:
// the one wiring that `vodwatchd run`, the fault suite, the daemon tests and
// the crash test all use. It owns what surrounds the daemon core: the state
// store, the paced API transport, per-watch bandwidth limits, the
// credential source, the compactor, the control socket, /metrics,
// /healthz and /readyz, and systemd notification.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/vodwatchd/vodwatchd/internal/buildinfo"
	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/credentials"
	"github.com/vodwatchd/vodwatchd/internal/daemon"
	"github.com/vodwatchd/vodwatchd/internal/health"
	"github.com/vodwatchd/vodwatchd/internal/metrics"
	"github.com/vodwatchd/vodwatchd/internal/playable"
	"github.com/vodwatchd/vodwatchd/internal/sdnotify"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/throttle"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// Options configure New. Only Config is required; the rest are for tests,
// and production leaves them at their zero values.
type Options struct {
	Config *config.Config
	Logger *slog.Logger        // default: discard
	Getenv func(string) string // credentials and systemd; default os.Getenv

	// WrapTransport wraps the paced API/COS transport (fault injection).
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// UploaderRetry replaces the uploader's retry policy (short suites).
	UploaderRetry *uploader.RetryPolicy
	// WrapUploader wraps what the daemon uploads with (interrupting an
	// upload at a chosen moment).
	WrapUploader func(daemon.Uploader) daemon.Uploader
	// Wedge, once closed, makes the daemon's loops hang in their
	// heartbeat (the watchdog test).
	Wedge <-chan struct{}
	// Emulator says the run uploads to the embedded emulator (run
	// --emulator): the state file must be one such runs use, never a
	// production run's (state.ModeEmulator).
	Emulator bool
}

// statusEvery is how often STATUS= and the queue gauges are refreshed.
const statusEvery = 5 * time.Second

// App is one running configuration of the daemon. Create it with New, run
// it once with Run, then Close it.
type App struct {
	log         *slog.Logger
	opts        Options
	store       *state.Store
	metrics     *metrics.Metrics
	group       *throttle.Group
	schedule    *throttle.Schedule
	uploaders   *watchUploaders
	compactor   *compactor
	d           *daemon.Daemon
	notifier    *sdnotify.Notifier
	live        *sdnotify.Liveness
	srv         *health.Server
	play        *playable.Runner // follows done jobs to playable, delivers hooks
	playMetrics *metrics.Playable
	cluster     *clusterHooks // nil without cluster:

	mu  sync.Mutex // guards ctx
	ctx context.Context
}

// New opens the state, builds every component for cfg and binds the
// health listener (so a busy port fails the start). Close releases them.
func New(opts Options) (_ *App, err error) {
	cfg := opts.Config
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	a := &App{log: opts.Logger, opts: opts, ctx: context.Background()}
	if err := createRoots(cfg); err != nil {
		return nil, err
	}
	mode := state.ModeService
	if opts.Emulator {
		mode = state.ModeEmulator
	}
	a.store, err = state.Open(cfg.State, state.Options{Logger: a.log, MaxAttempts: cfg.Upload.Retries.MaxAttempts, Mode: mode})
	if err != nil {
		return nil, fmt.Errorf("%w\nrecovery: see README 'Recovering the state file'", err)
	}
	defer func() {
		if err != nil {
			a.store.Close()
		}
	}()
	a.group = throttle.NewGroup()
	var transport http.RoundTripper = throttle.NewPacer(uploader.DefaultTransport(), throttle.PacerOptions{Rate: cfg.Upload.APIRate, Logger: a.log})
	if opts.WrapTransport != nil {
		transport = opts.WrapTransport(transport)
	}
	reg := prometheus.NewRegistry()
	if a.metrics, err = metrics.New(reg); err != nil {
		return nil, err
	}
	a.uploaders = &watchUploaders{group: a.group, transport: transport, getenv: opts.Getenv, retry: opts.UploaderRetry,
		onRetry: a.metrics.Retried, log: a.log}
	if err := a.uploaders.configure(cfg); err != nil {
		return nil, err
	}
	a.schedule = throttle.NewSchedule(a.group, cfg, throttle.ScheduleOptions{Logger: a.log, OnChange: a.metrics.SetBandwidthLimit})
	bi := buildinfo.Read()
	a.metrics.SetBuildInfo(bi.Version, bi.GoVersion)
	if err := refreshGauges(context.Background(), a.store, a.metrics, time.Now()); err != nil {
		return nil, err
	}
	if a.notifier, err = sdnotify.New(sdnotify.Options{Logger: a.log}); err != nil {
		return nil, err
	}
	var up daemon.Uploader = a.uploaders
	if opts.WrapUploader != nil {
		up = opts.WrapUploader(up)
	}
	var cl daemon.Cluster
	if cfg.Cluster != nil {
		if a.cluster, err = joinCluster(cfg, opts.Getenv, a.log, a.uploaders); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				_ = a.cluster.close()
			}
		}()
		reg.MustRegister(a.cluster.collectors()...)
		cl = a.cluster
	}
	a.d, err = daemon.New(daemon.Options{Config: cfg, Store: a.store, Uploader: up, Finder: a.uploaders, Deleter: a.uploaders,
		Cluster: cl, Events: a.metrics, Logger: a.log, Beat: a.heartbeats(cfg)})
	if err != nil {
		return nil, err
	}
	if a.cluster != nil {
		a.cluster.store, a.cluster.poke = a.store, a.d.Poke
	}
	if err := a.newPlayable(cfg, transport); err != nil {
		return nil, err
	}
	a.compactor = &compactor{store: a.store, log: a.log}
	a.compactor.after.Store(int64(cfg.Compact))
	if cfg.Listen != "" {
		a.srv, err = health.Listen(health.ServerOptions{Addr: cfg.Listen, Metrics: a.metrics.Handler(), Logger: a.log,
			Checker: health.NewChecker(a, health.Options{ScanMaxAge: 3 * maxRescan(cfg)})})
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// heartbeats is the daemon's Beat: each loop's turn feeds the watchdog.
func (a *App) heartbeats(cfg *config.Config) func(string) {
	a.live = sdnotify.NewLiveness(nil)
	beats := map[string]*sdnotify.Heartbeat{}
	// A loop that has not turned for this long is wedged: the watchdog
	// pings stop and systemd restarts the service.
	stale := max(2*time.Second, a.notifier.WatchdogTimeout()/2)
	for _, name := range heartbeatNames(cfg) {
		beats[name] = a.live.Register(name, stale)
	}
	wedge := a.opts.Wedge
	return func(name string) {
		if wedge != nil {
			select {
			case <-wedge:
				<-a.context().Done() // a wedged loop: it never turns again
			default:
			}
		}
		// Called from the daemon's loops; each name from one goroutine.
		if h, ok := beats[name]; ok {
			h.Beat()
		}
	}
}

// Store is the state store (open until Close).
func (a *App) Store() *state.Store { return a.store }

// Daemon is the daemon core.
func (a *App) Daemon() *daemon.Daemon { return a.d }

// Metrics are the Prometheus metrics served at /metrics.
func (a *App) Metrics() *metrics.Metrics { return a.metrics }

// HealthAddr is the address /metrics, /healthz and /readyz are served on
// ("" without listen:).
func (a *App) HealthAddr() string {
	if a.srv == nil {
		return ""
	}
	return a.srv.Addr()
}

func (a *App) context() context.Context {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ctx
}

// Run runs every component until ctx ends (nil) or one fails (its
// error); in-flight uploads stop at their last checkpoint.
func (a *App) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	a.ctx = ctx
	a.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	// A component with nothing to do (no watchdog, no listener) returns
	// nil at once; only the daemon's own return ends the run.
	keep := func(f func(context.Context) error) {
		g.Go(func() error {
			if err := f(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		defer cancel()
		return a.d.Run(gctx)
	})
	keep(a.schedule.Run)
	keep(a.play.Run)
	keep(a.compactor.run)
	keep(a.notifier.Watchdog(a.live).Run)
	keep(a.serveControl)
	if a.srv != nil {
		a.log.Info("serving /metrics, /healthz and /readyz", "addr", a.srv.Addr())
		keep(a.srv.Serve)
	}
	keep(a.refreshStatus)
	if a.cluster != nil {
		keep(a.cluster.run)
	}
	a.log.Info("vodwatchd running", "state", a.opts.Config.State, "watches", len(a.opts.Config.Watch))
	_ = a.notifier.Ready()
	<-gctx.Done()
	_ = a.notifier.Stopping()
	a.log.Info("stopping: in-flight uploads keep their checkpoints")
	cancel()
	return g.Wait()
}

// refreshStatus refreshes systemd's STATUS= line and the queue gauges.
func (a *App) refreshStatus(ctx context.Context) error {
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		_ = a.notifier.Status(a.StatusLine(ctx).String())
		a.metrics.SetUploadRate(a.group.Global().Rate())
		if err := refreshGauges(ctx, a.store, a.metrics, time.Now()); err != nil && ctx.Err() == nil {
			a.log.Warn("refreshing queue metrics", "err", err)
		}
		if err := a.refreshPlayable(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("refreshing follow and hook metrics", "err", err)
		}
	}
}

// Reload applies a new configuration to the running daemon; an error
// leaves the running one in place.
func (a *App) Reload(cfg *config.Config) error {
	if !sameCluster(cfg.Cluster, a.opts.Config.Cluster) {
		a.log.Warn("cluster: changes to cluster: take effect at the next start")
	}
	_ = a.notifier.Reloading()
	defer func() { _ = a.notifier.Ready() }()
	if err := createRoots(cfg); err != nil {
		return err
	}
	if err := a.uploaders.configure(cfg); err != nil {
		return err
	}
	a.schedule.Reload(cfg)
	a.compactor.after.Store(int64(cfg.Compact))
	a.d.Reload(cfg)
	a.play.Reload(cfg)
	return nil
}

// Close leaves the cluster (when in one) and closes the state store; call
// it after Run returned.
func (a *App) Close() error {
	if a.cluster != nil {
		if err := a.cluster.close(); err != nil {
			a.log.Warn("cluster: leaving", "err", err)
		}
	}
	return a.store.Close()
}

func heartbeatNames(cfg *config.Config) []string {
	names := []string{"scheduler"}
	for _, w := range cfg.Watch {
		names = append(names, "intake "+w.Path)
	}
	return names
}

func maxRescan(cfg *config.Config) time.Duration {
	d := 5 * time.Minute
	for _, w := range cfg.Watch {
		d = max(d, w.RescanInterval, w.PollInterval)
	}
	return d
}

// createRoots creates the watch roots that ask for it.
func createRoots(cfg *config.Config) error {
	for _, w := range cfg.Watch {
		if !w.Create {
			continue
		}
		if err := os.MkdirAll(w.Path, 0o755); err != nil {
			return fmt.Errorf("watch %s: create: %w", w.Path, err)
		}
	}
	return nil
}

// UploaderConfig is the uploader configuration cfg asks for.
func UploaderConfig(cfg *config.Config, getenv func(string) string, log *slog.Logger) uploader.Config {
	return uploader.Config{
		Region: cfg.VOD.Region, Endpoint: cfg.VOD.Endpoint, Scheme: cfg.VOD.Scheme,
		COSEndpoint: cfg.VOD.COSEndpoint, COSScheme: cfg.VOD.COSScheme,
		Credentials:        credentials.ForConfig(cfg.VOD.Credentials, getenv),
		PartSize:           cfg.Upload.PartSize,
		MultipartThreshold: cfg.Upload.MultipartThreshold,
		PartsInFlight:      cfg.Upload.PartsInFlight,
		ObjectsInFlight:    cfg.Upload.ObjectsInFlight,
		Logger:             log,
	}
}
