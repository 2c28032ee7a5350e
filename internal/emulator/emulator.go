// Package emulator is a local stand-in for Tencent Cloud VOD (API 3.0) and
// the COS buckets it uploads to, served on one listener.
package emulator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator/cos"
)

// Config describes one emulator. Zero values take the documented defaults.
type Config struct {
	DataDir          string        // objects + metadata persist here (required)
	Listen           string        // default "127.0.0.1:0"
	AllowNonLoopback bool          // refuse a non-loopback bind unless set
	AppID            uint64        // default: the data folder's, else 1250000000; buckets are "<name>-<appid>"
	SecretID         string        // default account's SecretId (with SecretKey empty: the data folder's, else generated and kept there)
	SecretKey        string        // default account's SecretKey
	AccountsFile     string        // optional YAML: accounts, sub-apps, regions, procedures, classes, faults
	CertLifetime     time.Duration // temporary certificate lifetime, default 1h
	SessionLifetime  time.Duration // how long a VodSessionKey can be committed, default 24h
	RepeatCommit     string        // "same" (default) | "error"
	APIRateLimit     int           // requests/s per action, default 100; <0 = unlimited
	Faults           FaultConfig   // seeded, deterministic; SetFaults changes it at runtime
	Tasks            TaskConfig    // task flows run on committed media with a procedure, and their events
	Latency          time.Duration // added to every request
	TLSCertFile      string        // serve https with this certificate...
	TLSKeyFile       string        // ...and key
	AllowUnsignedCOS bool          // benchmarks only: accept unsigned COS writes
	MaxAPIBodyBytes  int64         // API request body cap, default 10 MiB
	MaxCOSBodyBytes  int64         // COS request body cap, default 5 GiB + 1 MiB
	BodyIdleTimeout  time.Duration // a request body that stalls this long is cut, default 30s
	Now              func() time.Time
	Logger           *slog.Logger
}

// defaultAppID is the default account's APPID unless configured.
const defaultAppID = 1250000000

// Repeat-commit behaviours.
const (
	RepeatCommitSame  = "same"
	RepeatCommitError = "error"
)

// Emulator is a running VOD + COS emulator.
type Emulator struct {
	cfg      Config
	logger   *slog.Logger
	now      func() time.Time
	scheme   string
	ln       net.Listener
	srv      *http.Server
	cos      *cos.Server
	accounts *accounts
	faults   *faults
	limits   *limiter
	counters *counters
	store    *store
	flows    *flows

	closeOnce sync.Once
	closeErr  error
	done      chan struct{}
}

// Start validates cfg, opens the data directory, binds the listener and
// serves until ctx is cancelled or Close is called.
func Start(ctx context.Context, cfg Config) (*Emulator, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	if cfg, err = withIdentity(cfg); err != nil {
		return nil, err
	}
	file, err := loadAccountsFile(cfg.AccountsFile)
	if err != nil {
		return nil, err
	}
	accts, err := newAccounts(cfg, file)
	if err != nil {
		return nil, err
	}
	e := &Emulator{
		cfg: cfg, logger: cfg.Logger, now: cfg.Now, accounts: accts,
		faults:   newFaults(mergeFaults(file.Faults, cfg.Faults)),
		limits:   newLimiter(cfg.APIRateLimit),
		flows:    newFlows(cfg.Tasks),
		counters: newCounters(),
		done:     make(chan struct{}),
	}
	if err := e.open(); err != nil {
		return nil, err
	}
	if err := e.listen(); err != nil {
		return nil, err
	}
	e.resumeFlows()
	go e.serve(ctx)
	return e, nil
}

