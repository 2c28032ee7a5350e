// Package adapt decides how many transfers to keep in flight: enough to fill
// the bandwidth-delay product measured as the transfers go, within fixed
// caps.
//
// A Controller is a counting gate (Acquire before a request, Release after
// it) whose limit moves with what the finished requests report: their bytes
// and how long each took. It works in rounds: the first limit's worth of
// requests started in a round are its cohort, and the round ends when they
// have all finished. Each round gives a delivery rate X (bytes / round
// time) and the mean duration D of its cohort. Over the last rounds, the largest X estimates the
// pipe's capacity C and the smallest D the duration of one request without
// queueing (round trip plus sending at the per-stream rate), so
//
//	requests needed in flight = C x Dmin / mean request size
//
// (Little's law: the bandwidth-delay product counted in requests), kept with
// some headroom. The controller starts by doubling the limit each round
// while the rate grows (like TCP's slow start), then holds it at the
// estimate; one round in eight runs below the estimate (to re-measure Dmin
// without the queueing that the headroom adds; while that costs no rate the
// pipe was over-full, and the next round steps down again) and one above
// (to find capacity that appeared). A drop of the rate at the same limit (a longer
// round trip, say) restarts the growth; a throttled request halves the
// limit. Small requests therefore get many more in flight than large ones
// on the same path.
//
// The same Controller serves parts of one large file, the objects of a
// bundle, or whole small jobs of a daemon: anything that sends independent
// requests and can report their size and duration.
package adapt

import (
	"context"
	"math"
	"sync"
	"time"
)

// Config sets a Controller's bounds. Zero values take the defaults.
type Config struct {
	Min     int // never fewer in flight, default 1
	Max     int // never more in flight (the cap), default 64
	Initial int // limit at the start, default min(8, Max)
	// Headroom multiplies the estimated bandwidth-delay product, default
	// and at most 1.4: times the probe-down round's 0.7 it stays below 1,
	// so the limit cannot creep up on its own queueing.
	Headroom float64
	// Now is the clock, default time.Now (tests drive it).
	Now func() time.Time
}

// Sample is what one finished request reports: its bytes and the times of
// its successful attempt. The zero Sample reports a failed request.
type Sample struct {
	Bytes      int64
	Start, End time.Time
}

// history is how many rounds the capacity and duration estimates look
// back; it is also the probing cycle.
const history = 8

// The shape of the probing cycle and of the growth phase.
const (
	probeDownRound = 0    // of each cycle: run at the estimate without headroom
	probeUpRound   = 4    // of each cycle: run above the estimate
	probeUpGain    = 1.25 // limit factor of the probe-up round
	probeDownGain  = 0.7  // limit factor (of the estimate) of the probe-down round
	growthFactor   = 1.25 // a round must beat the best rate by this to keep doubling
	stallRounds    = 2    // rounds without growth that end the doubling
	dropFactor     = 0.7  // a rate below this x capacity counts as a drop
	dropRounds     = 2    // rounds of drop that restart the doubling
	freeFactor     = 0.98 // a probe-down round keeping this x capacity cost nothing
)

// round is one measured round.
type round struct {
	start, end           time.Time
	startBytes, endBytes int64   // delivered bytes at its start and end
	duration             float64 // mean request seconds
	size                 float64 // mean request bytes
}

// rate is the round's delivery rate, bytes per second.
func (r round) rate() float64 { return rate(r.startBytes, r.endBytes, r.start, r.end) }

func rate(b0, b1 int64, t0, t1 time.Time) float64 {
	s := t1.Sub(t0).Seconds()
	if s <= 0 {
		return 0
	}
	return float64(b1-b0) / s
}

// Controller is a gate whose limit adapts. It is safe for concurrent use.
type Controller struct {
	cfg Config

	mu       sync.Mutex
	limit    int
	inFlight int
	peak     int           // highest inFlight seen
	wake     chan struct{} // closed and replaced when a slot may be free

	growing   bool    // doubling phase
	stalls    int     // rounds without growth while doubling
	drops     int     // rounds in a row with a rate drop
	dropRef   float64 // the capacity before the first of them
	cycle     int     // rounds since the doubling ended
	probing   bool    // the round under way is a probe-down round
	probeFrom int     // the limit before it
	rounds    []round
	cur       current
	bytes     int64 // delivered so far
}

