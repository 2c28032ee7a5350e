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
// it had in flight: the most at once, and the mean over the time any was.
type partCounter struct {
	next     http.RoundTripper
	mu       sync.Mutex
	now, top int
	last     time.Time
	area     float64       // integral of now over time, request-seconds
	busy     time.Duration // time with now > 0
}

func (c *partCounter) add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := time.Now()
	if c.now > 0 {
		c.area += float64(c.now) * t.Sub(c.last).Seconds()
		c.busy += t.Sub(c.last)
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

// TestPartsInFlightFollowTheRoundTrip uploads the same file with no added
// latency and with a long round trip on every UploadPart: the uploader
// keeps more parts in flight on the long one, and never more than the cap.
// It asserts the direction only, not numbers. (The round trip is long
// because under -race on a shared machine each part also costs ~0.1 s of
// CPU: a shorter one would not dominate.)
func TestPartsInFlightFollowTheRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 2 x 72 MiB, one at a 1 s round trip")
	}
	const cap, slowRTT = 32, time.Second
	means := map[time.Duration]float64{}
	for _, lat := range []time.Duration{0, slowRTT} {
		counter := &partCounter{next: DefaultTransport()}
		env := newEnv(t, nil, func(c *Config) { c.Transport, c.PartsInFlight = counter, cap })
		env.emu.SetFaults(emulator.FaultConfig{Latency: map[string]time.Duration{"UploadPart": lat}})
		file := writeFile(t, t.TempDir(), "clip.mp4", 72*mib)
		res, err := env.u.Upload(context.Background(), Request{MediaFilePath: file}, nil, nil)
		if err != nil {
			t.Fatalf("latency %s: %v", lat, err)
		}
		assertServed(t, res.MediaURL, file)
		means[lat] = counter.mean()
		if p := counter.peak(); p > cap {
			t.Errorf("latency %s: %d parts in flight, over the cap %d", lat, p, cap)
		}
	}
	fast, slow := means[0], means[slowRTT]
	t.Logf("mean parts in flight: %.1f with no added latency, %.1f at %s", fast, slow, slowRTT)
	if slow <= fast {
		t.Errorf("a %s round trip kept %.1f parts in flight on average, no more than the %.1f with none", slowRTT, slow, fast)
	}
}

// TestBundleFilesInFlightExceedParts: a bundle of small segments at a
// round trip gets more files in flight than the parts cap would allow.
func TestBundleFilesInFlightExceedParts(t *testing.T) {
	counter := &objectCounter{}
	env := newEnv(t, nil, func(c *Config) {
		counter.next = DefaultTransport()
		c.Transport, c.PartsInFlight, c.ObjectsInFlight = counter, 4, 64
	})
	env.emu.SetFaults(emulator.FaultConfig{Latency: map[string]time.Duration{"PutObject": 50 * time.Millisecond}})
	top := writeHLS(t, filepath.Join(t.TempDir(), "hls"), 200, 4<<10)
	if _, err := env.u.Upload(context.Background(), Request{MediaFilePath: top}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if p := counter.peak(); p <= 4 || p > 64 {
		t.Errorf("%d bundle files in flight; want more than the parts cap 4, at most the objects cap 64", p)
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
