package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// ServerOptions configure the HTTP listener.
type ServerOptions struct {
	// Addr is host:port, e.g. "127.0.0.1:9180" (port 0 picks a free one).
	Addr string
	// AllowNonLoopback permits binding to other than a loopback address.
	AllowNonLoopback bool
	// Metrics serves /metrics; nil leaves /metrics unrouted (404).
	Metrics http.Handler
	// Checker serves /healthz and /readyz; required.
	Checker *Checker
	Logger  *slog.Logger
	// ShutdownTimeout bounds the graceful stop (default 5s).
	ShutdownTimeout time.Duration
}

// Server serves /metrics, /healthz and /readyz.
type Server struct {
	ln      net.Listener
	srv     *http.Server
	log     *slog.Logger
	timeout time.Duration
}

// CheckListenAddr validates a listen address: host:port with a numeric port,
// and a loopback host (127.0.0.0/8, ::1 or "localhost") unless
// allowNonLoopback is set. An empty host would bind every interface.
func CheckListenAddr(addr string, allowNonLoopback bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: want host:port: %w", addr, err)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (port != "0" && p == 0) {
		return fmt.Errorf("listen address %q: port %q is not a number from 0 to 65535", addr, port)
	}
	if allowNonLoopback || isLoopback(host) {
		return nil
	}
	if host == "" {
		return fmt.Errorf("listen address %q binds every interface; use 127.0.0.1:%s or allow non-loopback addresses explicitly", addr, port)
	}
	return fmt.Errorf("listen address %q is not a loopback address; use 127.0.0.1:%s or allow non-loopback addresses explicitly", addr, port)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Listen validates the address and binds it, so a bad or busy address is an
// error at startup. Serve starts answering.
func Listen(opts ServerOptions) (*Server, error) {
	if opts.Checker == nil {
		return nil, errors.New("health: ServerOptions.Checker is required")
	}
	if err := CheckListenAddr(opts.Addr, opts.AllowNonLoopback); err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("health: listening on %s: %w", opts.Addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !opts.AllowNonLoopback && !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("health: %s resolved to non-loopback %s", opts.Addr, tcp.IP)
	}
	s := &Server{ln: ln, log: opts.Logger, timeout: opts.ShutdownTimeout}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.timeout <= 0 {
		s.timeout = 5 * time.Second
	}
	s.srv = &http.Server{
		Handler:           newMux(opts),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

func newMux(opts ServerOptions) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/healthz", opts.Checker.LivenessHandler())
	mux.Handle("/readyz", opts.Checker.ReadinessHandler())
	if opts.Metrics != nil {
		mux.Handle("/metrics", opts.Metrics)
	}
	return mux
}

// Addr is the bound address, e.g. "127.0.0.1:9180".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve answers requests until ctx is done, then shuts down gracefully
// (bounded by the shutdown timeout). It returns nil after a clean stop.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("http listener started", "addr", s.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("health: serving %s: %w", s.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("health: serving %s: %w", s.Addr(), serr)
	}
	if err != nil {
		s.srv.Close()
		return fmt.Errorf("health: stopping %s: %w", s.Addr(), err)
	}
	return nil
}

// Close releases the listener of a server that was never served.
func (s *Server) Close() error {
	s.srv.Close()
	if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("health: closing %s: %w", s.Addr(), err)
	}
	return nil
}
