// Package health decides whether the daemon is alive (/healthz) and ready
// (/readyz) from a snapshot the daemon provides, and serves both with
// /metrics on a loopback HTTP listener.
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Snapshot is what the daemon reports about itself at one moment.
type Snapshot struct {
	// Heartbeat is the event loop's last heartbeat.
	Heartbeat time.Time
	// StateOpen is true while the state store is open and usable.
	StateOpen bool
	// StateError says why the state is not usable (for example "disk
	// full"); shown as the state check's reason.
	StateError string
	// Watches are the configured watch roots.
	Watches []Watch
	// QueueDepth counts jobs that could make progress now (waiting or in
	// progress; not jobs parked until a later retry time).
	QueueDepth int
	// LastProgress is the last time any job made progress: a stage change,
	// or bytes sent for a long upload. Start it at the daemon's start time;
	// zero disables the stall check.
	LastProgress time.Time
}

// Watch is one watch root's condition.
type Watch struct {
	Root     string
	Live     bool      // the root exists and is watched (or polled)
	Reason   string    // why not live, e.g. "stat /srv/drop: no such file or directory"
	LastScan time.Time // when the last full scan of the root finished (zero: none yet)
}

// Status is implemented by the daemon.
type Status interface {
	HealthSnapshot(ctx context.Context) Snapshot
}

// Options are the thresholds; zero values take the defaults.
type Options struct {
	HeartbeatMaxAge time.Duration    // default 30s
	ScanMaxAge      time.Duration    // default 1h; set to ~2x the rescan interval
	StallAfter      time.Duration    // default 30m: non-empty queue without progress
	Now             func() time.Time // default time.Now
}

func (o Options) withDefaults() Options {
	if o.HeartbeatMaxAge <= 0 {
		o.HeartbeatMaxAge = 30 * time.Second
	}
	if o.ScanMaxAge <= 0 {
		o.ScanMaxAge = time.Hour
	}
	if o.StallAfter <= 0 {
		o.StallAfter = 30 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Check is one check's outcome.
type Check struct {
	Name   string `json:"name"`
	Target string `json:"target,omitempty"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
}

// Report is the JSON body of /healthz and /readyz.
type Report struct {
	Status string    `json:"status"` // "ok" or "unhealthy"
	Time   time.Time `json:"time"`
	Checks []Check   `json:"checks"`
}

// OK reports whether every check passed.
func (r Report) OK() bool { return r.Status == "ok" }

// Checker evaluates the daemon's health.
type Checker struct {
	status Status
	opts   Options
}

// NewChecker returns a checker reading s.
func NewChecker(s Status, opts Options) *Checker {
	return &Checker{status: s, opts: opts.withDefaults()}
}

// Alive checks that the event loop's heartbeat is recent.
func (c *Checker) Alive(ctx context.Context) Report {
	now := c.opts.Now()
	snap := c.status.HealthSnapshot(ctx)
	return report(now, []Check{c.heartbeat(now, snap)})
}

// Ready checks the heartbeat, the state store, every watch root (live and
// recently scanned) and that a non-empty queue is making progress.
func (c *Checker) Ready(ctx context.Context) Report {
	now := c.opts.Now()
	snap := c.status.HealthSnapshot(ctx)
	checks := []Check{c.heartbeat(now, snap), stateCheck(snap)}
	for _, w := range snap.Watches {
		checks = append(checks, watchCheck(w), c.scanCheck(now, w))
	}
	checks = append(checks, c.progress(now, snap))
	return report(now, checks)
}

func report(now time.Time, checks []Check) Report {
	r := Report{Status: "ok", Time: now.UTC(), Checks: checks}
	for _, ch := range checks {
		if !ch.OK {
			r.Status = "unhealthy"
		}
	}
	return r
}

func (c *Checker) heartbeat(now time.Time, s Snapshot) Check {
	ch := Check{Name: "heartbeat", OK: true}
	switch age := now.Sub(s.Heartbeat); {
	case s.Heartbeat.IsZero():
		ch.OK, ch.Reason = false, "event loop has not started"
	case age > c.opts.HeartbeatMaxAge:
		ch.OK, ch.Reason = false, fmt.Sprintf("event loop silent for %s (allowed %s)", round(age), c.opts.HeartbeatMaxAge)
	}
	return ch
}

func stateCheck(s Snapshot) Check {
	if !s.StateOpen {
		reason := "state store is not open"
		if s.StateError != "" {
			reason = "state store is not writable: " + s.StateError
		}
		return Check{Name: "state", Reason: reason}
	}
	return Check{Name: "state", OK: true}
}

func watchCheck(w Watch) Check {
	ch := Check{Name: "watch_root", Target: w.Root, OK: w.Live}
	if !w.Live {
		ch.Reason = w.Reason
		if ch.Reason == "" {
			ch.Reason = "watch root is not live"
		}
	}
	return ch
}

func (c *Checker) scanCheck(now time.Time, w Watch) Check {
	ch := Check{Name: "last_scan", Target: w.Root, OK: true}
	switch age := now.Sub(w.LastScan); {
	case w.LastScan.IsZero():
		ch.OK, ch.Reason = false, "no full scan has finished yet"
	case age > c.opts.ScanMaxAge:
		ch.OK, ch.Reason = false, fmt.Sprintf("last full scan %s ago (allowed %s)", round(age), c.opts.ScanMaxAge)
	}
	return ch
}

func (c *Checker) progress(now time.Time, s Snapshot) Check {
	ch := Check{Name: "progress", OK: true}
	if s.QueueDepth == 0 {
		return ch
	}
	if age := now.Sub(s.LastProgress); !s.LastProgress.IsZero() && age > c.opts.StallAfter {
		ch.OK = false
		ch.Reason = fmt.Sprintf("stalled: %d jobs queued and no progress for %s (allowed %s)",
			s.QueueDepth, round(age), c.opts.StallAfter)
	}
	return ch
}

func round(d time.Duration) time.Duration { return d.Round(time.Second) }

// LivenessHandler serves Alive as JSON: 200 when ok, 503 when not.
func (c *Checker) LivenessHandler() http.Handler {
	return reportHandler(c.Alive)
}

// ReadinessHandler serves Ready as JSON: 200 when ok, 503 when not.
func (c *Checker) ReadinessHandler() http.Handler {
	return reportHandler(c.Ready)
}

func reportHandler(f func(context.Context) Report) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rep := f(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		code := http.StatusOK
		if !rep.OK() {
			code = http.StatusServiceUnavailable
		}
		w.WriteHeader(code)
		if r.Method == http.MethodHead {
			return
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep) // the client may be gone; nothing to do
	})
}