// current is the round being measured: its cohort is the first target
// requests started in it, and it ends when they have all finished (a
// cohort chosen by start, so fast and slow requests count alike).
type current struct {
	id         uint64
	start      time.Time
	target     int   // cohort size: the limit when the round started
	startBytes int64 // delivered bytes when it started
	members    int   // requests in the cohort so far
	finished   int   // of them finished
	n          int   // of them finished with a sample
	sized      int64 // their bytes
	dur        float64
}

// Ticket is handed out by Acquire and given back to Release.
type Ticket struct{ round uint64 }

// New returns a Controller.
func New(cfg Config) *Controller {
	if cfg.Max <= 0 {
		cfg.Max = 64
	}
	if cfg.Min <= 0 {
		cfg.Min = 1
	}
	cfg.Min = min(cfg.Min, cfg.Max)
	if cfg.Initial <= 0 {
		cfg.Initial = 8
	}
	cfg.Initial = max(cfg.Min, min(cfg.Initial, cfg.Max))
	if cfg.Headroom < 1 || cfg.Headroom > 1.4 {
		cfg.Headroom = 1.4
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Controller{cfg: cfg, limit: cfg.Initial, wake: make(chan struct{}), growing: true}
	c.startRound(cfg.Now())
	return c
}

// Acquire waits for a slot: fewer requests in flight than the limit. It
// returns ctx's cause when ctx ends first. The Ticket goes back to Release.
func (c *Controller) Acquire(ctx context.Context) (Ticket, error) {
	for {
		c.mu.Lock()
		if t, ok := c.take(); ok {
			c.mu.Unlock()
			return t, nil
		}
		wake := c.wake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return Ticket{}, context.Cause(ctx)
		}
	}
}

// TryAcquire takes a slot if one is free now, for a caller that must not
// wait (a dispatcher going through its queue).
func (c *Controller) TryAcquire() (Ticket, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.take()
}

// take takes a free slot. The caller holds mu.
func (c *Controller) take() (Ticket, bool) {
	if c.inFlight >= c.limit {
		return Ticket{}, false
	}
	c.inFlight++
	c.peak = max(c.peak, c.inFlight)
	var t Ticket
	if c.cur.members < c.cur.target {
		if c.cur.members == 0 {
			// The round starts with its first request: the time
			// before (a caller's setup) is not the pipe's.
			c.cur.start, c.cur.startBytes = c.cfg.Now(), c.bytes
		}
		c.cur.members++
		t.round = c.cur.id
	}
	return t, true
}

// Release frees the slot that t was acquired with. s reports the request;
// a Sample with no Bytes or no times (a failed request) only frees the
// slot.
func (c *Controller) Release(t Ticket, s Sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight--
	defer c.signal()
	valid := s.Bytes > 0 && s.End.After(s.Start)
	if valid {
		c.bytes += s.Bytes
	}
	if t.round == 0 || t.round != c.cur.id {
		return
	}
	c.cur.finished++
	if valid {
		c.cur.n++
		c.cur.sized += s.Bytes
		c.cur.dur += s.End.Sub(s.Start).Seconds()
	}
	if c.cur.members < c.cur.target || c.cur.finished < c.cur.members {
		return
	}
	now := c.cfg.Now()
	if valid {
		now = s.End
	}
	if c.cur.n == 0 {
		c.startRound(now) // every request failed: nothing measured
		return
	}
	c.endRound(now)
}

// Throttle reports that the service asked to slow down (SlowDown, 503,
// RequestLimitExceeded): the limit is halved and the growth stops.
func (c *Controller) Throttle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLimit(c.limit / 2)
	c.growing, c.stalls, c.drops, c.probing = false, 0, 0, false
	c.startRound(c.cfg.Now())
}

// Limit returns the current limit.
func (c *Controller) Limit() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limit
}

// InFlight returns how many slots are taken.
func (c *Controller) InFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inFlight
}

// Peak returns the most slots ever taken at once.
func (c *Controller) Peak() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peak
}

// Estimate returns the last measured capacity (bytes/s) and the shortest
// round's mean request duration; zeros before the first round.
func (c *Controller) Estimate() (rate float64, duration time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	capacity, dmin, _ := c.estimate()
	return capacity, time.Duration(dmin * float64(time.Second))
}

