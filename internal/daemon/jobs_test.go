package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/daemon"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// TestManyFilesAtOnce drops many small files at once (2,000 with
// VODWATCHD_MANY_FILES=2000): all uploaded, none twice. The default is 250
// to keep the package's -race run short on 2 shared cores; 2,000 took 53 s
// with -race there.
func TestManyFilesAtOnce(t *testing.T) {
	h := startHarnessOf(t, hconf{upload: "workers: 16", settle: "200ms"}, func(c *emulator.Config) { c.APIRateLimit = -1 })
	n := 250
	if v, err := strconv.Atoi(os.Getenv("VODWATCHD_MANY_FILES")); err == nil && v > 0 {
		n = v
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		h.writeFile(fmt.Sprintf("d%02d/f%04d.mp4", i%20, i), testutil.Content(fmt.Sprint(i), 512+i%100))
	}
	h.waitDone(n, time.Duration(n)*90*time.Millisecond+30*time.Second)
	t.Logf("%d files uploaded in %v", n, time.Since(start))
	names := h.mediaNamed()
	if len(names) != n {
		t.Fatalf("emulator has %d distinct media names, want %d", len(names), n)
	}
	for name, c := range names {
		if c != 1 {
			t.Errorf("%s uploaded %d times", name, c)
		}
	}
	if got := h.emu.Stats().Applies; got != int64(n) {
		t.Errorf("%d ApplyUpload sessions, want %d", got, n)
	}
}

