package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vodwatchd/vodwatchd/internal/app"
	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/timerslack"
)

// defaultConfigPath is where the packaged unit keeps the configuration.
const defaultConfigPath = "/etc/vodwatchd/config.yaml"

func cmdRun(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "run")
	cfgPath := fs.String("config", defaultConfigPath, "configuration file")
	useEmulator := fs.Bool("emulator", false, "start the embedded VOD/COS emulator and upload to it (no Tencent account needed)")
	emuData := fs.String("emulator-data", "", "emulator data folder (default: beside the state file)")
	emuListen := fs.String("emulator-listen", "127.0.0.1:9181", "emulator address (a fixed port keeps MediaUrls valid across restarts)")
	emuAccounts := fs.String("emulator-accounts", "", "emulator accounts `file` (YAML: accounts, sub-apps, regions, procedures, classes, faults)")
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
	widenTimerSlack(log)
	emulated := func(*config.Config) {}
	if *useEmulator {
		point, stop, err := startEmulator(ctx, env, log, cfg, emulator.Config{DataDir: *emuData, Listen: *emuListen, AccountsFile: *emuAccounts})
		if err != nil {
			return err
		}
		defer stop()
		emulated = point
	}
	emulated(cfg)
	if *useEmulator {
		log.Info("emulator run", "state", cfg.State, "for_emulator", cfg.ForEmulator)
	}
	a, err := app.New(app.Options{Config: cfg, Logger: log, Getenv: env.getenv, Wedge: env.wedge, Emulator: *useEmulator})
	if err != nil {
		return err
	}
	defer a.Close()
	log.Info("configuration", "config", *cfgPath)
	ctx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer cancel()
		return a.Run(gctx)
	})
	g.Go(func() error { return reloadOnHUP(gctx, log, *cfgPath, emulated, a) })
	return g.Wait()
}

// timerSlack is the daemon's timer slack (see package timerslack); the
// systemd unit sets the same with TimerSlackNSec=.
const timerSlack = 4 * time.Millisecond

// widenTimerSlack gives the daemon's threads timerSlack, saying in the log
// what it could not do. Nothing depends on it but CPU time.
func widenTimerSlack(log *slog.Logger) {
	r, err := timerslack.Widen(timerSlack)
	switch {
	case err != nil:
		log.Info("timer slack left as it was", "err", err)
	case r.Already:
		log.Debug("timer slack already set by what started the daemon", "slack", timerSlack)
	case r.Denied > 0:
		log.Info("timer slack widened on this thread only (CAP_SYS_NICE needed for the others, the runtime's monitor among them; the systemd unit sets it for all with TimerSlackNSec=)",
			"slack", timerSlack, "threads", r.Set, "left", r.Denied)
	default:
		log.Debug("timer slack widened", "slack", timerSlack, "threads", r.Set)
	}
}

// reloadOnHUP reads the configuration again on every SIGHUP; an invalid one
// is reported and the running one kept.
func reloadOnHUP(ctx context.Context, log *slog.Logger, cfgPath string, emulated func(*config.Config), a *app.App) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
		}
		cfg, err := config.Load(cfgPath)
		if err != nil {
			log.Error("reload refused: the new configuration is invalid; keeping the running one", "err", err)
			continue
		}
		emulated(cfg)
		if err := a.Reload(cfg); err != nil {
			log.Error("reload refused", "err", err)
		}
	}
}

// startEmulator runs the embedded emulator; point aims a (re)loaded
// configuration at it.
func startEmulator(ctx context.Context, env *cmdEnv, log *slog.Logger, cfg *config.Config, ecfg emulator.Config) (point func(*config.Config), stop func(), err error) {
	if ecfg.DataDir == "" {
		ecfg.DataDir = filepath.Join(filepath.Dir(cfg.State), "emulator")
	}
	ectx, cancel := context.WithCancel(ctx)
	ecfg.Logger = log.With("component", "emulator")
	e, err := emulator.Start(ectx, ecfg)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("emulator: %w", err)
	}
	point = func(c *config.Config) {
		c.ForEmulatorRun()
		c.VOD.Endpoint, c.VOD.Scheme = e.Addr(), e.Scheme()
		c.VOD.COSEndpoint, c.VOD.COSScheme = e.Addr(), e.Scheme()
		c.VOD.Credentials = config.Credentials{Kind: config.CredInline, SecretID: e.SecretID(), SecretKey: config.Secret(e.SecretKey())}
	}
	log.Info("emulator started: VOD API and COS", "url", e.Scheme()+"://"+e.Addr(), "data", ecfg.DataDir)
	return point, func() { cancel(); e.Close() }, nil
}
