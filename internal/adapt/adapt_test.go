package adapt

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// pipe is a simulated path: a shared capacity, a per-stream rate cap
// (window/round trip) and a round trip that no byte flows during.
type pipe struct {
	capacity  float64 // bytes/s, shared by the requests sending
	perStream float64 // bytes/s one request can reach
	latency   time.Duration
}

// need is the requests in flight that fill the pipe (Little's law).
func (p pipe) need(size int64) float64 {
	one := p.latency.Seconds() + float64(size)/p.perStream
	return p.capacity * one / float64(size)
}

type simReq struct {
	ticket Ticket
	start  time.Time
	wait   time.Duration // round trip left
	left   float64       // bytes left
}

// sim drives a Controller with a fluid model of requests over a pipe, in
// steps of 1 ms of a fake clock: fully deterministic.
type sim struct {
	t     *testing.T
	c     *Controller
	now   time.Time
	pipe  pipe
	size  int64
	reqs  []*simReq
	rnd   *rand.Rand // round trip jitter, seeded: the same every run
	bytes float64    // delivered
	// per-step observations
	limitSum, steps int
}

func newSim(t *testing.T, cfg Config, p pipe, size int64) *sim {
	s := &sim{t: t, pipe: p, size: size, now: time.Unix(1e9, 0), rnd: rand.New(rand.NewPCG(1, 2))}
	cfg.Now = func() time.Time { return s.now }
	s.c = New(cfg)
	return s
}

// run advances d, filling every free slot at each step, and returns the
// delivery rate over d and the mean limit.
func (s *sim) run(d time.Duration) (rate, meanLimit float64) {
	const dt = time.Millisecond
	s.bytes, s.limitSum, s.steps = 0, 0, 0
	for end := s.now.Add(d); s.now.Before(end); s.now = s.now.Add(dt) {
		for s.c.InFlight() < s.c.Limit() {
			tk, err := s.c.Acquire(context.Background())
			if err != nil {
				s.t.Fatal(err)
			}
			// Round trips vary by +-50% (mean unchanged), so requests do
			// not move in lockstep.
			wait := time.Duration(float64(s.pipe.latency) * (0.5 + s.rnd.Float64()))
			s.reqs = append(s.reqs, &simReq{ticket: tk, start: s.now, wait: wait, left: float64(s.size)})
		}
		s.check()
		sending := 0
		for _, r := range s.reqs {
			if r.wait <= 0 {
				sending++
			}
		}
		each := s.pipe.perStream
		if sending > 0 {
			each = min(each, s.pipe.capacity/float64(sending))
		}
		kept := s.reqs[:0]
		for _, r := range s.reqs {
			if r.wait > 0 {
				r.wait -= dt
				kept = append(kept, r)
				continue
			}
			n := min(r.left, each*dt.Seconds())
			r.left -= n
			s.bytes += n
			if r.left > 1e-9 {
				kept = append(kept, r)
				continue
			}
			s.c.Release(r.ticket, Sample{Bytes: s.size, Start: r.start, End: s.now.Add(dt)})
		}
		s.reqs = kept
		s.limitSum += s.c.Limit()
		s.steps++
	}
	return s.bytes / d.Seconds(), float64(s.limitSum) / float64(s.steps)
}

// check asserts the caps at every step.
func (s *sim) check() {
	s.t.Helper()
	l, in := s.c.Limit(), s.c.InFlight()
	if l < s.c.cfg.Min || l > s.c.cfg.Max || in > s.c.cfg.Max {
		s.t.Fatalf("limit %d, in flight %d outside caps %d..%d", l, in, s.c.cfg.Min, s.c.cfg.Max)
	}
}

const mib = 1 << 20

