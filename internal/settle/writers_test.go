package settle_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
	"github.com/vodwatchd/vodwatchd/internal/settle"
)

func TestOpenForWrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		flag int
		want bool
	}{
		{"nobody has it open", -1, false},
		{"open for reading", os.O_RDONLY, false},
		{"open for writing", os.O_WRONLY, true},
		{"open for reading and writing", os.O_RDWR, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.flag >= 0 {
				f, err := os.OpenFile(p, tc.flag, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
			}
			got, err := settle.OpenForWrite(p)
			if err != nil {
				t.Skipf("leases do not work here: %v", err)
			}
			if got != tc.want {
				t.Fatalf("OpenForWrite = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := settle.OpenForWrite(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("OpenForWrite of a missing file: no error")
	}
}

// TestQuietButOpen: a writer that pauses longer than the window while it
// holds the file open does not settle it; closing it does. A file open
// longer than MaxOpenWait is taken anyway.
func TestQuietButOpen(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxOpen  time.Duration
		settleIn time.Duration // expected while still open (0: not before close)
	}{
		{"settles once closed", time.Hour, 0},
		{"max_open_wait ends the wait", 600 * time.Millisecond, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			r := newRig(t, root, false, func(c *settle.Config) {
				c.OpenForWrite, c.MaxOpenWait, c.MarkerPoll = settle.OpenForWrite, tc.maxOpen, 50*time.Millisecond
			})
			p := filepath.Join(root, "clip.mp4")
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte("first half")); err != nil {
				t.Fatal(err)
			}
			if open, err := settle.OpenForWrite(p); err != nil || !open {
				t.Skipf("leases do not work here: %v %v", open, err)
			}
			id, _ := fileid.Lstat(p)
			r.s.Seen("clip.mp4", id)
			select {
			case st := <-r.out:
				if tc.settleIn == 0 {
					t.Fatalf("settled %+v while its writer holds it open", st)
				}
				return
			case <-time.After(750 * time.Millisecond): // 3x the window
				if tc.settleIn == 0 {
					// status shows why it waits: an open writer, not settling.
					files, _ := r.s.Snapshot(10)
					settling, writing, open := r.s.Counts()
					if len(files) != 1 || !files[0].OpenWriter || open != 1 || settling != 0 || writing != 0 {
						t.Fatalf("while held open: snapshot %+v, counts settling %d writing %d open %d; want one open writer",
							files, settling, writing, open)
					}
				}
				if tc.settleIn != 0 {
					select {
					case <-r.out:
						return
					case <-time.After(tc.settleIn):
						t.Fatal("not taken after max_open_wait")
					}
				}
			}
			f.Write([]byte(" and the rest"))
			f.Close()
			id, _ = fileid.Lstat(p)
			r.s.Seen("clip.mp4", id)
			select {
			case st := <-r.out:
				if st.Size != int64(len("first half and the rest")) {
					t.Fatalf("settled with %d bytes, want the whole file", st.Size)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("not settled after its writer closed it")
			}
		})
	}
}
