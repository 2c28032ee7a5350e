package daemon_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/settle"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// TestPausingWriter (issue 11): a writer holds the file open and pauses
// three settle windows in the middle (head -c; sleep; tail -c >>): the
// file is not taken while it is open, and one media with every byte is
// committed.
func TestPausingWriter(t *testing.T) {
	h := startHarnessOf(t, hconf{})
	data := testutil.Content("pausing", 600000)
	p := filepath.Join(h.drop, "x.mp4")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data[:400000]); err != nil {
		t.Fatal(err)
	}
	if open, err := settle.OpenForWrite(p); err != nil || !open {
		t.Skipf("file leases do not work here (%v, %v): the open-writer check cannot run", open, err)
	}
	h.never(3*300*time.Millisecond+200*time.Millisecond, "a job while the writer holds the file open", func() bool {
		return len(h.jobs()) > 0
	})
	if _, err := f.Write(data[400000:]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	h.waitDone(1, 30*time.Second)
	h.never(time.Second, "a second job", func() bool { return len(h.jobs()) != 1 })
	if n := len(h.emu.Media()); n != 1 {
		t.Fatalf("%d media, want 1", n)
	}
	if !bytes.Equal(fetch(t, h.jobAt("x.mp4").Result.MediaURL), data) {
		t.Fatal("the media is not the whole file")
	}
	if j := h.jobAt("x.mp4"); j.Stage != state.StageDone {
		t.Fatalf("job %s", j.Stage)
	}
}
