package watcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkFullScan100k times one full scan of 100,000 files in 100
// folders (on tmpfs when there is one, so it measures the scan, not the
// disk), with a consumer that drains the events.
//
//	go test -run '^$' -bench FullScan -benchtime 5x ./internal/watcher
func BenchmarkFullScan100k(b *testing.B) {
	const dirs, per = 100, 1000
	root := benchTree(b, dirs, per)
	out := make(chan Event, 1024)
	w, err := New(Config{Root: root, Out: out, Mode: ModePoll})
	if err != nil {
		b.Fatal(err)
	}
	w.noteRoot()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan int)
	go func() {
		n := 0
		for ev := range out {
			switch ev.Kind {
			case Scanned:
				n++
			case ScanDone:
				got <- n
				n = 0
			}
		}
	}()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := w.fullScan(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
		if n := <-got; n != dirs*per {
			b.Fatalf("scanned %d files, want %d", n, dirs*per)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	per1 := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per1.Milliseconds()), "ms/scan")
	b.ReportMetric(float64(dirs*per)/per1.Seconds(), "files/s")
	b.ReportMetric(float64(ms.TotalAlloc-before)/float64(b.N)/(1<<20), "MiB-alloc/scan")
	close(out)
}

func benchTree(b *testing.B, dirs, per int) string {
	b.Helper()
	root := b.TempDir()
	if fs, err := DetectFS("/dev/shm"); err == nil && fs.Name == "tmpfs" {
		if dir, err := os.MkdirTemp("/dev/shm", "vodwatchd-bench-"); err == nil {
			b.Cleanup(func() { os.RemoveAll(dir) })
			root = dir
		}
	}
	for d := 0; d < dirs; d++ {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", d))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < per; i++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.mp4", i)), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	return root
}