func TestFillsTheBandwidthDelayProduct(t *testing.T) {
	cases := []struct {
		name string
		pipe pipe
		size int64
	}{
		{"8 MiB parts at 30 ms", pipe{250 * mib, 60 * mib, 30 * time.Millisecond}, 8 * mib},
		{"8 MiB parts at 80 ms", pipe{250 * mib, 60 * mib, 80 * time.Millisecond}, 8 * mib},
		{"8 MiB parts, no latency", pipe{250 * mib, 60 * mib, 0}, 8 * mib},
		{"64 KiB objects at 30 ms", pipe{100 * mib, 20 * mib, 30 * time.Millisecond}, 64 << 10},
		{"1 MiB parts at 300 ms, slow link", pipe{10 * mib, 2 * mib, 300 * time.Millisecond}, mib},
		{"cross-border: 16 MiB parts at 150 ms", pipe{100 * mib, 10 * mib, 150 * time.Millisecond}, 16 * mib},
		{"under a 20 MiB/s bandwidth limit at 30 ms", pipe{20 * mib, 20 * mib, 30 * time.Millisecond}, 8 * mib},
		{"segments under a 5 MiB/s limit at 80 ms", pipe{5 * mib, 5 * mib, 80 * time.Millisecond}, 64 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Config{Max: 512}, tc.pipe, tc.size)
			// Warm up for 120 request durations without queueing (at
			// least 10 s), then measure for 40 more.
			one := time.Duration((tc.pipe.latency.Seconds() + float64(tc.size)/tc.pipe.perStream) * float64(time.Second))
			s.run(max(10*time.Second, 120*one))
			rate, limit := s.run(max(20*time.Second, 40*one))
			need := tc.pipe.need(tc.size)
			if rate < 0.9*tc.pipe.capacity {
				t.Errorf("rate %.1f MiB/s < 0.9 x capacity %.1f MiB/s (mean limit %.1f, need %.1f)",
					rate/mib, tc.pipe.capacity/mib, limit, need)
			}
			if limit > 2.5*need+2 {
				t.Errorf("mean limit %.1f, far over the %.1f requests that fill the pipe", limit, need)
			}
			t.Logf("rate %.2f x capacity, mean limit %.1f, need %.1f", rate/tc.pipe.capacity, limit, need)
		})
	}
}

func TestLatencyChangeMovesTheLimit(t *testing.T) {
	const size = mib
	s := newSim(t, Config{Max: 512}, pipe{100 * mib, 20 * mib, 30 * time.Millisecond}, size)
	s.run(10 * time.Second)
	_, at30 := s.run(5 * time.Second)

	s.pipe.latency = 150 * time.Millisecond
	s.run(10 * time.Second)
	rate150, at150 := s.run(5 * time.Second)
	if at150 <= at30*1.5 {
		t.Fatalf("round trip 30 -> 150 ms: mean limit %.1f -> %.1f, want it to grow", at30, at150)
	}
	if rate150 < 0.85*s.pipe.capacity {
		t.Errorf("at 150 ms the rate is %.2f x capacity", rate150/s.pipe.capacity)
	}

	s.pipe.latency = 30 * time.Millisecond
	s.run(15 * time.Second)
	rate30, back := s.run(5 * time.Second)
	if back >= at150*0.8 {
		t.Fatalf("round trip 150 -> 30 ms: mean limit %.1f -> %.1f, want it to shrink", at150, back)
	}
	if rate30 < 0.85*s.pipe.capacity {
		t.Errorf("back at 30 ms the rate is %.2f x capacity", rate30/s.pipe.capacity)
	}
	t.Logf("mean limit: 30 ms %.1f, 150 ms %.1f, 30 ms again %.1f", at30, at150, back)
}

func TestSmallRequestsGetMoreInFlight(t *testing.T) {
	p := pipe{100 * mib, 20 * mib, 30 * time.Millisecond}
	small := newSim(t, Config{Max: 1024}, p, 64<<10)
	large := newSim(t, Config{Max: 1024}, p, 8*mib)
	small.run(10 * time.Second)
	large.run(10 * time.Second)
	_, ls := small.run(5 * time.Second)
	_, ll := large.run(5 * time.Second)
	if ls < 4*ll {
		t.Fatalf("mean limit for 64 KiB objects %.1f, for 8 MiB parts %.1f: want many more small ones", ls, ll)
	}
}

func TestNeverExceedsItsCaps(t *testing.T) {
	cases := []struct {
		name     string
		cfg      Config
		pipe     pipe
		wantRate float64 // of capacity, at least
	}{
		{"cap below the need", Config{Min: 2, Max: 5}, pipe{100 * mib, 10 * mib, 100 * time.Millisecond}, 0},
		{"min above the need", Config{Min: 6, Max: 8}, pipe{100 * mib, 100 * mib, 0}, 0.9},
		{"cap 1", Config{Max: 1}, pipe{100 * mib, 10 * mib, 10 * time.Millisecond}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, tc.cfg, tc.pipe, mib) // sim.check fails the test at any step outside the caps
			rate, _ := s.run(20 * time.Second)
			if rate < tc.wantRate*tc.pipe.capacity {
				t.Errorf("rate %.2f x capacity", rate/tc.pipe.capacity)
			}
			if p := s.c.Peak(); p > tc.cfg.Max {
				t.Errorf("peak in flight %d > cap %d", p, tc.cfg.Max)
			}
		})
	}
	// The cap binds: as many in flight as allowed when more would help.
	s := newSim(t, Config{Max: 5}, pipe{100 * mib, 10 * mib, 100 * time.Millisecond}, mib)
	s.run(10 * time.Second)
	// (one round in eight probes lower)
	if _, l := s.run(5 * time.Second); l < 4.5 || s.c.Peak() != 5 {
		t.Errorf("mean limit %.1f, peak %d with cap 5 on a pipe that needs %.0f", l, s.c.Peak(), s.pipe.need(mib))
	}
}

