package faultsuite

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// TestRenameAfterUploadNotUploadedAgain (issue 18, also seen): a file kept
// in the drop folder after its upload and then renamed (twice) is linked
// to its FileId under each new name, never uploaded again.
func TestRenameAfterUploadNotUploadedAgain(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule})
	recordRow(t, r, "rename after upload (keep), twice", 1, 1, "linked to the same FileId")
	r.write("clip.mp4", testutil.Content("clip", 30<<10))
	r.start()
	names := []string{"clip.mp4", "renamed.mp4", "again/clip.mp4"}
	for i, name := range names {
		if i > 0 {
			to := filepath.Join(r.drop, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(r.drop, filepath.FromSlash(names[i-1])), to); err != nil {
				t.Fatal(err)
			}
		}
		r.eventually(20*time.Second, name+" done", func() bool {
			j, ok := r.jobAt(name)
			return ok && j.Stage == state.StageDone
		})
	}
	first, _ := r.jobAt(names[0])
	for _, name := range names[1:] {
		if j, _ := r.jobAt(name); j.Result.FileID != first.Result.FileID {
			t.Errorf("%s: FileId %q, want the first upload's %q", name, j.Result.FileID, first.Result.FileID)
		}
	}
	if n := len(r.emulator().Media()); n != 1 {
		t.Fatalf("%d media in VOD, want 1", n)
	}
}