// signal wakes the waiters; the caller holds mu.
func (c *Controller) signal() {
	close(c.wake)
	c.wake = make(chan struct{})
}

func (c *Controller) setLimit(n int) {
	c.limit = max(c.cfg.Min, min(n, c.cfg.Max))
}

func (c *Controller) startRound(now time.Time) {
	c.cur = current{id: c.cur.id + 1, start: now, target: c.limit, startBytes: c.bytes}
}

// estimate returns the capacity (the delivery rate over the kept rounds),
// the shortest mean duration and the mean request size.
func (c *Controller) estimate() (capacity, dmin, size float64) {
	if len(c.rounds) == 0 {
		return 0, 0, 0
	}
	first, last := c.rounds[0], c.rounds[len(c.rounds)-1]
	capacity = rate(first.startBytes, last.endBytes, first.start, last.end)
	for i, r := range c.rounds {
		if i == 0 || r.duration < dmin {
			dmin = r.duration
		}
		size += r.size
	}
	return capacity, dmin, size / float64(len(c.rounds))
}

// endRound measures the round that ends at now and sets the next limit.
func (c *Controller) endRound(now time.Time) {
	r := round{start: c.cur.start, end: now, startBytes: c.cur.startBytes, endBytes: c.bytes,
		duration: c.cur.dur / float64(c.cur.n), size: float64(c.cur.sized) / float64(c.cur.n)}
	best := 0.0
	for _, o := range c.rounds {
		best = max(best, o.rate())
	}
	before, _, _ := c.estimate()
	if c.drops > 0 {
		before = c.dropRef // compare a run of drops with the rate before it
	}
	c.rounds = append(c.rounds, r)
	if len(c.rounds) > history {
		c.rounds = c.rounds[1:]
	}
	capacity, dmin, size := c.estimate()
	bdp := capacity * dmin / size // requests that fill the pipe
	probed := c.probing
	c.probing = false
	switch {
	case c.growing:
		c.grow(r.rate(), best, dmin, size)
	case r.rate() < dropFactor*before && !probed:
		// The rate fell at the limit that filled the pipe (a probe-down
		// round may fall by design): the path changed.
		if c.drops == 0 {
			c.dropRef = before
		}
		c.drops++
		if c.drops >= dropRounds {
			c.rounds = append(c.rounds[:0], r)
			c.growing, c.stalls, c.drops = true, 0, 0
			c.setLimit(c.limit * 2)
			break
		}
		c.steady(bdp, false)
	default:
		c.drops = 0
		// A probe-down round that went lower and kept the rate shows a
		// pipe over-full: keep stepping down.
		free := probed && c.limit < c.probeFrom && r.rate() >= freeFactor*before
		c.steady(bdp, free)
	}
	c.startRound(now)
}

// grow doubles the limit while the rate keeps rising.
func (c *Controller) grow(rate, best, dmin, size float64) {
	if best == 0 || rate >= growthFactor*best {
		c.stalls = 0
		c.setLimit(c.limit * 2)
		if c.limit == c.cfg.Max {
			c.growing, c.cycle = false, history-1 // at the cap: hold it, probe below soon
		}
		return
	}
	c.stalls++
	if c.stalls < stallRounds {
		return
	}
	// The rate stopped rising: the pipe is full. Its capacity is the best
	// round's rate (the average still holds the early, slower rounds). The
	// doubling may have overshot: the next round but one probes below.
	c.growing, c.cycle = false, history-1
	c.setLimit(int(math.Ceil(c.cfg.Headroom * max(best, rate) * dmin / size)))
}

// steady holds the limit at the estimate, probing below and above it once
// per cycle, and below again right after a probe-down that cost nothing.
func (c *Controller) steady(bdp float64, free bool) {
	c.cycle++
	target := c.cfg.Headroom * bdp
	c.probing = free || c.cycle%history == probeDownRound
	switch {
	case c.probing:
		c.probeFrom = c.limit
		target = probeDownGain * bdp
	case c.cycle%history == probeUpRound:
		target = max(target*probeUpGain, target+1)
	}
	c.setLimit(int(math.Ceil(target)))
}