func TestThrottledHalvesTheLimit(t *testing.T) {
	now := time.Unix(1e9, 0)
	c := New(Config{Min: 3, Max: 64, Initial: 40, Now: func() time.Time { return now }})
	for _, want := range []int{20, 10, 5, 3, 3} {
		tk, err := c.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		c.Throttle()
		c.Release(tk, Sample{})
		if got := c.Limit(); got != want {
			t.Fatalf("limit after a throttled request: %d, want %d", got, want)
		}
	}
}

func TestFailedRequestsFreeTheirSlotOnly(t *testing.T) {
	c := New(Config{Initial: 4})
	for range 100 {
		tk, err := c.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		c.Release(tk, Sample{}) // failed: no bytes
	}
	if c.Limit() != 4 || c.InFlight() != 0 {
		t.Fatalf("limit %d, in flight %d after failures; want 4, 0", c.Limit(), c.InFlight())
	}
}

func TestAcquireWaitsForASlotAndHonoursCancel(t *testing.T) {
	c := New(Config{Initial: 2, Max: 2})
	var held []Ticket
	for range 2 {
		tk, err := c.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, tk)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("stopped")
	cancel(stop)
	if _, err := c.Acquire(ctx); !errors.Is(err, stop) {
		t.Fatalf("Acquire on a full gate with a cancelled context: %v, want the cause", err)
	}
	var wg sync.WaitGroup
	got := make(chan struct{})
	wg.Go(func() {
		if _, err := c.Acquire(context.Background()); err == nil {
			close(got)
		}
	})
	select {
	case <-got:
		t.Fatal("Acquire returned while the gate was full")
	case <-time.After(20 * time.Millisecond):
	}
	c.Release(held[0], Sample{})
	wg.Wait()
	select {
	case <-got:
	default:
		t.Fatal("Acquire did not return after a Release")
	}
	if c.InFlight() != 2 || c.Peak() != 2 {
		t.Fatalf("in flight %d, peak %d; want 2, 2", c.InFlight(), c.Peak())
	}
}

func TestEstimateReportsThePipe(t *testing.T) {
	p := pipe{100 * mib, 100 * mib, 40 * time.Millisecond}
	s := newSim(t, Config{Max: 256}, p, mib)
	s.run(10 * time.Second)
	rate, d := s.c.Estimate()
	if math.Abs(rate-p.capacity)/p.capacity > 0.15 {
		t.Errorf("capacity estimate %.1f MiB/s, pipe %.1f", rate/mib, p.capacity/mib)
	}
	if d < p.latency || d > 3*p.latency {
		t.Errorf("duration estimate %s for a %s round trip", d, p.latency)
	}
}

// TestTryAcquireNeverWaits: TryAcquire takes free slots up to the limit,
// refuses at once when the gate is full, and counts like Acquire.
func TestTryAcquireNeverWaits(t *testing.T) {
	c := New(Config{Initial: 3, Min: 3, Max: 3})
	var held []Ticket
	for i := range 3 {
		tk, ok := c.TryAcquire()
		if !ok {
			t.Fatalf("TryAcquire %d refused with %d of 3 in flight", i, c.InFlight())
		}
		held = append(held, tk)
	}
	if _, ok := c.TryAcquire(); ok {
		t.Fatal("TryAcquire took a fourth slot of three")
	}
	c.Release(held[0], Sample{})
	if _, ok := c.TryAcquire(); !ok {
		t.Fatal("TryAcquire refused after a Release")
	}
	if c.InFlight() != 3 || c.Peak() != 3 {
		t.Fatalf("in flight %d, peak %d; want 3, 3", c.InFlight(), c.Peak())
	}
}