func withDefaults(cfg Config) (_ Config, err error) {
	if cfg.DataDir == "" {
		return cfg, errors.New("emulator: DataDir is required")
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.CertLifetime <= 0 {
		cfg.CertLifetime = time.Hour
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 24 * time.Hour
	}
	switch cfg.RepeatCommit {
	case "":
		cfg.RepeatCommit = RepeatCommitSame
	case RepeatCommitSame, RepeatCommitError:
	default:
		return cfg, fmt.Errorf("emulator: RepeatCommit %q: want %q or %q", cfg.RepeatCommit, RepeatCommitSame, RepeatCommitError)
	}
	if cfg.APIRateLimit == 0 {
		cfg.APIRateLimit = 100
	}
	if cfg.MaxAPIBodyBytes <= 0 {
		cfg.MaxAPIBodyBytes = 10 << 20
	}
	if cfg.MaxCOSBodyBytes <= 0 {
		cfg.MaxCOSBodyBytes = 5<<30 + 1<<20
	}
	if cfg.BodyIdleTimeout <= 0 {
		cfg.BodyIdleTimeout = 30 * time.Second
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return cfg, errors.New("emulator: TLSCertFile and TLSKeyFile must be given together")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tasks, err = cfg.Tasks.withDefaults(); err != nil {
		return cfg, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// open prepares the data directory, the VOD store and the COS server.
func (e *Emulator) open() error {
	if err := os.MkdirAll(e.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("emulator: data dir: %w", err)
	}
	st, err := openStore(filepath.Join(e.cfg.DataDir, "vod.json"))
	if err != nil {
		return err
	}
	e.store = st
	srv, err := cos.New(filepath.Join(e.cfg.DataDir, "cos"), grants{e}, cos.Options{
		Now: e.now, Logger: e.logger.With("part", "cos"),
		AllowUnsigned: e.cfg.AllowUnsignedCOS, MaxBodyBytes: e.cfg.MaxCOSBodyBytes,
	})
	if err != nil {
		return fmt.Errorf("emulator: cos: %w", err)
	}
	e.cos = srv
	return nil
}

func (e *Emulator) listen() error {
	if err := checkLoopback(e.cfg.Listen, e.cfg.AllowNonLoopback); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", e.cfg.Listen)
	if err != nil {
		return fmt.Errorf("emulator: listen %s: %w", e.cfg.Listen, err)
	}
	e.scheme = "http"
	if e.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(e.cfg.TLSCertFile, e.cfg.TLSKeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("emulator: TLS key pair %s / %s: %w", e.cfg.TLSCertFile, e.cfg.TLSKeyFile, err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		e.scheme = "https"
	}
	e.ln = ln
	e.srv = &http.Server{
		Handler:           e.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(e.logger.Handler(), slog.LevelDebug),
	}
	return nil
}

// checkLoopback refuses addresses that are not loopback unless allowed.
func checkLoopback(addr string, allow bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("emulator: listen address %q: %w", addr, err)
	}
	if allow {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("emulator: listen address %q is not loopback; set AllowNonLoopback (--allow-non-loopback) to expose it", addr)
}

func (e *Emulator) serve(ctx context.Context) {
	go func() {
		select {
		case <-ctx.Done():
			e.Close()
		case <-e.done:
		}
	}()
	err := e.srv.Serve(e.ln)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		e.logger.Error("emulator stopped serving", "err", err)
	}
}

// Addr is "127.0.0.1:PORT": the API endpoint and the COS endpoint.
func (e *Emulator) Addr() string { return e.ln.Addr().String() }

// Scheme is "http" or "https".
func (e *Emulator) Scheme() string { return e.scheme }

// SecretID is the default account's SecretId.
func (e *Emulator) SecretID() string { return e.accounts.def.SecretID }

// SecretKey is the default account's SecretKey.
func (e *Emulator) SecretKey() string { return e.accounts.def.SecretKey }

// AppID is the default account's APPID.
func (e *Emulator) AppID() uint64 { return e.accounts.def.AppID }

// SetFaults replaces the fault configuration (the random streams restart
// from the new seed).
func (e *Emulator) SetFaults(f FaultConfig) { e.faults.set(f) }

// Close stops the listener, waits briefly for requests in flight and
// flushes the metadata.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		close(e.done)
		e.flows.stop()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			e.srv.Close()
		}
		e.closeErr = e.store.flush()
	})
	return e.closeErr
}
