package throttle

import (
	"math"
	"testing"
	"time"
)

// TestMeter feeds a meter on an injected clock.
func TestMeter(t *testing.T) {
	now := time.Unix(1e9, 0)
	m := NewMeter(func() time.Time { return now })
	if m.Rate() != 0 {
		t.Errorf("empty meter rate %v", m.Rate())
	}
	// 1 MiB/s for 10 s, in 100 ms steps.
	for range 100 {
		now = now.Add(100 * time.Millisecond)
		m.Add(mib / 10)
	}
	if r := m.Rate(); math.Abs(r-mib) > 0.06*mib {
		t.Errorf("steady 1 MiB/s measured %.0f", r)
	}
	// Then 4 MiB/s: after 5 s the window holds only the new rate.
	for range 50 {
		now = now.Add(100 * time.Millisecond)
		m.Add(4 * mib / 10)
	}
	if r := m.Rate(); math.Abs(r-4*mib) > 0.06*4*mib {
		t.Errorf("after 5 s at 4 MiB/s measured %.0f", r)
	}
	// Silence: the rate falls to zero once the window has passed.
	now = now.Add(6 * time.Second)
	if r := m.Rate(); r != 0 {
		t.Errorf("after 6 s of silence: %v", r)
	}
	// A clock stepping back neither panics nor loses the count.
	now = now.Add(-time.Hour)
	m.Add(10)
	if m.Total() != 100*(mib/10)+50*(4*mib/10)+10 {
		t.Errorf("total %d", m.Total())
	}
	// A limiter's meter counts the bytes its bodies pass, limited or not.
	lim := NewLimiter(0)
	if err := lim.wait(nil, 1000); err != nil || lim.Total() != 1000 {
		t.Errorf("unlimited wait: %v, total %d", err, lim.Total())
	}
}
