package throttle

import (
	"sync"
	"time"
)

// Meter window: buckets of meterBucket over meterBuckets of them.
const (
	meterBucket  = 250 * time.Millisecond
	meterBuckets = 20 // 5 s
)

// Meter measures a byte rate over a sliding window of the last 5 seconds.
type Meter struct {
	mu      sync.Mutex
	now     func() time.Time
	start   time.Time
	last    int64 // bucket number of the newest bucket
	buckets [meterBuckets]int64
	total   int64
}

// NewMeter returns a meter reading the clock now (time.Now if nil).
func NewMeter(now func() time.Time) *Meter {
	if now == nil {
		now = time.Now
	}
	return &Meter{now: now, start: now()}
}

// Add counts n bytes now.
func (m *Meter) Add(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.advance()
	m.buckets[i%meterBuckets] += n
	m.total += n
}

// Rate returns bytes per second over the window (or since the meter
// started, if that is shorter).
func (m *Meter) Rate() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance()
	var sum int64
	for _, b := range m.buckets {
		sum += b
	}
	elapsed := m.now().Sub(m.start)
	within := elapsed - time.Duration(m.last)*meterBucket // into the newest bucket
	span := min(elapsed, (meterBuckets-1)*meterBucket+within)
	span = max(span, meterBucket) // no wild figures in the first instant
	return float64(sum) / span.Seconds()
}

// Total returns every byte counted.
func (m *Meter) Total() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total
}

// advance zeroes the buckets that passed since the last call and returns
// the current bucket number; m.mu is held.
func (m *Meter) advance() int64 {
	cur := int64(m.now().Sub(m.start) / meterBucket)
	if cur < m.last { // the clock stepped back: keep counting in the newest bucket
		return m.last
	}
	for i := m.last + 1; i <= cur && i <= m.last+meterBuckets; i++ {
		m.buckets[i%meterBuckets] = 0
	}
	m.last = cur
	return cur
}
