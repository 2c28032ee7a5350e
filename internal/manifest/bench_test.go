package manifest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bigPlaylist is an HLS media playlist of n segments; distinct=false makes
// every segment a byte range of one file.
func bigPlaylist(n int, distinct bool) []byte {
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-TARGETDURATION:1\n")
	for i := 0; i < n; i++ {
		if distinct {
			fmt.Fprintf(&b, "#EXTINF:1.000,\nseg/%07d.ts\n", i)
		} else {
			fmt.Fprintf(&b, "#EXT-X-BYTERANGE:188@%d\nall.ts\n", i*188)
		}
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return b.Bytes()
}

// peakHeap samples HeapAlloc while f runs and returns the peak above the
// starting point.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > base && m.HeapAlloc-base > peak.Load() {
				peak.Store(m.HeapAlloc - base)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	return peak.Load()
}

// A 1,000,000-line playlist (500,000 byte-range segments of one file) is
// resolved from disk with memory that does not grow with the file.
func TestMillionLinePlaylistBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 17 MB playlist; skipped with -short")
	}
	text := bigPlaylist(500_000, false)
	dir := writeTree(t, map[string]string{"all.ts": "x"})
	if err := os.WriteFile(filepath.Join(dir, "index.m3u8"), text, 0o644); err != nil {
		t.Fatal(err)
	}
	text = nil
	var b *Bundle
	var err error
	peak := peakHeap(func() { b, err = Resolve(context.Background(), filepath.Join(dir, "index.m3u8"), Options{}) })
	if err != nil || len(b.Files) != 1 {
		t.Fatalf("Resolve: %v, %d files", err, len(b.Files))
	}
	t.Logf("peak heap above baseline: %d KiB for a 1,000,004-line playlist", peak>>10)
	if peak > 8<<20 {
		t.Errorf("peak heap %d MiB: the playlist is being held in memory", peak>>20)
	}
}

// BenchmarkParseHLSMillion parses a 1,000,000-segment playlist (2,000,004
// lines) with no file system: the parse layer alone.
func BenchmarkParseHLSMillion(b *testing.B) {
	text := bigPlaylist(1_000_000, true)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		n := 0
		p := peakHeap(func() {
			if err := ParseHLS(bytes.NewReader(text), ParseOptions{}, func(Ref) error { n++; return nil }); err != nil {
				b.Fatal(err)
			}
		})
		if n != 1_000_000 {
			b.Fatalf("%d refs", n)
		}
		peak = max(peak, p)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkResolveHLSMillion resolves a 1,000,000-segment playlist through
// the whole resolve layer (validation, de-duplication, stat) over an
// in-memory file system, with MaxFiles raised to fit.
func BenchmarkResolveHLSMillion(b *testing.B) {
	text := string(bigPlaylist(1_000_000, true))
	fsys := newMemFS(map[string]string{"/b/index.m3u8": text})
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		var bundle *Bundle
		var err error
		p := peakHeap(func() {
			bundle, err = resolveWith(context.Background(), fsys, "/b/index.m3u8", Options{MaxFiles: 1_000_000})
		})
		if err != nil || len(bundle.Files) != 1_000_000 {
			b.Fatalf("resolve: %v", err)
		}
		peak = max(peak, p)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}
