package faultsuite

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vodwatchd/vodwatchd/internal/postaction"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// moveRig is a rig whose media rule moves uploaded files (with covers and
// a sidecar) to <dir>/done.
func moveRig(t *testing.T, workers int) (*rig, string) {
	t.Helper()
	dir := t.TempDir()
	done := filepath.Join(dir, "done")
	r := newRig(t, rigOpts{workers: workers, rules: `    rules:
      - name: media
        match: "**/*.{mp4,mkv}"
        cover: [".jpg"]
        cover_wait: 1s
        after: { action: move, to: ` + done + `, sidecar: true }
`})
	return r, done
}

// TestSharedCoverMovesAfterLastMedia (issue 18 item 10): show.mp4 and
// show.mkv share show.jpg; with action move the first job must not take
// the cover away from the second: both upload with it, and the cover
// moves with the last of them.
func TestSharedCoverMovesAfterLastMedia(t *testing.T) {
	r, done := moveRig(t, 1) // one worker: the first job's post-action runs before the second uploads
	recordRow(t, r, "post-action: cover shared by two media, move", 3, 2, "both with the cover; cover moved last")
	r.write("show.jpg", testutil.Content("cover", 1500))
	r.write("show.mp4", testutil.Content("mp4", 40<<10))
	r.write("show.mkv", testutil.Content("mkv", 40<<10))
	r.start()
	r.eventually(30*time.Second, "both media done and moved", func() bool {
		jobs := r.jobs(state.StageDone)
		n := 0
		for _, j := range jobs {
			if j.Post.State == state.PostDone {
				n++
			}
		}
		return n == 2
	})
	for _, j := range r.jobs() {
		if j.Stage != state.StageDone || j.Cover != "show.jpg" || j.Result.CoverURL == "" {
			t.Errorf("%s: stage %s cover %q cover url %q, want done with show.jpg", j.Key.Rel, j.Stage, j.Cover, j.Result.CoverURL)
		}
	}
	for _, f := range []string{"show.mp4", "show.mkv", "show.jpg"} {
		if _, err := os.Stat(filepath.Join(done, f)); err != nil {
			t.Errorf("%s not in the done folder: %v", f, err)
		}
		if _, err := os.Stat(filepath.Join(r.drop, f)); err == nil {
			t.Errorf("%s still in the drop folder", f)
		}
	}
}

// TestSidecarOfEachMovedFile (issue 18 item 9): the same name moved twice
// into the done folder ends as clip.mp4 and clip (1).mp4, each with its own
// sidecar holding its own FileId.
func TestSidecarOfEachMovedFile(t *testing.T) {
	r, done := moveRig(t, 0)
	recordRow(t, r, "post-action: same name moved twice, sidecars", 2, 2, "each file its own sidecar")
	r.start()
	for i, body := range []string{"first", "second"} {
		r.write("clip.mp4", testutil.Content(body, 30<<10))
		r.eventually(30*time.Second, "clip.mp4 moved", func() bool {
			n := 0
			for _, j := range r.jobs(state.StageDone) {
				if j.Post.State == state.PostDone {
					n++
				}
			}
			return n == i+1
		})
	}
	byFile := map[string]string{}
	for _, j := range r.jobs() {
		byFile[filepath.Base(j.Post.MovedTo)] = j.Result.FileID
	}
	for _, name := range []string{"clip.mp4", "clip (1).mp4"} {
		var got postaction.Result
		b, err := os.ReadFile(filepath.Join(done, name+".vod.json"))
		if err == nil {
			err = json.Unmarshal(b, &got)
		}
		if err != nil || got.FileID == "" || got.FileID != byFile[name] {
			t.Errorf("%s: sidecar FileId %q (%v), want %q", name, got.FileID, err, byFile[name])
		}
	}
}

