package app

import (
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/daemon"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// TestSnapshotConversions: the daemon's snapshot shown to /readyz and to
// systemd's STATUS= line.
func TestSnapshotConversions(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	base := daemon.Snapshot{
		Heartbeat: t0, LastProgress: t0.Add(time.Second), LastUpload: t0.Add(2 * time.Second), StateReadable: true,
		Stages: map[state.Stage]int{state.StageQueued: 3, state.StageUploading: 2, state.StageFailed: 1, state.StageQuarantined: 4, state.StageDone: 9},
		Active: 2, Watches: []daemon.WatchHealth{{Root: "/a", Live: true, LastScan: t0}, {Root: "/b", Reason: "gone"}},
	}
	for _, tc := range []struct {
		name      string
		change    func(*daemon.Snapshot)
		stateOpen bool
		note      string
	}{
		{"healthy", func(*daemon.Snapshot) {}, true, ""},
		{"state refused a write", func(s *daemon.Snapshot) { s.StateError = "disk full" }, false, "state_error"},
		{"state unreadable", func(s *daemon.Snapshot) { s.StateReadable = false }, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			tc.change(&s)
			h := healthSnapshot(s)
			if h.StateOpen != tc.stateOpen || h.QueueDepth != 5 || !h.Heartbeat.Equal(t0) || len(h.Watches) != 2 ||
				h.Watches[1].Root != "/b" || h.Watches[1].Reason != "gone" || !h.Watches[0].Live {
				t.Fatalf("health snapshot %+v", h)
			}
			l := statusLine(s)
			if l.Queue != 3 || l.Active != 2 || l.Failed != 5 || !l.LastUpload.Equal(t0.Add(2*time.Second)) || l.Note != tc.note {
				t.Fatalf("status line %+v", l)
			}
		})
	}
}
