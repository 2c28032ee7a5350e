package manifest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heapWatch samples the live heap while a call runs, so a test can bound
// what a hostile manifest makes the resolver hold at its peak.
type heapWatch struct {
	base uint64
	peak atomic.Uint64
	stop chan struct{}
	wg   sync.WaitGroup
}

func startHeapWatch() *heapWatch {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w := &heapWatch{base: ms.HeapAlloc, stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > w.peak.Load() {
				w.peak.Store(ms.HeapAlloc)
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// end returns the peak growth of the heap during the call and what is
// still held after a collection.
func (w *heapWatch) end() (peak, left int64) {
	close(w.stop)
	w.wg.Wait()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(w.peak.Load()) - int64(w.base), int64(ms.HeapAlloc) - int64(w.base)
}

// hostileMPD is a DASH manifest whose one SegmentTemplate (duration=1) is
// joined to base over a presentation of hours seconds.
func hostileMPD(base string, hours int) string {
	return fmt.Sprintf(`<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT%dH">
  <BaseURL>%s</BaseURL>
  <Period>
    <AdaptationSet>
      <Representation id="v" bandwidth="1">
        <SegmentTemplate media="s$Number$.m4s" initialization="init.mp4" duration="1" timescale="1"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
`, hours, base)
}

func missingPlaylist(n int) string {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-TARGETDURATION:1\n")
	for i := range n {
		fmt.Fprintf(&b, "#EXTINF:1,\nsegment-%07d.ts\n", i)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return b.String()
}

// TestHostileManifestMemory: a manifest of a few KB that expands to
// gigabytes of reference text (a long BaseURL joined to every segment of a
// long presentation) is refused within a bounded heap, with an error
// naming the file, and leaves nothing behind; so does a playlist of
// 200,000 missing segments.
func TestHostileManifestMemory(t *testing.T) {
	components := strings.Repeat(strings.Repeat("c", 200)+"/", 18)
	cases := []struct {
		name, file, body string
		want             string // in the error text
	}{
		{"BaseURL of 4,000 bytes", "a.mpd", hostileMPD(strings.Repeat("b", 4000)+"/", 60), "a.mpd"},
		{"BaseURL of 20,000 bytes", "b.mpd", hostileMPD(strings.Repeat("b", 20000)+"/", 60), "b.mpd"},
		{"BaseURL of 18 components of 200 bytes", "c.mpd", hostileMPD(components, 50), "MaxRefBytes"},
		{"200,000 missing segments", "d.m3u8", missingPlaylist(200_000), "200000 referenced file(s) missing"},
	}
	const peakBound, leftBound = 160 << 20, 4 << 20
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{tc.file: tc.body})
			if len(tc.body) > 4<<20 && !strings.HasSuffix(tc.file, ".m3u8") {
				t.Fatalf("test manifest of %d bytes is not small", len(tc.body))
			}
			w := startHeapWatch()
			msg := resolveMessage(t, filepath.Join(dir, tc.file))
			peak, left := w.end()
			t.Logf("%s: peak heap +%d MB, left +%d KB: %.200s", tc.name, peak>>20, left>>10, msg)
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, tc.file) {
				t.Errorf("error %.300q does not name %s and %q", msg, tc.file, tc.want)
			}
			if peak > peakBound {
				t.Errorf("resolving %s grew the heap by %d MB at its peak; bound %d MB", tc.file, peak>>20, peakBound>>20)
			}
			if left > leftBound {
				t.Errorf("%d KB still held after the refusal; bound %d KB", left>>10, leftBound>>10)
			}
		})
	}
}

// resolveMessage resolves a manifest that must be refused and returns only
// the error text, so that the error's own data can be collected.
func resolveMessage(t *testing.T, p string) string {
	t.Helper()
	b, err := Resolve(context.Background(), p, Options{})
	if err == nil {
		t.Fatalf("Resolve(%s) = %d files, want a refusal", p, len(b.Files))
	}
	var miss *MissingError
	if !errors.As(err, &miss) && !errors.Is(err, ErrLimit) && !errors.As(err, new(*RefError)) {
		t.Errorf("err = %v (%T), want a limit, a refused reference or missing files", err, err)
	}
	return err.Error()
}

func TestRefBytesLimitIsOption(t *testing.T) {
	dir := writeTree(t, map[string]string{"i.m3u8": missingPlaylist(100)})
	_, err := Resolve(context.Background(), filepath.Join(dir, "i.m3u8"), Options{MaxRefBytes: 500})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "500 bytes") {
		t.Fatalf("err = %v, want the 500-byte MaxRefBytes limit", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

// TestLineEnds: a playlist with CR-only (or mixed) line ends is read line
// by line, never as one line hiding its segments; a playlist that
// references nothing is refused, naming the file.
func TestLineEnds(t *testing.T) {
	for name, body := range map[string]string{
		"cr":    "#EXTM3U\r#EXT-X-TARGETDURATION:2\r#EXTINF:2,\ra.ts\r#EXTINF:2,\rb.ts\r#EXT-X-ENDLIST\r",
		"crlf":  "#EXTM3U\r\n#EXTINF:2,\r\na.ts\r\n#EXTINF:2,\r\nb.ts\r\n",
		"mixed": "#EXTM3U\r\n#EXTINF:2,\ra.ts\n#EXTINF:2,\r\nb.ts",
	} {
		t.Run(name, func(t *testing.T) {
			b, err := resolveTree(t, map[string]string{"i.m3u8": body, "a.ts": "a", "b.ts": "b"}, "i.m3u8")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(rels(b.Files), ","); got != "a.ts,b.ts" {
				t.Fatalf("files %s, want a.ts,b.ts", got)
			}
		})
	}
	_, err := resolveTree(t, map[string]string{"empty.m3u8": "#EXTM3U\n#EXT-X-ENDLIST\n"}, "empty.m3u8")
	if err == nil || !strings.Contains(err.Error(), "empty.m3u8") || !strings.Contains(err.Error(), "references no files") {
		t.Fatalf("err = %v, want a refusal naming empty.m3u8", err)
	}
}
