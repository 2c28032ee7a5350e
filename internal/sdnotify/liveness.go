package sdnotify

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Liveness is a registry of heartbeats: each long-running component (the
// event loop, every upload worker) registers a name with the staleness it is
// allowed, and beats from its loop. The watchdog pings systemd only while
// every registered heartbeat is fresh.
type Liveness struct {
	now func() time.Time

	mu    sync.Mutex
	beats map[string]*beat
}

type beat struct {
	maxStale time.Duration
	last     time.Time
}

// NewLiveness returns an empty registry. now may be nil (time.Now).
func NewLiveness(now func() time.Time) *Liveness {
	if now == nil {
		now = time.Now
	}
	return &Liveness{now: now, beats: make(map[string]*beat)}
}

// Heartbeat is one registered component's handle.
type Heartbeat struct {
	l    *Liveness
	name string
}

// Register adds a component that must Beat at least every maxStale. The
// registration counts as a first beat. Registering a name again replaces its
// allowance and beats it. maxStale <= 0 is treated as one minute.
func (l *Liveness) Register(name string, maxStale time.Duration) *Heartbeat {
	if maxStale <= 0 {
		maxStale = time.Minute
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.beats[name] = &beat{maxStale: maxStale, last: l.now()}
	return &Heartbeat{l: l, name: name}
}

// Beat records that the component is making progress.
func (h *Heartbeat) Beat() {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	if b, ok := h.l.beats[h.name]; ok {
		b.last = h.l.now()
	}
}

// Unregister removes the component (a worker that exits cleanly), so its
// silence no longer counts against liveness.
func (h *Heartbeat) Unregister() {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	delete(h.l.beats, h.name)
}

// Name is the registered component name.
func (h *Heartbeat) Name() string { return h.name }

// StaleError names the components that have not beaten in time.
type StaleError struct {
	Stale []StaleComponent
}

// StaleComponent is one component whose heartbeat is too old.
type StaleComponent struct {
	Name     string
	Since    time.Duration // time since its last beat
	MaxStale time.Duration
}

func (e *StaleError) Error() string {
	parts := make([]string, len(e.Stale))
	for i, s := range e.Stale {
		parts[i] = fmt.Sprintf("%s silent for %s (allowed %s)",
			s.Name, s.Since.Round(time.Millisecond), s.MaxStale)
	}
	return "wedged: " + strings.Join(parts, ", ")
}

// Check returns nil when every registered component has beaten within its
// allowance, and a *StaleError naming the others (sorted by name) if not.
func (l *Liveness) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var stale []StaleComponent
	for name, b := range l.beats {
		if since := now.Sub(b.last); since > b.maxStale {
			stale = append(stale, StaleComponent{Name: name, Since: since, MaxStale: b.maxStale})
		}
	}
	if len(stale) == 0 {
		return nil
	}
	sort.Slice(stale, func(i, j int) bool { return stale[i].Name < stale[j].Name })
	return &StaleError{Stale: stale}
}

// LastBeat returns the time of the named component's last beat.
func (l *Liveness) LastBeat(name string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.beats[name]
	if !ok {
		return time.Time{}, false
	}
	return b.last, true
}
