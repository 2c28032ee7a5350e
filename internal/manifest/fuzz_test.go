package manifest

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func seedFrom(f *testing.F, glob string) {
	files, err := filepath.Glob(filepath.Join("testdata", glob))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds for %s: %v", glob, err)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// fuzzOpts keep every fuzz input cheap.
var fuzzOpts = ParseOptions{MaxBytes: 1 << 20, MaxLineBytes: 4096, MaxSegments: 10_000}

func FuzzHLS(f *testing.F) {
	seedFrom(f, "*/*.m3u8")
	seedFrom(f, "*/*/*.m3u8")
	f.Add([]byte("#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\",KEYFORMAT=\"identity\"\n#EXT-X-STREAM-INF:A=\"x,y\"\nv.m3u8\n"))
	f.Add([]byte("#EXTM3U\r#EXTINF:2,\ra.ts\r\n#EXTINF:2,\rb.ts\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		_ = ParseHLS(bytes.NewReader(data), fuzzOpts, func(r Ref) error {
			n++
			if r.Line <= 0 || strings.ContainsAny(r.URI, "\r\n") {
				t.Fatalf("bad ref %+v", r)
			}
			checkClean(t, r.URI)
			return nil
		})
		if lines := lineCount(data); n > lines {
			t.Fatalf("%d refs from %d lines", n, lines)
		}
	})
}

// lineCount counts lines ended by LF, CRLF or a lone CR.
func lineCount(data []byte) int {
	return bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) - bytes.Count(data, []byte("\r\n")) + 1
}

func FuzzDASH(f *testing.F) {
	seedFrom(f, "*/*.mpd")
	f.Add([]byte(`<MPD mediaPresentationDuration="PT5S"><Period><AdaptationSet><Representation id="a"><SegmentTemplate media="$Time$" timescale="1"><SegmentTimeline><S d="1" r="-1"/></SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period></MPD>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		_ = ParseDASH(bytes.NewReader(data), fuzzOpts, func(r Ref) error {
			n++
			checkClean(t, r.URI)
			return nil
		})
		if n > 3*fuzzOpts.MaxSegments+len(data) {
			t.Fatalf("%d refs: segment budget not enforced", n)
		}
	})
}

// checkClean asserts cleanRef's promise on any reference: what it accepts is
// a clean relative slash path inside the bundle.
func checkClean(t *testing.T, raw string) {
	rel, reason := cleanRef("sub", raw)
	if reason != "" {
		return
	}
	if rel != path.Clean(rel) || strings.HasPrefix(rel, "../") || rel == ".." || path.IsAbs(rel) ||
		strings.ContainsAny(rel, "\\\x00") {
		t.Fatalf("cleanRef(%q) accepted %q", raw, rel)
	}
}

func FuzzCleanRef(f *testing.F) {
	for _, s := range []string{"seg.ts", "../x", "%2e%2e/x", "a/../../b", "http://x", "C:\\x", "a%2fb", "?q", "a/b/c.ts#f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) { checkClean(t, raw) })
}
