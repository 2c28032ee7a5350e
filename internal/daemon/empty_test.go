package daemon_test

import (
	"strings"
	"testing"
	"time"
)

// TestZeroByteFiles: an empty file is refused with a reason in the log
// (once, though every scan sees it again) unless its rule says
// allow_empty: true; a file that matches such a rule is uploaded.
func TestZeroByteFiles(t *testing.T) {
	h := startHarness(t, `    rescan_interval: 200ms
    rules:
      - name: allowed
        match: "ok/**"
        allow_empty: true
      - name: all
        match: "**/*"`)
	h.writeFile("placeholder.mp4", nil)
	h.writeFile("ok/empty.mp4", nil)
	h.write("real.mp4", 1000)
	jobs := h.waitDone(2, 30*time.Second)
	got := map[string]bool{}
	for _, j := range jobs {
		got[j.Key.Rel] = true
	}
	if !got["ok/empty.mp4"] || !got["real.mp4"] {
		t.Fatalf("done jobs %v, want ok/empty.mp4 and real.mp4", got)
	}
	h.never(time.Second, "a job for the zero-byte placeholder.mp4", func() bool {
		for _, j := range h.jobs() {
			if j.Key.Rel == "placeholder.mp4" {
				return true
			}
		}
		return false
	})
	logs := h.logs.String()
	if n := strings.Count(logs, "zero-byte file (set allow_empty: true"); n != 1 {
		t.Errorf("%d log lines refusing placeholder.mp4 (rescans every 200ms), want exactly 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"path":"placeholder.mp4"`) && !strings.Contains(logs, "path=placeholder.mp4") {
		t.Errorf("the refusal does not name placeholder.mp4:\n%s", logs)
	}
}

// TestOwnSidecarsAreNotJobs: a quarantined file dropped back with its
// .error.json, and a kept file with its .vod.json, are one job each under
// a catch-all rule; the sidecars are not uploaded.
func TestOwnSidecarsAreNotJobs(t *testing.T) {
	h := startHarness(t, "")
	h.write("back/clip.mp4", 1000)
	h.writeFile("back/clip.mp4.error.json", []byte(`{"Code":"InternalError"}`))
	h.write("kept.mp4", 1000)
	h.writeFile("kept.mp4.vod.json", []byte(`{"FileId":"1"}`))
	h.waitDone(2, 30*time.Second)
	h.never(time.Second, "a job for a sidecar", func() bool {
		for _, j := range h.jobs() {
			if strings.HasSuffix(j.Key.Rel, ".json") {
				return true
			}
		}
		return false
	})
}
