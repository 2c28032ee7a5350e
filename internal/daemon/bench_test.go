package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/credentials"
	"github.com/vodwatchd/vodwatchd/internal/daemon"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// benchFiles is how many files BenchmarkDrop drops (VODWATCHD_BENCH_FILES,
// default 2,000).
func benchFiles() int {
	if v, err := strconv.Atoi(os.Getenv("VODWATCHD_BENCH_FILES")); err == nil && v > 0 {
		return v
	}
	return 2000
}

// BenchmarkDrop drops N files of 256 KiB at once (a folder moved into the
// drop folder) and times until all are committed, against an SDK-style
// baseline that uploads the same files one after another (ApplyUpload ->
// PutObject -> CommitUpload each, one part in flight) against the same
// emulator, with no added latency and with 30 ms per request.
func BenchmarkDrop(b *testing.B) {
	for _, lat := range []time.Duration{0, 30 * time.Millisecond} {
		b.Run("latency="+lat.String(), func(b *testing.B) {
			for range b.N {
				benchDrop(b, lat, benchFiles())
			}
		})
	}
}

func benchDrop(b *testing.B, lat time.Duration, n int) {
	h := newHarness(b, hconf{upload: "workers: 16", settle: "1s"}, func(c *emulator.Config) {
		c.Latency, c.APIRateLimit = lat, -1
	})
	h.logLevel = slog.LevelInfo
	stage := filepath.Join(h.dir, "stage", "batch")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		b.Fatal(err)
	}
	var paths []string
	for i := range n {
		p := filepath.Join(stage, fmt.Sprintf("f%05d.mp4", i))
		if err := os.WriteFile(p, testutil.Content(p, 256<<10), 0o644); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
	}
	// Baseline first: the emulator's own cost grows with what it holds, so
	// the daemon runs second, against the fuller emulator.
	up, err := uploader.New(uploader.Config{Region: "ap-guangzhou", Endpoint: h.emu.Addr(), Scheme: "http",
		COSEndpoint: h.emu.Addr(), COSScheme: "http", PartsInFlight: 1,
		Credentials: credentials.Static(h.emu.SecretID(), h.emu.SecretKey(), "")})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	t0 := time.Now()
	for _, p := range paths {
		if _, err := up.Upload(context.Background(), uploader.Request{MediaFilePath: p, MediaName: "base " + filepath.Base(p)}, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	base := time.Since(t0)

	h.start(h.cfg)
	time.Sleep(300 * time.Millisecond) // the daemon is up and idle
	t1 := time.Now()
	if err := os.Rename(stage, filepath.Join(h.drop, "batch")); err != nil {
		b.Fatal(err)
	}
	for {
		counts, err := h.store.Stats(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if counts[state.StageDone] >= n {
			break
		}
		if time.Since(t1) > 30*time.Minute {
			b.Fatalf("%d of %d done after 30m", counts[state.StageDone], n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ours := time.Since(t1)
	b.StopTimer()
	h.stop()
	if got := len(h.emu.Media()); got != 2*n {
		b.Fatalf("emulator has %d media, want %d", got, 2*n)
	}
	mb := float64(n) * 256 / 1024
	b.ReportMetric(base.Seconds(), "baseline-s")
	b.ReportMetric(ours.Seconds(), "daemon-s")
	b.ReportMetric(base.Seconds()/ours.Seconds(), "speedup")
	fmt.Printf("| %d x 256 KiB | latency %-5v | SDK-style one after another %7.1f s (%6.1f MiB/s) | vodwatchd (1 s settle incl.) %6.1f s (%6.1f MiB/s) | %4.1fx |\n",
		n, lat, base.Seconds(), mb/base.Seconds(), ours.Seconds(), mb/ours.Seconds(), base.Seconds()/ours.Seconds())
}

// startRecorder notes when each upload starts.
type startRecorder struct {
	daemon.Uploader
	mu     sync.Mutex
	starts map[string]time.Time
}

func (r *startRecorder) Upload(ctx context.Context, req uploader.Request, cp *uploader.Checkpoint, p uploader.Progress) (uploader.Result, error) {
	r.mu.Lock()
	if _, ok := r.starts[req.MediaFilePath]; !ok {
		r.starts[req.MediaFilePath] = time.Now()
	}
	r.mu.Unlock()
	return r.Uploader.Upload(ctx, req, cp, p)
}

// BenchmarkSettleLatency measures the time from a file's last write to the
// start of its upload (target: median at most the settle window + 250 ms).
func BenchmarkSettleLatency(b *testing.B) {
	const window = time.Second
	const files = 20
	for range b.N {
		h := newHarness(b, hconf{settle: window.String()})
		rec := &startRecorder{starts: map[string]time.Time{}}
		h.wrap = func(u daemon.Uploader) daemon.Uploader { rec.Uploader = u; return rec }
		h.start(h.cfg)
		time.Sleep(300 * time.Millisecond)
		written := map[string]time.Time{}
		for i := range files {
			p := filepath.Join(h.drop, fmt.Sprintf("lat%02d.mp4", i))
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			for k := 0; k < 4; k++ { // written in pieces
				if k > 0 {
					time.Sleep(20 * time.Millisecond)
				}
				if _, err := f.Write(testutil.Content(fmt.Sprint(i, k), 64<<10)); err != nil {
					b.Fatal(err)
				}
			}
			f.Close()
			written[p] = time.Now()
			time.Sleep(150 * time.Millisecond)
		}
		h.waitDone(files, 60*time.Second)
		h.stop()
		var lats []time.Duration
		for p, w := range written {
			lats = append(lats, rec.starts[p].Sub(w))
		}
		sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
		med, worst := lats[len(lats)/2], lats[len(lats)-1]
		b.ReportMetric(float64(med.Milliseconds()), "median-ms")
		b.ReportMetric(float64(worst.Milliseconds()), "max-ms")
		fmt.Printf("| last write -> upload start | settle %v | median %v | max %v | target <= %v |\n",
			window, med.Round(time.Millisecond), worst.Round(time.Millisecond), window+250*time.Millisecond)
	}
}
