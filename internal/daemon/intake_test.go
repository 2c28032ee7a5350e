package daemon_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

func TestCovers(t *testing.T) {
	h := startHarness(t, `    rules:
      - name: video
        match: "**/*.mp4"
        media_name: "{{.Stem}}"
        cover: [".jpg", "-cover.png"]
        cover_wait: 2s`)
	withCover := h.write("a.mp4", 3000)
	coverA := h.write("a.jpg", 700)
	late := h.write("b.mp4", 2000)
	h.write("c.mp4", 1500) // no cover ever
	time.Sleep(900 * time.Millisecond)
	coverB := h.write("b-cover.png", 800) // after b.mp4 settled, within cover_wait
	h.waitDone(3, 20*time.Second)

	media := map[string][]byte{"a": withCover, "b": late}
	covers := map[string][]byte{"a": coverA, "b": coverB}
	for _, m := range h.emu.Media() {
		got := fetch(t, m.MediaURL)
		if want, ok := media[m.Name]; ok && !bytes.Equal(got, want) {
			t.Errorf("%s: media bytes differ", m.Name)
		}
		if want, ok := covers[m.Name]; ok {
			if m.CoverURL == "" {
				t.Errorf("%s: uploaded without its cover", m.Name)
			} else if !bytes.Equal(fetch(t, m.CoverURL), want) {
				t.Errorf("%s: cover bytes differ", m.Name)
			}
		} else if m.CoverURL != "" {
			t.Errorf("%s: has a cover it never had", m.Name)
		}
	}
	if n := h.mediaNamed(); len(n) != 3 || n["a"] != 1 || n["b"] != 1 || n["c"] != 1 {
		t.Errorf("media by name = %v, want a, b, c once each (covers never media)", n)
	}
	if !strings.Contains(h.logs.String(), "no cover arrived in time; uploading without one") {
		t.Errorf("c.mp4 went without a cover but no log line says so")
	}
}

func TestNestedFoldersCreatedAfterStart(t *testing.T) {
	h := startHarness(t, "")
	time.Sleep(200 * time.Millisecond)
	want := map[string][]byte{}
	for _, rel := range []string{"x/y/z/one.mp4", "x/two.mp4", "x/y/three.mp4"} {
		want[rel] = h.write(rel, 4000+len(rel))
		time.Sleep(30 * time.Millisecond)
	}
	for _, j := range h.waitDone(3, 20*time.Second) {
		if !bytes.Equal(fetch(t, j.Result.MediaURL), want[j.Key.Rel]) {
			t.Errorf("%s: bytes differ", j.Key.Rel)
		}
	}
}

