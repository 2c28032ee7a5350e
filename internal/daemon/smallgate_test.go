package daemon_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// TestSmallFilesInFlightAdapt: small files dropped at once at a long round
// trip (40 ms on every request) run through the adaptive gate: more of them
// at once than workers, never more than small_files_in_flight; with the cap
// at workers the count stays fixed at workers. Every file is uploaded once.
func TestSmallFilesInFlightAdapt(t *testing.T) {
	tests := []struct {
		name          string
		upload        string
		workers, cap  int
		wantMoreThanW bool
	}{
		{"adaptive", "workers: 2\n  small_files_in_flight: 12", 2, 12, true},
		{"fixed at workers", "workers: 2\n  small_files_in_flight: 2", 2, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHarnessOf(t, hconf{upload: tt.upload, settle: "200ms"}, func(c *emulator.Config) {
				c.APIRateLimit = -1
				c.Faults = emulator.FaultConfig{Latency: map[string]time.Duration{"*": 40 * time.Millisecond}}
			})
			const n = 80
			for i := range n {
				h.writeFile(fmt.Sprintf("f%03d.mp4", i), testutil.Content(fmt.Sprint(i), 2048+i))
			}
			var mu sync.Mutex
			peak, peakLimit := 0, 0
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() {
				for ctx.Err() == nil {
					s := h.d.Snapshot(context.Background())
					mu.Lock()
					peak, peakLimit = max(peak, s.Active), max(peakLimit, h.d.SmallLimit())
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			})
			h.waitDone(n, 90*time.Second)
			cancel()
			wg.Wait()
			if peak > tt.cap || peakLimit > tt.cap {
				t.Errorf("%d jobs at once (limit up to %d), cap %d", peak, peakLimit, tt.cap)
			}
			if tt.wantMoreThanW && peak <= tt.workers {
				t.Errorf("at most %d small jobs at once at a 40 ms round trip, want more than workers (%d)", peak, tt.workers)
			}
			if !tt.wantMoreThanW && (peakLimit != 0 || peak > tt.workers) {
				t.Errorf("gate off: %d jobs at once, limit %d; want at most %d and no gate", peak, peakLimit, tt.workers)
			}
			for name, c := range h.mediaNamed() {
				if c != 1 {
					t.Errorf("%s uploaded %d times", name, c)
				}
			}
			t.Logf("peak %d jobs at once, gate limit up to %d", peak, peakLimit)
		})
	}
}

// TestSmallGateLearnsOnlyFromUploads: jobs linked to media already in VOD
// (dedupe) send nothing, so their few milliseconds are not samples of the
// network: a drop of many copies leaves the gate where it started, at
// workers.
func TestSmallGateLearnsOnlyFromUploads(t *testing.T) {
	h := startHarnessOf(t, hconf{upload: "workers: 2\n  small_files_in_flight: 12", settle: "200ms",
		watch: "    rules:\n      - name: all\n        match: \"**/*\"\n        dedupe: true"})
	// Two uploads first: with workers 2 they make the gate's first round
	// (its measured rate may move the limit); then only linked jobs.
	same := testutil.Content("same", 4096)
	h.writeFile("first.mp4", same)
	h.writeFile("second.mp4", testutil.Content("second", 4096))
	h.waitDone(2, 30*time.Second)
	h.eventually(10*time.Second, "the upload's slot released", func() bool {
		return h.d.Snapshot(context.Background()).Active == 0
	})
	start := h.d.SmallLimit()
	const n = 60
	for i := range n {
		h.writeFile(fmt.Sprintf("copies/c%03d.mp4", i), same)
	}
	h.waitDone(n+2, 60*time.Second)
	if got := len(h.emu.Media()); got != 2 {
		t.Fatalf("%d media, want the two uploads (copies linked)", got)
	}
	if got := h.d.SmallLimit(); got != start {
		t.Fatalf("small-file limit %d after %d linked jobs, %d before: linked jobs moved it", got, n, start)
	}
}
