package hooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Outbox is the durable queue of deliveries. The state writes a
// delivery in the same transaction as the stage change that causes it, so
// a crash between the two loses nothing; the dispatcher then delivers it
// at least once.
type Outbox interface {
	// Due returns up to limit live deliveries whose NextAt is not after
	// now, oldest first.
	Due(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	// Delivered records a successful attempt; the delivery leaves the queue.
	Delivered(ctx context.Context, key string, a Attempt) error
	// Failed records a failed attempt; the delivery is tried again at
	// next, or becomes a dead letter when next is zero.
	Failed(ctx context.Context, key string, a Attempt, next time.Time) error
}

// Config configures a Dispatcher. Zero values take the defaults.
type Config struct {
	Hooks       []Hook
	Outbox      Outbox        // required
	MaxAttempts int           // then dead letter; default 10
	Backoff     time.Duration // first retry delay, doubled each time; default 10s
	MaxBackoff  time.Duration // default 1h
	Parallel    int           // deliveries in flight, default 4
	PollEvery   time.Duration // outbox check when idle, default 1s
	HTTPClient  *http.Client  // default: 30s timeout, no redirects followed
	Logger      *slog.Logger
	Now         func() time.Time
}

// Dispatcher delivers the outbox.
type Dispatcher struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	mu    sync.Mutex
	hooks map[string]Hook
}

// New checks cfg.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Outbox == nil {
		return nil, errors.New("hooks: Outbox is required")
	}
	hooks, err := byName(cfg.Hooks)
	if err != nil {
		return nil, err
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 10 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Hour
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Dispatcher{cfg: cfg, hooks: hooks, log: cfg.Logger.With("component", "hooks"), wake: make(chan struct{}, 1)}, nil
}

func byName(hs []Hook) (map[string]Hook, error) {
	out := map[string]Hook{}
	for _, h := range hs {
		if err := h.Validate(); err != nil {
			return nil, err
		}
		if _, dup := out[h.Name]; dup {
			return nil, fmt.Errorf("hooks: two hooks are named %q", h.Name)
		}
		out[h.Name] = h
	}
	return out, nil
}

// SetHooks replaces the hooks (a configuration reload); deliveries in the
// outbox find their hook by name at each attempt.
func (d *Dispatcher) SetHooks(hs []Hook) error {
	m, err := byName(hs)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.hooks = m
	d.mu.Unlock()
	return nil
}

// Validate reports what is wrong with a hook, naming it.
func (h Hook) Validate() error {
	switch {
	case h.Name == "":
		return errors.New("hooks: a hook has no name")
	case (h.URL == "") == (len(h.Command) == 0):
		return fmt.Errorf("hooks: hook %q: want exactly one of url and command", h.Name)
	case len(h.On) == 0:
		return fmt.Errorf("hooks: hook %q fires on no event", h.Name)
	}
	for _, e := range h.On {
		if !ValidEvent(e) {
			return fmt.Errorf("hooks: hook %q: unknown event %q (want one of %v)", h.Name, e, Events)
		}
	}
	return nil
}

// Notify wakes the dispatcher (a delivery was just written); it never
// blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends; it returns nil then.
func (d *Dispatcher) Run(ctx context.Context) error {
	for {
		n, err := d.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			d.log.Warn("hook outbox", "err", err)
		}
		if n > 0 && err == nil {
			continue // more may be due
		}
		t := time.NewTimer(d.cfg.PollEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// RunOnce delivers the deliveries due now (up to a batch) and returns how
// many it tried.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	due, err := d.cfg.Outbox.Due(ctx, d.cfg.Now(), d.cfg.Parallel*4)
	if err != nil {
		return 0, fmt.Errorf("reading the hook outbox: %w", err)
	}
	sem := make(chan struct{}, d.cfg.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, dl := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := d.deliver(ctx, dl); err != nil {
				mu.Lock()
				firstErr = cmp(firstErr, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return len(due), firstErr
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// deliver makes one attempt and records it.
func (d *Dispatcher) deliver(ctx context.Context, dl Delivery) error {
	d.mu.Lock()
	h, ok := d.hooks[dl.Hook]
	d.mu.Unlock()
	var a Attempt
	switch {
	case !ok:
		a = Attempt{At: d.cfg.Now(), Error: fmt.Sprintf("hook %q is no longer configured", dl.Hook)}
	case h.URL != "":
		a = post(ctx, d.cfg.HTTPClient, h, dl, d.cfg.Now())
	default:
		a = run(ctx, h, dl, d.cfg.Now())
	}
	if ctx.Err() != nil {
		return nil // shutting down: the attempt does not count, it is made again after the restart
	}
	log := d.log.With("hook", dl.Hook, "event", dl.Facts.Event, "job", dl.Facts.JobID, "key", dl.Key, "attempt", dl.Attempts+1)
	if a.Error == "" {
		log.Info("hook delivered", "duration", a.Duration)
		if err := d.cfg.Outbox.Delivered(ctx, dl.Key, a); err != nil {
			return fmt.Errorf("recording delivery %s: %w", dl.Key, err)
		}
		return nil
	}
	var next time.Time
	if ok && dl.Attempts+1 < d.cfg.MaxAttempts {
		next = a.At.Add(d.backoff(dl.Attempts + 1))
	}
	if next.IsZero() {
		log.Error("hook failed for good: dead letter", "err", a.Error)
	} else {
		log.Warn("hook failed; will retry", "err", a.Error, "next", next)
	}
	if err := d.cfg.Outbox.Failed(ctx, dl.Key, a, next); err != nil {
		return fmt.Errorf("recording failed delivery %s: %w", dl.Key, err)
	}
	return nil
}

// backoff is the delay after the n-th failed attempt: Backoff doubled
// n-1 times, capped, with up to 20% jitter.
func (d *Dispatcher) backoff(n int) time.Duration {
	b := d.cfg.Backoff
	for i := 1; i < n && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	return b + time.Duration(rand.Int64N(int64(b)/5+1))
}
