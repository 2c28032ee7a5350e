package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vodwatchd/vodwatchd/internal/buildinfo"
	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/daemon"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/health"
	"github.com/vodwatchd/vodwatchd/internal/metrics"
	"github.com/vodwatchd/vodwatchd/internal/playable"
	"github.com/vodwatchd/vodwatchd/internal/sdnotify"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/throttle"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// defaultConfigPath is where the packaged unit keeps the configuration.
const defaultConfigPath = "/etc/vodwatchd/config.yaml"

func cmdRun(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "run")
	cfgPath := fs.String("config", defaultConfigPath, "configuration file")
	useEmulator := fs.Bool("emulator", false, "start the embedded VOD/COS emulator and upload to it (no Tencent account needed)")
	emuData := fs.String("emulator-data", "", "emulator data folder (default: beside the state file)")
	emuListen := fs.String("emulator-listen", "127.0.0.1:9181", "emulator address (a fixed port keeps MediaUrls valid across restarts)")
	logFormat := fs.String("log-format", "", "text | json | auto (overrides log.format)")
	logLevel := fs.String("log-level", "", "debug | info | warn | error (overrides log.level)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log, err := newLogger(env, cfg.Log, *logFormat, *logLevel)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w)
	}
	r := &runner{env: env, log: log, cfgPath: *cfgPath, wedge: env.wedge}
	if *useEmulator {
		stop, err := r.startEmulator(ctx, cfg, *emuData, *emuListen)
		if err != nil {
			return err
		}
		defer stop()
	}
	return r.run(ctx, cfg)
}

// runner holds what one `vodwatchd run` owns.
type runner struct {
	env         *cmdEnv
	log         *slog.Logger
	cfgPath     string
	emulated    func(*config.Config) // points a (re)loaded config at the emulator
	wedge       <-chan struct{}      // tests: once closed, the daemon's loops hang in their heartbeat
	store       *state.Store
	metrics     *metrics.Metrics
	schedule    *throttle.Schedule
	group       *throttle.Group
	uploaders   *watchUploaders
	compactor   *compactor
	play        *playable.Runner
	playMetrics *metrics.Playable
}

func (r *runner) run(ctx context.Context, cfg *config.Config) error {
	if err := createRoots(cfg); err != nil {
		return err
	}
	store, err := state.Open(cfg.State, state.Options{Logger: r.log, MaxAttempts: cfg.Upload.Retries.MaxAttempts})
	if err != nil {
		return fmt.Errorf("%w\nrecovery: see README 'Recovering the state file'", err)
	}
	defer store.Close()
	group := throttle.NewGroup()
	pacer := throttle.NewPacer(uploader.DefaultTransport(), throttle.PacerOptions{Rate: cfg.Upload.APIRate, Logger: r.log})
	up, err := newWatchUploaders(cfg, group, pacer, r.env.getenv, r.log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		return err
	}
	r.schedule = throttle.NewSchedule(group, cfg, throttle.ScheduleOptions{Logger: r.log, OnChange: m.SetBandwidthLimit})
	r.group, r.uploaders = group, up
	bi := buildinfo.Read()
	m.SetBuildInfo(bi.Version, bi.GoVersion)
	r.store, r.metrics = store, m
	if err := refreshGauges(ctx, store, m, time.Now()); err != nil {
		return err
	}
	notifier, err := sdnotify.New(sdnotify.Options{Logger: r.log})
	if err != nil {
		return err
	}
	live := sdnotify.NewLiveness(nil)
	beats := map[string]*sdnotify.Heartbeat{}
	beat := func(name string) {
		if r.wedge != nil {
			select {
			case <-r.wedge:
				<-ctx.Done() // a wedged loop: it never turns again
			default:
			}
		}
		// Called from the daemon's loops; each name from one goroutine.
		if h, ok := beats[name]; ok {
			h.Beat()
		}
	}
	// A loop that has not turned for this long is wedged: the watchdog
	// pings stop and systemd restarts the service.
	stale := max(2*time.Second, notifier.WatchdogTimeout()/2)
	for _, name := range heartbeatNames(cfg) {
		beats[name] = live.Register(name, stale)
	}
	d, err := daemon.New(daemon.Options{Config: cfg, Store: store, Uploader: up, Finder: up,
		Events: m, Logger: r.log, Beat: beat})
	if err != nil {
		return err
	}
	if r.play, err = newPlayable(cfg, store, pacer, d, r.env.getenv, r.log); err != nil {
		return err
	}
	var srv *health.Server
	if cfg.Listen != "" {
		// Bind before anything starts, so a busy port fails the start.
		srv, err = health.Listen(health.ServerOptions{Addr: cfg.Listen, Metrics: m.Handler(), Logger: r.log,
			Checker: health.NewChecker(d, health.Options{ScanMaxAge: 3 * maxRescan(cfg)})})
		if err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 4)
	running := 0
	start := func(f func(context.Context) error) {
		running++
		go func() { errc <- f(ctx) }()
	}
	start(d.Run)
	start(r.play.Run)
	start(r.schedule.Run)
	r.compactor = &compactor{store: store, log: r.log}
	r.compactor.after.Store(int64(cfg.Compact))
	start(r.compactor.run)
	start(notifier.Watchdog(live).Run)
	start(func(ctx context.Context) error { return r.serveControl(ctx, d) })
	if srv != nil {
		r.log.Info("serving /metrics, /healthz and /readyz", "addr", srv.Addr())
		start(srv.Serve)
	}
	r.log.Info("vodwatchd running", "config", r.cfgPath, "state", cfg.State, "watches", len(cfg.Watch))
	_ = notifier.Ready()
	err = r.loop(ctx, d, notifier, errc, &running)
	_ = notifier.Stopping()
	r.log.Info("stopping: in-flight uploads keep their checkpoints")
	cancel()
	for range running {
		<-errc
	}
	return err
}

