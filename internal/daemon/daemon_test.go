package daemon_test

import (
	"bytes"
	"testing"
	"time"
)

func TestSingleFiles(t *testing.T) {
	h := startHarness(t, "")
	small := h.write("a.mp4", 1000)
	big := h.write("nested/deep/b.mp4", 5<<20+123)
	jobs := h.waitDone(2, 30*time.Second)
	want := map[string][]byte{"a.mp4": small, "nested/deep/b.mp4": big}
	for _, j := range jobs {
		if j.Result.FileID == "" {
			t.Fatalf("job %s done without FileId", j.Key.Rel)
		}
		if got := fetch(t, j.Result.MediaURL); !bytes.Equal(got, want[j.Key.Rel]) {
			t.Fatalf("%s: bytes at MediaUrl differ (%d vs %d)", j.Key.Rel, len(got), len(want[j.Key.Rel]))
		}
	}
	if n := len(h.emu.Media()); n != 2 {
		t.Fatalf("emulator has %d media, want 2", n)
	}
}
