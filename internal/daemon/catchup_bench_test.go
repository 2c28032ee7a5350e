package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/crc64x"
	"github.com/vodwatchd/vodwatchd/internal/credentials"
	"github.com/vodwatchd/vodwatchd/internal/daemon"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/fileid"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// BenchmarkCatchUp starts the daemon over a tree of N files that are all
// already uploaded (N done records in the state) and times the start-up
// catch-up scan until it is reconciled; it reports the peak heap growth.
// Targets (issue 5): 100,000 files in under 5 s, under 200 MiB.
// VODWATCHD_CATCHUP_FILES sets N (default 100,000). The tree and the state
// live on tmpfs (/dev/shm) when there is one, so file creation is quick.
func BenchmarkCatchUp(b *testing.B) {
	n := 100_000
	if v := os.Getenv("VODWATCHD_CATCHUP_FILES"); v != "" {
		fmt.Sscan(v, &n)
	}
	base := "/dev/shm"
	if _, err := os.Stat(base); err != nil {
		base = ""
	}
	dir, err := os.MkdirTemp(base, "catchup")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	emu := emulatortest.Start(b)
	cfg := testConfigOf(b, dir, emu, hconf{settle: "1s"})
	root := cfg.Watch[0].Path
	store, err := state.Open(cfg.State, state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	seedDone(b, store, root, n)
	up, err := uploader.New(uploader.Config{Region: "ap-guangzhou", Endpoint: emu.Addr(), Scheme: "http",
		COSEndpoint: emu.Addr(), Credentials: credentials.Static(emu.SecretID(), emu.SecretKey(), "")})
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		took, growth, _ := catchUp(b, cfg, store, up)
		counts, err := store.Stats(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if counts[state.StageDone] != n || counts[state.StageQueued] != 0 || emu.Stats().Applies != 0 {
			b.Fatalf("catch-up queued work: %v, %d ApplyUpload", counts, emu.Stats().Applies)
		}
		b.ReportMetric(took.Seconds(), "catchup-s")
		b.ReportMetric(growth, "peak-heap-MiB")
		fmt.Printf("| catch-up of %d already-uploaded files | %.2f s | peak heap growth %.1f MiB | targets < 5 s, < 200 MiB |\n", n, took.Seconds(), growth)
	}
	store.Close()
}

// catchUp runs a daemon over cfg until its start-up scan is reconciled and
// returns how long that took, the peak heap growth and the bytes that
// identity checks read.
func catchUp(b *testing.B, cfg *config.Config, store *state.Store, up daemon.Uploader) (time.Duration, float64, int64) {
	b.Helper()
	d, err := daemon.New(daemon.Options{Config: cfg, Store: store, Uploader: up,
		Logger: slog.New(slog.NewTextHandler(&discardCounter{}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapInuse
	var peak atomic.Uint64
	stopSampling := sampleHeap(&peak)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- d.Run(ctx) }()
	for d.Snapshot(ctx).Watches[0].LastScan.IsZero() {
		if time.Since(t0) > 5*time.Minute {
			b.Fatal("catch-up scan not finished after 5 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(t0)
	stopSampling()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return took, float64(peak.Load()-min(baseHeap, peak.Load())) / (1 << 20), d.ContentBytesRead()
}

// BenchmarkRemount (issue 11): N files already uploaded come back under
// another device number (the share was mounted again): every record must
// be confirmed by the file's content and adopt the new device, nothing
// uploaded. The same daemon's catch-up over the adopted records (the
// device/inode fast path) is the baseline, measured in the same run.
// Target: 100,000 files in under 60 s. VODWATCHD_CATCHUP_FILES sets N,
// VODWATCHD_REMOUNT_FILE_BYTES each file's size (default 4 KiB).
func BenchmarkRemount(b *testing.B) {
	n, size := 100_000, 4096
	if v := os.Getenv("VODWATCHD_CATCHUP_FILES"); v != "" {
		fmt.Sscan(v, &n)
	}
	if v := os.Getenv("VODWATCHD_REMOUNT_FILE_BYTES"); v != "" {
		fmt.Sscan(v, &size)
	}
	base := "/dev/shm"
	if _, err := os.Stat(base); err != nil {
		base = ""
	}
	for range b.N {
		dir, err := os.MkdirTemp(base, "remount")
		if err != nil {
			b.Fatal(err)
		}
		emu := emulatortest.Start(b)
		cfg := testConfigOf(b, dir, emu, hconf{settle: "1s"})
		store, err := state.Open(cfg.State, state.Options{})
		if err != nil {
			b.Fatal(err)
		}
		seed := func(i int) []byte {
			rel := fmt.Sprintf("d%03d/f%06d.mp4", i/1000, i)
			body := make([]byte, size)
			for k := range body {
				body[k] = rel[k%len(rel)]
			}
			return body
		}
		seedDoneWith(b, store, cfg.Watch[0].Path, n, seed, 1)
		up, err := uploader.New(uploader.Config{Region: "ap-guangzhou", Endpoint: emu.Addr(), Scheme: "http",
			COSEndpoint: emu.Addr(), Credentials: credentials.Static(emu.SecretID(), emu.SecretKey(), "")})
		if err != nil {
			b.Fatal(err)
		}
		remount, heap, read := catchUp(b, cfg, store, up)
		fast, _, _ := catchUp(b, cfg, store, up)
		counts, err := store.Stats(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if counts[state.StageDone] != n || len(counts) > 0 && counts[state.StageQueued] != 0 || emu.Stats().Applies != 0 {
			b.Fatalf("the remount queued work: %v, %d ApplyUpload", counts, emu.Stats().Applies)
		}
		b.ReportMetric(remount.Seconds(), "remount-s")
		b.ReportMetric(float64(read)/(1<<20), "read-MiB")
		fmt.Printf("| remount of %d done files of %d B | %.2f s (%.1fx the fast-path catch-up's %.2f s) | read %.1f MiB (every file once) | peak heap growth %.1f MiB | 0 uploads | target < 60 s |\n",
			n, size, remount.Seconds(), remount.Seconds()/fast.Seconds(), fast.Seconds(), float64(read)/(1<<20), heap)
		store.Close()
		os.RemoveAll(dir)
	}
}

// seedDone writes n files under root and a done job for each.
func seedDone(b *testing.B, store *state.Store, root string, n int) {
	seedDoneWith(b, store, root, n, nil, 0)
}

// seedDoneWith writes n files under root (body(i), or the path's name when
// nil) and a done job for each with the file's content, recorded under the
// device number plus devShift (a shift: as if it was uploaded before a
// remount).
func seedDoneWith(b *testing.B, store *state.Store, root string, n int, body func(int) []byte, devShift uint64) {
	b.Helper()
	const perDir = 1000
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	next := atomic.Int64{}
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := seedOne(store, root, i, perDir, body, devShift); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

func seedOne(store *state.Store, root string, i, perDir int, body func(int) []byte, devShift uint64) error {
	rel := fmt.Sprintf("d%03d/f%06d.mp4", i/perDir, i)
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	data := []byte(rel)
	if body != nil {
		data = body(i)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	key := state.Key{Root: root, Rel: rel, Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), Dev: uint64(st.Dev) + devShift, Ino: st.Ino}
	ctx := context.Background()
	j, _, err := store.Enqueue(ctx, key, state.Attrs{Rule: "all"})
	if err != nil {
		return err
	}
	_, err = store.Update(ctx, j.ID, func(n *state.Job) error {
		n.Stage, n.Result = state.StageDone, state.Result{FileID: fmt.Sprint(5285890000000000000 + i),
			Content: string(fileid.ContentOf(crc64x.Checksum(data)))}
		n.Post = state.Post{State: state.PostDone, Action: "keep"}
		return nil
	})
	return err
}

// sampleHeap records the highest HeapInuse until the returned func is
// called.
func sampleHeap(peak *atomic.Uint64) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(stop); wg.Wait() }
}

// discardCounter drops log output (the catch-up must not be measured
// through a log buffer).
type discardCounter struct{ n atomic.Int64 }

func (d *discardCounter) Write(p []byte) (int, error) { d.n.Add(int64(len(p))); return len(p), nil }
