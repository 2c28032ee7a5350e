package daemon_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/daemon"
)

// TestWaitingIsVisible: files that are not jobs yet are listed with what
// they wait for (a cover, a ready marker, a bundle's missing files, the
// settle window), counted by reason for the metrics, and a bundle that
// waits long is logged with its missing files.
func TestWaitingIsVisible(t *testing.T) {
	h := startHarnessOf(t, hconf{settle: "300ms", watch: `    rules:
      - name: hls
        match: "**/*.m3u8"
        bundle_timeout: 4s
      - name: marked
        match: "marked/*.mp4"
        ready_marker: "{{.Name}}.done"
      - name: covered
        match: "covered/*.mp4"
        cover: [".jpg"]
        cover_wait: 1m
      - name: all
        match: "**/*.mp4"`})
	h.write("covered/clip.mp4", 1000)
	h.write("marked/clip.mp4", 1000)
	h.writeFile("show/index.m3u8", []byte("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg0.ts\n#EXTINF:4,\nseg1.ts\n#EXTINF:4,\nseg2.ts\n#EXT-X-ENDLIST\n"))
	h.write("show/seg0.ts", 100)

	want := map[string]string{"covered/clip.mp4": daemon.WaitCover, "marked/clip.mp4": daemon.WaitMarker, "show/index.m3u8": daemon.WaitBundle}
	var got map[string]daemon.Waiting
	h.eventually(10*time.Second, "cover, marker and bundle waits listed", func() bool {
		list, _ := h.d.Waiting()
		got = map[string]daemon.Waiting{}
		for _, w := range list {
			got[w.Rel] = w
		}
		for rel, reason := range want {
			if got[rel].Reason != reason {
				return false
			}
		}
		return true
	})
	if w := got["marked/clip.mp4"]; w.Detail != "marked/clip.mp4.done" || w.Root != h.drop {
		t.Errorf("marker wait %+v", w)
	}
	b := got["show/index.m3u8"]
	if b.NMissing != 2 || strings.Join(b.Missing, ",") != "show/seg1.ts,show/seg2.ts" || b.Since.IsZero() {
		t.Errorf("bundle wait %+v, want 2 missing: show/seg1.ts, show/seg2.ts", b)
	}
	if _, counts := h.d.Waiting(); counts[daemon.WaitCover] != 1 || counts[daemon.WaitMarker] != 1 || counts[daemon.WaitBundle] != 1 || counts[daemon.WaitQuietFolder] != 0 {
		t.Errorf("counts %v", counts)
	}

	// A file being written shows as such before it settles.
	h.write("fresh.mp4", 10)
	h.eventually(5*time.Second, "fresh.mp4 listed as settling or being written", func() bool {
		list, _ := h.d.Waiting()
		for _, w := range list {
			if w.Rel == "fresh.mp4" && (w.Reason == daemon.WaitWriting || w.Reason == daemon.WaitSettling) {
				return true
			}
		}
		return false
	})

	// Half the bundle_timeout later: one info line naming the missing files.
	h.eventually(10*time.Second, "the long bundle wait logged", func() bool {
		return strings.Contains(h.logs.String(), `msg="bundle still incomplete"`)
	})
	logs := h.logs.String()
	if n := strings.Count(logs, `msg="bundle still incomplete"`); n != 1 || !strings.Contains(logs, "missing=2") ||
		!strings.Contains(logs, "show/seg1.ts") {
		t.Errorf("%d long-wait lines; want one naming 2 missing files:\n%s", n, logs)
	}

	// Completed, the bundle becomes a job and leaves the list.
	h.write("show/seg1.ts", 100)
	h.write("show/seg2.ts", 100)
	h.eventually(10*time.Second, "the completed bundle no longer waiting", func() bool {
		list, _ := h.d.Waiting()
		for _, w := range list {
			if w.Rel == "show/index.m3u8" {
				return false
			}
		}
		return true
	})
}