// TestLongNameSidecar: a 255-byte name whose "<name>.vod.json" cannot exist
// gets a shortened sidecar once (no retry every 30 s), which is not taken
// for media.
func TestLongNameSidecar(t *testing.T) {
	r := newRig(t, rigOpts{rules: `    rules:
      - name: all
        match: "**/*"
        after: { action: keep, sidecar: true }
`})
	recordRow(t, r, "post-action: 255-byte name, sidecar", 1, 1, "shortened sidecar, written once")
	long := strings.Repeat("n", 251) + ".mp4"
	r.write(long, testutil.Content("long", 3000))
	r.start()
	r.eventually(20*time.Second, "the post-action done", func() bool {
		j, ok := r.jobAt(long)
		return ok && j.Post.State == state.PostDone
	})
	j, _ := r.jobAt(long)
	if j.Post.Attempts != 1 || j.Post.Sidecar == "" || !postaction.IsResultSidecar(j.Post.Sidecar) {
		t.Fatalf("post-action %+v: want one attempt and a sidecar", j.Post)
	}
	r.never(2*time.Second, "the sidecar taken for media", func() bool { return len(r.jobs()) != 1 })
}

// TestMoveIntoRootThroughSymlinkNoLoop (issue 18 item 8): a done folder
// whose symlinked ancestor is pointed into the watch root after start
// never feeds moved files back: the move is refused, the file is uploaded
// once.
func TestMoveIntoRootThroughSymlinkNoLoop(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	symlink(t, outside, link)
	r := newRig(t, rigOpts{rules: `    rules:
      - name: all
        match: "**/*"
        after: { action: move, to: ` + filepath.Join(link, "done") + ` }
`})
	recordRow(t, r, "move into the root through a symlink made after start", 1, 1, "move refused, uploaded once")
	r.start()
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	symlink(t, r.drop, link)
	r.write("clip.mp4", testutil.Content("clip", 20<<10))
	r.eventually(20*time.Second, "the move refused", func() bool {
		j, ok := r.jobAt("clip.mp4")
		return ok && strings.Contains(j.Post.LastError, "inside the watch root")
	})
	r.never(3*time.Second, "the file uploaded again", func() bool { return len(r.emulator().Media()) > 1 })
}

// TestMoveInterruptedAfterCopy (issue 18 item 11): a move across
// filesystems whose copy is made but whose source cannot be removed (here
// a read-only bind mount; a SIGKILL at that moment leaves the same disk)
// is completed by the restart from its recorded plan: one copy in the done
// folder, the source gone, no "clip (1).mp4".
func TestMoveInterruptedAfterCopy(t *testing.T) {
	dir := t.TempDir()
	done := filepath.Join(dir, "done")
	r := newRig(t, rigOpts{rules: `    rules:
      - name: all
        match: "**/*"
        after: { action: move, to: ` + done + ` }
`})
	recordRow(t, r, "cross-fs move cut between copy and unlink, restart", 1, 1, "one copy in the done folder")
	sub := filepath.Join(r.drop, "sub")
	body := testutil.Content("clip", 64<<10)
	r.write("sub/clip.mp4", body)
	if err := unix.Mount(sub, sub, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount here (needs CAP_SYS_ADMIN): %v", err)
	}
	mounted := true
	unmount := func() {
		if mounted {
			if err := unix.Unmount(sub, 0); err != nil {
				_ = unix.Unmount(sub, unix.MNT_DETACH)
			}
			mounted = false
		}
	}
	t.Cleanup(unmount)
	if err := unix.Mount("", sub, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount read-only: %v", err)
	}
	r.start()
	r.eventually(20*time.Second, "the move to fail after its copy", func() bool {
		j, ok := r.jobAt("sub/clip.mp4")
		return ok && j.Post.LastError != "" && len(j.Post.Moves) == 1
	})
	if b, err := os.ReadFile(filepath.Join(done, "sub", "clip.mp4")); err != nil || string(b) != string(body) {
		t.Fatalf("the copy is not in the done folder: %v", err)
	}
	r.stop()
	unmount()
	r.start()
	r.eventually(20*time.Second, "the move completed", func() bool {
		j, ok := r.jobAt("sub/clip.mp4")
		return ok && j.Post.State == state.PostDone
	})
	if _, err := os.Stat(filepath.Join(r.drop, "sub", "clip.mp4")); err == nil {
		t.Error("the source is still in the drop folder")
	}
	entries, _ := os.ReadDir(filepath.Join(done, "sub"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "clip.mp4" {
		t.Errorf("done folder holds %v, want only clip.mp4", names)
	}
}
