// Package throttle shapes vodwatchd's traffic: byte-rate limits on upload
// bodies (shared, scheduled, per watch), rate measurement, and pacing of
// VOD API calls.
package throttle

import (
	"errors"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Chunking: under a limit, a reader takes tokens for at most maxChunk bytes
// at a time, so that many readers interleave in small slices (the token
// bucket serves reservations in arrival order) and none waits behind
// another's whole part. Without one, a read is as large as the reader's
// buffer: a small file's body goes out in one read and one write, not
// eight of each (a limit set meanwhile applies from the next read).
const (
	maxChunk   = 32 << 10
	burstShare = 20 // burst = one twentieth of a second's worth
)

// errClosed is returned by a body whose request ended while it waited.
var errClosed = errors.New("throttle: request body closed while waiting for bandwidth")

// Limiter is a byte-rate limit shared by every body charged to it. Its
// limit can be changed at any time and applies to bodies already being
// read. The zero limit means unlimited. It also measures the rate of the
// bytes it lets through.
type Limiter struct {
	mu      sync.Mutex
	limit   int64
	tb      *rate.Limiter
	chunk   int
	changed chan struct{} // closed and replaced by SetLimit: waiters re-reserve
	meter   *Meter
}

// NewLimiter returns a limiter of bytesPerSecond (0 = unlimited).
func NewLimiter(bytesPerSecond int64) *Limiter {
	l := &Limiter{meter: NewMeter(nil), changed: make(chan struct{})}
	l.set(bytesPerSecond)
	return l
}

// SetLimit changes the limit (bytes per second, 0 = unlimited, negative
// taken as 0). Bodies waiting for tokens re-reserve at the new rate at once.
func (l *Limiter) SetLimit(bytesPerSecond int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if bytesPerSecond == l.limit {
		return
	}
	l.set(bytesPerSecond)
	close(l.changed)
	l.changed = make(chan struct{})
}

// set installs a fresh token bucket; l.mu is held (or l is new).
func (l *Limiter) set(bps int64) {
	l.limit = max(bps, 0)
	if l.limit == 0 {
		l.tb, l.chunk = nil, math.MaxInt
		return
	}
	l.chunk = int(min(max(l.limit/50, 1), maxChunk))
	burst := int(min(max(l.limit/burstShare, int64(l.chunk)), math.MaxInt32))
	l.tb = rate.NewLimiter(rate.Limit(l.limit), burst)
}

// Limit returns the limit in bytes per second (0 = unlimited).
func (l *Limiter) Limit() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

// Rate returns the measured rate of the bytes let through, in bytes per
// second over the last few seconds.
func (l *Limiter) Rate() float64 { return l.meter.Rate() }

// Total returns the bytes let through since the limiter was made.
func (l *Limiter) Total() int64 { return l.meter.Total() }

// chunkSize is the most a body should read before charging this limiter.
func (l *Limiter) chunkSize() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.chunk
}

// wait blocks until n bytes may pass, or done is closed. A limit change
// while waiting cancels the reservation and starts again at the new rate.
func (l *Limiter) wait(done <-chan struct{}, n int) error {
	for n > 0 {
		l.mu.Lock()
		tb, changed := l.tb, l.changed
		if tb == nil {
			l.mu.Unlock()
			break
		}
		take := min(n, tb.Burst())
		now := time.Now()
		r := tb.ReserveN(now, take)
		l.mu.Unlock()
		d := r.DelayFrom(now)
		if d > 0 {
			ok, err := sleep(d, changed, done)
			if err != nil {
				r.Cancel()
				return err
			}
			if !ok {
				continue // the limit changed: reserve again under the new one
			}
		}
		n -= take
		l.meter.Add(int64(take))
	}
	if n > 0 {
		l.meter.Add(int64(n))
	}
	return nil
}

// sleep waits d; it reports false when changed is closed first and an
// error when done is.
func sleep(d time.Duration, changed, done <-chan struct{}) (bool, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true, nil
	case <-changed:
		return false, nil
	case <-done:
		return false, errClosed
	}
}
