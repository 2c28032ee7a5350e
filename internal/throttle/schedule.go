package throttle

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
)

// Clock is the time source of a Schedule (real time unless a test
// injects another).
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer of a Clock.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// RealClock is the machine's clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (RealClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }

// Group is the global limiter and one limiter per watch.
type Group struct {
	global *Limiter
	mu     sync.Mutex
	watch  map[string]*Limiter // by watch path
}

// NewGroup returns a group whose limits are all unlimited until a
// Schedule (or the caller) sets them.
func NewGroup() *Group {
	return &Group{global: NewLimiter(0), watch: map[string]*Limiter{}}
}

// Global returns the limiter shared by all uploads.
func (g *Group) Global() *Limiter { return g.global }

// Watch returns the limiter of the watch at path (made unlimited on first use).
func (g *Group) Watch(path string) *Limiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := g.watch[path]
	if !ok {
		l = NewLimiter(0)
		g.watch[path] = l
	}
	return l
}

// BodyWrapper returns the body wrapper for uploads from the watch at path
// (charged to the global limit and the watch's); "" = the global limit only.
func (g *Group) BodyWrapper(watchPath string) func(io.Reader) io.Reader {
	if watchPath == "" {
		return Wrap(g.global)
	}
	return Wrap(g.global, g.Watch(watchPath))
}

// apply sets every limit cfg asks for at now and returns the global one.
func (g *Group) apply(cfg *config.Config, now time.Time) int64 {
	limit := cfg.Upload.LimitAt(now)
	g.global.SetLimit(limit)
	seen := map[string]bool{}
	for _, w := range cfg.Watch {
		g.Watch(w.Path).SetLimit(w.Bandwidth)
		seen[w.Path] = true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for p, l := range g.watch {
		if !seen[p] {
			l.SetLimit(0) // a watch dropped by a reload: its uploads keep only the global limit
		}
	}
	return limit
}

// ScheduleOptions configure a Schedule.
type ScheduleOptions struct {
	Clock    Clock             // default RealClock
	Logger   *slog.Logger      // default: discard
	OnChange func(limit int64) // called after the global limit changes (metrics)
}

// Schedule keeps a Group's limits as the configuration asks: the global
// limit from upload.bandwidth and upload.schedule (checked every whole
// second, so a boundary takes effect within a second), the watches' from
// watch[].bandwidth.
type Schedule struct {
	g    *Group
	opts ScheduleOptions
	mu   sync.Mutex
	cfg  *config.Config
	cur  int64
	init bool
}

// NewSchedule applies cfg to g at once and returns the schedule; Run keeps
// it current.
func NewSchedule(g *Group, cfg *config.Config, opts ScheduleOptions) *Schedule {
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Schedule{g: g, opts: opts, cfg: cfg}
	s.apply()
	return s
}

// Reload swaps in a new configuration (SIGHUP) and applies it at once, to
// uploads already running too.
func (s *Schedule) Reload(cfg *config.Config) {
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
	s.apply()
}

// Limit returns the global limit in force (0 = unlimited).
func (s *Schedule) Limit() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Run re-applies the configuration at every whole second of the clock
// until ctx ends; it returns nil then.
func (s *Schedule) Run(ctx context.Context) error {
	for {
		now := s.opts.Clock.Now()
		next := now.Truncate(time.Second).Add(time.Second)
		t := s.opts.Clock.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
			s.apply()
		}
	}
}

// apply sets the limits for the clock's now, logging a change.
func (s *Schedule) apply() {
	s.mu.Lock()
	limit := s.g.apply(s.cfg, s.opts.Clock.Now())
	changed := !s.init || limit != s.cur
	old := s.cur
	s.cur, s.init = limit, true
	s.mu.Unlock()
	if !changed {
		return
	}
	s.opts.Logger.Info("bandwidth limit", "limit", FormatRate(limit), "was", FormatRate(old))
	if s.opts.OnChange != nil {
		s.opts.OnChange(limit)
	}
}

// FormatRate renders bytes per second for people: "20 MiB/s", "unlimited".
func FormatRate(bps int64) string {
	if bps <= 0 {
		return "unlimited"
	}
	units := []string{"B/s", "KiB/s", "MiB/s", "GiB/s"}
	v, i := float64(bps), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.4g %s", v, units[i])
}
