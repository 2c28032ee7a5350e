package emulator

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/vodwatchd/vodwatchd/internal/emulator/cos"
)

// limiter is a token bucket per action (burst = one second's worth).
type limiter struct {
	perSecond int
	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
}

func newLimiter(perSecond int) *limiter {
	return &limiter{perSecond: perSecond, buckets: map[string]*rate.Limiter{}}
}

func (l *limiter) allow(action string, now time.Time) bool {
	if l.perSecond < 0 {
		return true
	}
	l.mu.Lock()
	b, ok := l.buckets[action]
	if !ok {
		b = rate.NewLimiter(rate.Limit(l.perSecond), l.perSecond)
		l.buckets[action] = b
	}
	l.mu.Unlock()
	return b.AllowN(now, 1)
}

// Stats are the emulator's counters since Start.
type Stats struct {
	Requests map[string]int64 // per VOD action, COS operation, "GetMedia"
	Errors   map[string]int64 // API error codes answered
	Faults   map[string]int64 // injected faults by kind: "error", "throttle", "reset"
	// Signatures counts authenticated API requests by signature method:
	// "TC3-HMAC-SHA256", "HmacSHA256", "HmacSHA1" (legacy v1).
	Signatures map[string]int64
	Applies    int64     // sessions opened by ApplyUpload
	Commits    int64     // successful CommitUpload calls (repeats included)
	COS        cos.Stats // the COS side's own counters (parts per upload id, bytes...)
}

type counters struct {
	mu       sync.Mutex
	requests map[string]int64
	errors   map[string]int64
	faults   map[string]int64
	sigs     map[string]int64
	applies  int64
	commits  int64
}

func newCounters() *counters {
	return &counters{requests: map[string]int64{}, errors: map[string]int64{}, faults: map[string]int64{}, sigs: map[string]int64{}}
}

func (c *counters) request(op string)    { c.add(c.requests, op) }
func (c *counters) apiError(code string) { c.add(c.errors, code) }
func (c *counters) fault(kind string)    { c.add(c.faults, kind) }
func (c *counters) signed(method string) { c.add(c.sigs, method) }

func (c *counters) add(m map[string]int64, k string) {
	c.mu.Lock()
	m[k]++
	c.mu.Unlock()
}

func (c *counters) applied() {
	c.mu.Lock()
	c.applies++
	c.mu.Unlock()
}

func (c *counters) committed() {
	c.mu.Lock()
	c.commits++
	c.mu.Unlock()
}

// Stats returns a copy of the counters.
func (e *Emulator) Stats() Stats {
	c := e.counters
	c.mu.Lock()
	s := Stats{
		Requests: copyMap(c.requests), Errors: copyMap(c.errors), Faults: copyMap(c.faults), Signatures: copyMap(c.sigs),
		Applies: c.applies, Commits: c.commits,
	}
	c.mu.Unlock()
	s.COS = e.cos.Stats()
	return s
}

func copyMap(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