// TestFileChangedDuringUpload: a file rewritten while its parts are sent is
// not committed with its old identity; the new version is a new job.
func TestFileChangedDuringUpload(t *testing.T) {
	h := startHarness(t, "", func(c *emulator.Config) {
		c.Faults = emulator.FaultConfig{Latency: map[string]time.Duration{"UploadPart": 300 * time.Millisecond}}
	})
	h.write("big.mp4", 6<<20)
	first := h.waitStage("big.mp4", state.StageUploading, 20*time.Second)
	newer := testutil.Content("newer", 3<<20+5)
	// Rewrite in place (same inode, new size and mtime).
	if err := os.WriteFile(filepath.Join(h.drop, "big.mp4"), newer, 0o644); err != nil {
		t.Fatal(err)
	}
	h.eventually(30*time.Second, "the new version done", func() bool {
		j := h.jobAt("big.mp4")
		return j.ID != first.ID && j.Stage == state.StageDone
	})
	old, err := h.store.Get(context.Background(), first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if old.Stage != state.StageFailed || old.LastError == nil || old.LastError.Code != daemon.CodeFileChanged {
		t.Fatalf("old job: stage %s, error %+v; want failed with %s", old.Stage, old.LastError, daemon.CodeFileChanged)
	}
	media := h.emu.Media()
	if len(media) != 1 {
		t.Fatalf("emulator has %d media, want 1 (only the new version)", len(media))
	}
	if got := fetch(t, media[0].MediaURL); !bytes.Equal(got, newer) {
		t.Fatalf("committed %d bytes, the new version has %d", len(got), len(newer))
	}
}

func TestPostActions(t *testing.T) {
	h := startHarness(t, `    rules:
      - name: move
        match: "move/**"
        after: { action: move, to: $DIR/done, sidecar: true }
      - name: delete
        match: "delete/**"
        after: { action: delete }
      - name: keep
        match: "**/*"
        after: { action: keep, sidecar: true }`)
	h.write("move/a/clip.mp4", 3000)
	h.write("delete/gone.mp4", 3000)
	h.write("keep/stay.mp4", 3000)
	h.waitDone(3, 20*time.Second)
	h.eventually(10*time.Second, "post-actions done", func() bool {
		for _, j := range h.jobs() {
			if j.Post.State != state.PostDone {
				return false
			}
		}
		return true
	})
	done := filepath.Join(h.dir, "done")
	checks := []struct {
		path string
		want bool
	}{
		{filepath.Join(done, "move/a/clip.mp4"), true},
		{filepath.Join(done, "move/a/clip.mp4.vod.json"), true},
		{filepath.Join(h.drop, "move/a/clip.mp4"), false},
		{filepath.Join(h.drop, "delete/gone.mp4"), false},
		{filepath.Join(h.drop, "keep/stay.mp4"), true},
		{filepath.Join(h.drop, "keep/stay.mp4.vod.json"), true},
	}
	for _, c := range checks {
		if exists(c.path) != c.want {
			t.Errorf("%s: exists = %v, want %v", c.path, !c.want, c.want)
		}
	}
	var side struct{ FileId, MediaUrl string }
	b, err := os.ReadFile(filepath.Join(done, "move/a/clip.mp4.vod.json"))
	if err != nil || json.Unmarshal(b, &side) != nil || side.FileId != h.jobAt("move/a/clip.mp4").Result.FileID {
		t.Errorf("sidecar %s: %v, FileId %q", b, err, side.FileId)
	}
	time.Sleep(700 * time.Millisecond)
	if n := len(h.jobs()); n != 3 {
		t.Errorf("%d jobs, want 3: a sidecar is not media", n)
	}
}

// TestQuarantineAndRetry: a job failing every attempt is quarantined with
// <name>.error.json; retry takes it from there once the fault is gone.
func TestQuarantineAndRetry(t *testing.T) {
	h := startHarness(t, `    rules:
      - name: bad-procedure
        match: "bad/**"
        procedure: no-such-flow
        quarantine: { to: $DIR/quarantine }
      - name: all
        match: "**/*"
        quarantine: { to: $DIR/quarantine, after_attempts: 3 }`)
	h.write("bad/clip.mp4", 4000)
	bad := h.waitStage("bad/clip.mp4", state.StageQuarantined, 30*time.Second)
	if bad.Attempts != 1 || bad.LastError == nil || bad.LastError.Code != "ResourceNotFound" {
		t.Errorf("bad: attempts %d, error %+v; want 1 attempt, ResourceNotFound", bad.Attempts, bad.LastError)
	}
	h.emu.SetFaults(emulator.FaultConfig{ErrorRate: map[string]float64{"ApplyUpload": 1}})
	flaky := h.write("flaky/clip.mp4", 4000)
	q := filepath.Join(h.dir, "quarantine")
	j := h.waitStage("flaky/clip.mp4", state.StageQuarantined, 30*time.Second)
	if j.Attempts != 3 || j.LastError == nil || j.LastError.Code != "InternalError" {
		t.Errorf("flaky: attempts %d, error %+v; want 3 attempts, InternalError", j.Attempts, j.LastError)
	}
	for _, rel := range []string{"flaky/clip.mp4", "bad/clip.mp4"} {
		var f struct{ Code string }
		b, err := os.ReadFile(filepath.Join(q, rel+".error.json"))
		if err != nil || json.Unmarshal(b, &f) != nil || f.Code == "" {
			t.Errorf("%s.error.json: %v %s", rel, err, b)
		}
		if !exists(filepath.Join(q, rel)) || exists(filepath.Join(h.drop, rel)) {
			t.Errorf("%s not moved to quarantine", rel)
		}
	}
	if n := len(h.emu.Media()); n != 0 {
		t.Fatalf("%d media before the retry", n)
	}

	h.emu.SetFaults(emulator.FaultConfig{})
	if _, err := h.store.Retry(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	h.poke()
	done := h.waitStage("flaky/clip.mp4", state.StageDone, 20*time.Second)
	if done.ID != j.ID || !bytes.Equal(fetch(t, done.Result.MediaURL), flaky) {
		t.Fatalf("retried job %s: wrong job or bytes", done.ID)
	}
	if n := len(h.emu.Media()); n != 1 {
		t.Fatalf("%d media after the retry, want 1", n)
	}
}
