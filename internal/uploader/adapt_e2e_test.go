package uploader

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
)

// partCounter is a transport that records how many UploadPart requests
// it had in flight: the most at once, and the mean over the time any was
// once from requests had started (the start-up left out).
type partCounter struct {
	next     http.RoundTripper
	from     int
	mu       sync.Mutex
	now, top int
	started  int
	last     time.Time
	area     float64       // integral of now over time, request-seconds
	busy     time.Duration // time with now > 0
}

func (c *partCounter) add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := time.Now()
	if c.now > 0 && c.started > c.from {
		c.area += float64(c.now) * t.Sub(c.last).Seconds()
		c.busy += t.Sub(c.last)
	}
	if d > 0 {
		c.started++
	}
	c.now += d
	c.top = max(c.top, c.now)
	c.last = t
}

func (c *partCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Query().Has("partNumber") {
		c.add(1)
		defer c.add(-1)
	}
	return c.next.RoundTrip(req)
}

func (c *partCounter) peak() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.top
}

func (c *partCounter) mean() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.area / c.busy.Seconds()
}

// TestFilesInFlightFollowTheRoundTrip uploads the same bundle of small
// segments with no added latency and with a long round trip on every
// PutObject: the uploader keeps more files in flight on the long one (mean
// after the start-up), and never more than the cap (the objects' cap, not
// the parts'). It asserts the
// direction only, not numbers. Small files keep the test cheap: their
// time is the round trip, not the CPU of a loaded machine under -race.
func TestFilesInFlightFollowTheRoundTrip(t *testing.T) {
	const cap, slowRTT = 96, 300 * time.Millisecond
	top := writeHLS(t, filepath.Join(t.TempDir(), "hls"), 300, 4<<10)
	means := map[time.Duration]float64{}
	for _, lat := range []time.Duration{0, slowRTT} {
		counter := &objectCounter{partCounter{next: DefaultTransport(), from: 48}} // after the first two rounds (16 + 32)
		env := newEnv(t, nil, func(c *Config) { c.Transport, c.ObjectsInFlight, c.PartsInFlight = counter, cap, 4 })
		env.emu.SetFaults(emulator.FaultConfig{Latency: map[string]time.Duration{"PutObject": lat}})
		if _, err := env.u.Upload(context.Background(), Request{MediaFilePath: top}, nil, nil); err != nil {
			t.Fatalf("latency %s: %v", lat, err)
		}
		means[lat] = counter.mean()
		if p := counter.peak(); p > cap {
			t.Errorf("latency %s: %d files in flight, over the cap %d", lat, p, cap)
		}
		if p := counter.peak(); lat == slowRTT && p <= 4 {
			t.Errorf("at %s only %d files in flight: files are capped by objects_in_flight, not parts_in_flight (4)", lat, p)
		}
	}
	fast, slow := means[0], means[slowRTT]
	t.Logf("mean files in flight after the first 48: %.1f with no added latency, %.1f at %s", fast, slow, slowRTT)
	if slow <= fast {
		t.Errorf("a %s round trip kept %.1f files in flight on average, no more than the %.1f with none", slowRTT, slow, fast)
	}
}

// TestPartsInFlightStayUnderTheCap: at a round trip that would take many
// more, a file's parts in flight never exceed parts_in_flight.
func TestPartsInFlightStayUnderTheCap(t *testing.T) {
	counter := &partCounter{next: DefaultTransport()}
	env := newEnv(t, nil, func(c *Config) { c.Transport, c.PartsInFlight = counter, 3 })
	env.emu.SetFaults(emulator.FaultConfig{Latency: map[string]time.Duration{"UploadPart": 100 * time.Millisecond}})
	file := writeFile(t, t.TempDir(), "clip.mp4", 12*mib)
	res, err := env.u.Upload(context.Background(), Request{MediaFilePath: file}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertServed(t, res.MediaURL, file)
	if p := counter.peak(); p != 3 {
		t.Errorf("%d parts in flight at most; want the cap, 3", p)
	}
}

// objectCounter records the most PUTs of whole objects in flight at once.
type objectCounter struct{ partCounter }

func (c *objectCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && !req.URL.Query().Has("partNumber") {
		c.add(1)
		defer c.add(-1)
	}
	return c.next.RoundTrip(req)
}
