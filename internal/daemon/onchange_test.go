package daemon_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// TestOnChange (issue 11): a file that changes after its upload, per the
// rule's on_change: upload (a second media), ignore (the first media
// stands, nothing uploaded), replace (the new version uploaded, then the
// old media deleted: one media left, with the new bytes).
func TestOnChange(t *testing.T) {
	for _, tc := range []struct {
		onChange   string
		wantMedia  int
		wantNewest bool // the newest media holds the new bytes
	}{
		{"upload", 2, true},
		{"ignore", 1, false},
		{"replace", 1, true},
	} {
		t.Run(tc.onChange, func(t *testing.T) {
			h := startHarness(t, "    rules:\n      - match: \"**/*.mp4\"\n        on_change: "+tc.onChange)
			first := h.write("clip.mp4", 200000)
			old := h.waitDone(1, 30*time.Second)[0]
			newer := testutil.Content("second version", 230000)
			h.writeFile("clip.mp4", newer)
			h.eventually(30*time.Second, "the new version recorded done", func() bool {
				j := h.jobAt("clip.mp4")
				return j.ID != old.ID && j.Stage == state.StageDone && (tc.onChange != "replace" || j.ReplacedOld)
			})
			h.never(time.Second, "a third job", func() bool { return len(h.jobs()) != 2 })
			media := h.emu.Media()
			if len(media) != tc.wantMedia {
				t.Fatalf("%d media, want %d", len(media), tc.wantMedia)
			}
			j := h.jobAt("clip.mp4")
			want := first
			if tc.wantNewest {
				want = newer
			}
			if !bytes.Equal(fetch(t, j.Result.MediaURL), want) {
				t.Fatalf("the media of clip.mp4 now does not hold the expected version")
			}
			if !strings.Contains(h.logs.String(), "file changed after its upload") {
				t.Fatal("the change was not logged")
			}
		})
	}
}