// loop waits for a stop signal or a component's failure, reloads on SIGHUP
// and refreshes systemd's STATUS= line.
func (r *runner) loop(ctx context.Context, d *daemon.Daemon, n *sdnotify.Notifier, errc <-chan error, pending *int) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	status := time.NewTicker(5 * time.Second)
	defer status.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			*pending--
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			// A component with nothing to do (no watchdog, no listener)
			// returns nil at once; the daemon's own return ends the run.
			if !d.Running() {
				return nil
			}
		case <-hup:
			_ = n.Reloading()
			r.reload(d)
			_ = n.Ready()
		case <-status.C:
			_ = n.Status(d.StatusLine(ctx).String())
			r.metrics.SetUploadRate(r.group.Global().Rate())
			if err := refreshGauges(ctx, r.store, r.metrics, time.Now()); err != nil && ctx.Err() == nil {
				r.log.Warn("refreshing queue metrics", "err", err)
			}
			r.refreshPlayable(ctx)
		}
	}
}

// reload reads the configuration again; an invalid one is reported and the
// running one kept.
func (r *runner) reload(d *daemon.Daemon) {
	cfg, err := config.Load(r.cfgPath)
	if err != nil {
		r.log.Error("reload refused: the new configuration is invalid; keeping the running one", "err", err)
		return
	}
	if r.emulated != nil {
		r.emulated(cfg)
	}
	if err := createRoots(cfg); err != nil {
		r.log.Error("reload refused", "err", err)
		return
	}
	if err := r.uploaders.configure(cfg); err != nil {
		r.log.Error("reload refused", "err", err)
		return
	}
	r.schedule.Reload(cfg)
	r.compactor.after.Store(int64(cfg.Compact))
	d.Reload(cfg)
	r.play.Reload(cfg)
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

// uploaderConfig is the uploader configuration cfg asks for.
func uploaderConfig(cfg *config.Config, getenv func(string) string, log *slog.Logger) uploader.Config {
	return uploader.Config{
		Region: cfg.VOD.Region, Endpoint: cfg.VOD.Endpoint, Scheme: cfg.VOD.Scheme,
		COSEndpoint: cfg.VOD.COSEndpoint, COSScheme: cfg.VOD.COSScheme,
		Credentials:        uploaderCredentials(cfg.VOD.Credentials, getenv),
		PartSize:           cfg.Upload.PartSize,
		MultipartThreshold: cfg.Upload.MultipartThreshold,
		PartsInFlight:      cfg.Upload.PartsInFlight,
		Logger:             log,
	}
}

// startEmulator runs the embedded emulator and points cfg at it.
func (r *runner) startEmulator(ctx context.Context, cfg *config.Config, dataDir, listen string) (func(), error) {
	if dataDir == "" {
		dataDir = filepath.Join(filepath.Dir(cfg.State), "emulator")
	}
	ectx, cancel := context.WithCancel(ctx)
	e, err := emulator.Start(ectx, emulator.Config{DataDir: dataDir, Listen: listen, Logger: r.log.With("component", "emulator")})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("emulator: %w", err)
	}
	r.emulated = func(c *config.Config) {
		c.VOD.Endpoint, c.VOD.Scheme = e.Addr(), e.Scheme()
		c.VOD.COSEndpoint, c.VOD.COSScheme = e.Addr(), e.Scheme()
		c.VOD.Credentials = config.Credentials{Kind: config.CredInline, SecretID: e.SecretID(), SecretKey: config.Secret(e.SecretKey())}
	}
	r.emulated(cfg)
	fmt.Fprintf(r.env.stderr, "emulator: VOD API and COS at %s://%s (data in %s)\n", e.Scheme(), e.Addr(), dataDir)
	return func() { cancel(); e.Close() }, nil
}
