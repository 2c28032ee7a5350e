package settle_test

import (
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
	"github.com/vodwatchd/vodwatchd/internal/settle"
)

func TestSnapshot(t *testing.T) {
	s, err := settle.New(settle.Config{Root: t.TempDir(), Window: time.Hour, Out: make(chan settle.Stable, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s.Seen("old.mp4", fileid.ID{Size: 10, ModTime: time.Now().Add(-24 * time.Hour)})
	time.Sleep(2 * time.Millisecond)
	s.Changed("new.mp4")
	got, total := s.Snapshot(10)
	if total != 2 || len(got) != 2 {
		t.Fatalf("snapshot %+v, total %d; want 2 files", got, total)
	}
	if got[0].Rel != "old.mp4" || got[0].Writing || got[1].Rel != "new.mp4" || !got[1].Writing {
		t.Errorf("snapshot %+v: want old.mp4 (settling) then new.mp4 (being written)", got)
	}
	if got, total := s.Snapshot(1); len(got) != 1 || total != 2 || got[0].Rel != "old.mp4" {
		t.Errorf("Snapshot(1) = %+v, %d", got, total)
	}
	s.Removed("old.mp4", false)
	if got, total := s.Snapshot(10); total != 1 || got[0].Rel != "new.mp4" {
		t.Errorf("after Removed: %+v, %d", got, total)
	}
}