func TestFolderMovedInWhole(t *testing.T) {
	h := startHarness(t, "")
	outside := filepath.Join(h.dir, "outside", "show")
	want := map[string][]byte{}
	for i, rel := range []string{"s1/e1.mp4", "s1/e2.mp4", "s2/deep/e3.mp4", "top.mp4"} {
		b := testutil.Content(rel, 2000+i)
		p := filepath.Join(outside, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		want["show/"+rel] = b
	}
	time.Sleep(200 * time.Millisecond)
	if err := os.Rename(outside, filepath.Join(h.drop, "show")); err != nil {
		t.Fatal(err)
	}
	jobs := h.waitDone(len(want), 20*time.Second)
	for _, j := range jobs {
		if !bytes.Equal(fetch(t, j.Result.MediaURL), want[j.Key.Rel]) {
			t.Errorf("%s: bytes differ", j.Key.Rel)
		}
	}
	if n := len(h.emu.Media()); n != len(want) {
		t.Errorf("emulator has %d media, want %d", n, len(want))
	}
}

// TestSlowWriter writes a file in pieces with pauses shorter than the
// settle window: it must be uploaded once, complete.
func TestSlowWriter(t *testing.T) {
	h := startHarness(t, "")
	full := testutil.Content("slow", 3<<20+77)
	p := filepath.Join(h.drop, "slow.mp4")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	const pieces = 12
	step := len(full) / pieces
	for i := 0; i < pieces; i++ {
		end := (i + 1) * step
		if i == pieces-1 {
			end = len(full)
		}
		if _, err := f.Write(full[i*step : end]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond) // half the settle window
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	jobs := h.waitDone(1, 20*time.Second)
	time.Sleep(time.Second) // a premature second job would show up now
	if got := fetch(t, jobs[0].Result.MediaURL); !bytes.Equal(got, full) {
		t.Fatalf("uploaded %d bytes, the final file has %d", len(got), len(full))
	}
	if n := len(h.emu.Media()); n != 1 {
		t.Fatalf("emulator has %d media, want 1", n)
	}
	if n := len(h.jobs()); n != 1 {
		t.Fatalf("%d jobs, want 1", n)
	}
}

func TestTemporaryNameRenamedIntoPlace(t *testing.T) {
	h := startHarness(t, "")
	b := testutil.Content("tmp", 50_000)
	part := filepath.Join(h.drop, "clip.mp4.part")
	if err := os.WriteFile(part, b[:20_000], 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // longer than the settle window: still ignored
	if err := os.WriteFile(part, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(part, filepath.Join(h.drop, "clip.mp4")); err != nil {
		t.Fatal(err)
	}
	jobs := h.waitDone(1, 20*time.Second)
	if jobs[0].Key.Rel != "clip.mp4" || !bytes.Equal(fetch(t, jobs[0].Result.MediaURL), b) {
		t.Fatalf("job %s: wrong file or bytes", jobs[0].Key.Rel)
	}
	if n := h.mediaNamed(); len(n) != 1 || n["clip"] != 1 {
		t.Fatalf("media = %v, want clip once", n)
	}
}

func TestPollMode(t *testing.T) {
	h := startHarnessOf(t, hconf{mode: "poll", extra: "    poll_interval: 200ms"})
	a := h.write("p/one.mp4", 3000)
	jobs := h.waitDone(1, 20*time.Second)
	if !bytes.Equal(fetch(t, jobs[0].Result.MediaURL), a) {
		t.Fatal("bytes differ")
	}
	if !strings.Contains(h.logs.String(), "mode=poll") {
		t.Errorf("log does not say the watch polls")
	}
}

// TestReadyMarker: a file waits for its marker; the marker itself is never
// media, even under a "**/*" rule, and moves with the file.
func TestReadyMarker(t *testing.T) {
	h := startHarness(t, `    rules:
      - name: all
        match: "**/*"
        ready_marker: "{{.Name}}.done"
        after: { action: move, to: $DIR/done }`)
	b := h.write("m/clip.mp4", 5000)
	h.never(1200*time.Millisecond, "a job started before its ready marker existed", func() bool { return len(h.jobs()) > 0 })
	h.write("m/clip.mp4.done", 0)
	j := h.waitStage("m/clip.mp4", state.StageDone, 20*time.Second)
	h.eventually(10*time.Second, "post-action", func() bool { return h.jobAt("m/clip.mp4").Post.State == state.PostDone })
	time.Sleep(800 * time.Millisecond) // a marker taken as media would be queued by now
	if !bytes.Equal(fetch(t, j.Result.MediaURL), b) {
		t.Fatal("bytes differ")
	}
	if n := len(h.jobs()); n != 1 {
		for _, j := range h.jobs() {
			t.Logf("job %s %s", j.Key.Rel, j.Stage)
		}
		t.Fatalf("%d jobs, want 1 (the marker is not media)", n)
	}
	for _, rel := range []string{"m/clip.mp4", "m/clip.mp4.done"} {
		if !exists(filepath.Join(h.dir, "done", rel)) || exists(filepath.Join(h.drop, rel)) {
			t.Errorf("%s was not moved to the done folder", rel)
		}
	}
}
