package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
)

// cmdEmulator runs the local VOD/COS emulator until ctx is cancelled.
func cmdEmulator(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "emulator")
	var cfg emulator.Config
	var verbose bool
	var faults faultFlags
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:9000", "address to serve the API, COS and media on")
	fs.StringVar(&cfg.DataDir, "data", "", "directory for objects and metadata (required; survives restarts)")
	fs.StringVar(&cfg.SecretID, "secret-id", "", "SecretId of the default account (generated when empty)")
	fs.StringVar(&cfg.SecretKey, "secret-key", "", "SecretKey of the default account (generated when empty; or $VODWATCHD_EMULATOR_SECRET_KEY)")
	fs.Uint64Var(&cfg.AppID, "app-id", 1250000000, "APPID of the default account (buckets are <name>-<appid>)")
	fs.StringVar(&cfg.AccountsFile, "accounts", "", "YAML file with more accounts, sub-applications, regions, procedures, classes and faults")
	fs.DurationVar(&cfg.CertLifetime, "cert-lifetime", time.Hour, "lifetime of the temporary COS certificates")
	fs.DurationVar(&cfg.SessionLifetime, "session-lifetime", 24*time.Hour, "how long a VodSessionKey can be committed")
	fs.StringVar(&cfg.RepeatCommit, "repeat-commit", "same", "answer to a second CommitUpload of a session: same (FileId again) | error")
	fs.IntVar(&cfg.APIRateLimit, "rate-limit", 100, "API requests per second per action (negative: unlimited)")
	fs.DurationVar(&cfg.Latency, "latency", 0, "delay added to every request (e.g. 30ms for a cloud round trip)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "serve https with this PEM certificate")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM key of --tls-cert")
	fs.BoolVar(&cfg.AllowNonLoopback, "allow-non-loopback", false, "allow listening on a non-loopback address")
	fs.BoolVar(&cfg.AllowUnsignedCOS, "allow-unsigned-cos", false, "accept unsigned COS uploads (benchmark ceiling only)")
	fs.BoolVar(&verbose, "v", false, "log every request outcome")
	fs.DurationVar(&cfg.Tasks.Duration, "task-duration", 2*time.Second, "how long a procedure's task runs (PROCESSING -> FINISH)")
	fs.Float64Var(&cfg.Tasks.FailRate, "task-fail-rate", 0, "share of tasks that finish with an error, 0..1 (seeded by --fault-seed)")
	fs.DurationVar(&cfg.Tasks.Redeliver, "event-redeliver", 30*time.Second, "an event not confirmed is pulled again after this")
	faults.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if cfg.DataDir == "" {
		return fmt.Errorf("%w: --data DIR is required", errUsage)
	}
	keyGiven := cfg.SecretKey != ""
	if !keyGiven {
		if k := env.getenv("VODWATCHD_EMULATOR_SECRET_KEY"); k != "" {
			cfg.SecretKey, keyGiven = k, true
		}
	}
	fc, err := faults.config()
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg.Faults = fc
	cfg.Tasks.Seed = uint64(fc.Seed)
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	e, err := emulator.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	printEmulator(env, e, keyGiven)
	<-ctx.Done()
	fmt.Fprintln(env.stdout, "emulator: stopping")
	return e.Close()
}

func printEmulator(env *cmdEnv, e *emulator.Emulator, keyGiven bool) {
	w := env.stdout
	fmt.Fprintf(w, "vodwatchd emulator serving on %s://%s\n", e.Scheme(), e.Addr())
	fmt.Fprintf(w, "  VOD API endpoint: %s (scheme %s, service vod, version %s)\n", e.Addr(), e.Scheme(), emulator.APIVersion)
	fmt.Fprintf(w, "  COS endpoint:     %s://%s with Host <bucket>.cos.<region>.myqcloud.com\n", e.Scheme(), e.Addr())
	fmt.Fprintf(w, "  media:            %s://%s/media/<bucket>/<key>\n", e.Scheme(), e.Addr())
	fmt.Fprintf(w, "  AppId:            %d\n", e.AppID())
	fmt.Fprintf(w, "  SecretId:         %s\n", e.SecretID())
	if keyGiven {
		fmt.Fprintln(w, "  SecretKey:        (as given)")
	} else {
		fmt.Fprintf(w, "  SecretKey:        %s (generated; kept in the data folder's account.json)\n", e.SecretKey())
	}
}

// faultFlags are the --fault-* flags.
type faultFlags struct {
	seed         int64
	errorRate    string
	throttle     string
	resetRate    string
	resetAfter   int64
	latency      string
	answerDelay  string
	certLifetime time.Duration
}

func (f *faultFlags) register(fs interface {
	Int64Var(*int64, string, int64, string)
	StringVar(*string, string, string, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	fs.Int64Var(&f.seed, "fault-seed", 1, "seed of the fault injector's random streams")
	fs.StringVar(&f.errorRate, "fault-error-rate", "", "OP=P,...: probability of a 5xx/InternalError per operation (OP * = all)")
	fs.StringVar(&f.throttle, "fault-throttle", "", "OP=N,...: the first N requests of OP get RequestLimitExceeded / 503 SlowDown")
	fs.StringVar(&f.resetRate, "fault-reset-rate", "", "OP=P,...: probability of a connection reset in the middle of the request body")
	fs.Int64Var(&f.resetAfter, "fault-reset-after", 64<<10, "bytes of the body read before an injected reset")
	fs.StringVar(&f.latency, "fault-latency", "", "OP=DURATION,...: extra delay per operation")
	fs.StringVar(&f.answerDelay, "fault-answer-latency", "", "OP=DURATION,...: delay of the answer after the operation took effect (a client that gives up loses the answer)")
	fs.DurationVar(&f.certLifetime, "fault-cert-lifetime", 0, "issue temporary certificates with this (short) lifetime")
}

func (f *faultFlags) config() (emulator.FaultConfig, error) {
	c := emulator.FaultConfig{Seed: f.seed, ResetAfterBytes: f.resetAfter, CertLifetime: f.certLifetime}
	var err error
	if c.ErrorRate, err = parseOpMap(f.errorRate, "--fault-error-rate", parseProbability); err != nil {
		return c, err
	}
	if c.Throttle, err = parseOpMap(f.throttle, "--fault-throttle", strconv.Atoi); err != nil {
		return c, err
	}
	if c.ResetRate, err = parseOpMap(f.resetRate, "--fault-reset-rate", parseProbability); err != nil {
		return c, err
	}
	if c.Latency, err = parseOpMap(f.latency, "--fault-latency", time.ParseDuration); err != nil {
		return c, err
	}
	if c.AnswerLatency, err = parseOpMap(f.answerDelay, "--fault-answer-latency", time.ParseDuration); err != nil {
		return c, err
	}
	return c, nil
}

func parseProbability(s string) (float64, error) {
	p, err := strconv.ParseFloat(s, 64)
	if err != nil || p < 0 || p > 1 {
		return 0, fmt.Errorf("%q is not a probability between 0 and 1", s)
	}
	return p, nil
}

// parseOpMap parses "Op=value,Op2=value".
func parseOpMap[V any](s, flag string, parse func(string) (V, error)) (map[string]V, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]V{}
	for _, item := range strings.Split(s, ",") {
		op, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || op == "" {
			return nil, fmt.Errorf("%s: %q is not OP=VALUE", flag, item)
		}
		v, err := parse(val)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %v", flag, op, err)
		}
		out[op] = v
	}
	return out, nil
}
