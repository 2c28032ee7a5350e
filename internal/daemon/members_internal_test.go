package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeAll(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, body := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMemberIndex: membership is found from a manifest at any folder
// above (directly or through nested playlists, "../" included), a cycle
// claims nothing, and the cache stays within its byte budget, reading an
// evicted manifest again when asked.
func TestMemberIndex(t *testing.T) {
	root := t.TempDir()
	var segs strings.Builder
	segs.WriteString("#EXTM3U\n")
	for i := range 200 {
		fmt.Fprintf(&segs, "#EXTINF:1,\nsegment-with-a-longish-name-%04d.ts\n", i)
	}
	writeAll(t, root, map[string]string{
		"show/master.m3u8":                         "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/720/index.m3u8\n",
		"show/v/720/index.m3u8":                    "#EXTM3U\n#EXTINF:1,\n../../seg/a.ts\n",
		"loop/a.m3u8":                              "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nb.m3u8\n",
		"loop/b.m3u8":                              "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n",
		"big1/index.m3u8":                          segs.String(),
		"big2/index.m3u8":                          segs.String(),
		"plain/clip.mp4":                           "x",
		"show/v/720/unlisted.ts":                   "x",
		"show/seg/a.ts":                            "x",
		"big1/segment-with-a-longish-name-0007.ts": "x",
	})
	now := time.Unix(1000, 0)
	m := newMemberIndex(root, func(string) bool { return false }, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return now })
	m.budget = 20 << 10 // one big playlist, not two
	cases := map[string]string{
		"show/v/720/index.m3u8":                    "show/master.m3u8",
		"show/seg/a.ts":                            "show/master.m3u8",
		"big1/segment-with-a-longish-name-0007.ts": "big1/index.m3u8",
		"big2/segment-with-a-longish-name-0199.ts": "big2/index.m3u8",
		"show/v/720/unlisted.ts":                   "",
		"plain/clip.mp4":                           "",
		"show/master.m3u8":                         "",
		"loop/a.m3u8":                              "",
		"loop/b.m3u8":                              "",
	}
	for range 2 { // the second round reads evicted manifests again
		for rel, want := range cases {
			got, ok := m.claimant(rel)
			if got != want || ok != (want != "") {
				t.Errorf("claimant(%s) = %q %v, want %q", rel, got, ok, want)
			}
			if m.used > m.budget {
				t.Fatalf("cache holds %d bytes, budget %d", m.used, m.budget)
			}
		}
		if m.lists["big1/index.m3u8"] != nil && m.lists["big2/index.m3u8"] != nil {
			t.Error("both big playlists cached: nothing was evicted")
		}
		now = now.Add(time.Second)
	}
}
