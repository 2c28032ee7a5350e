package daemon_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// TestSmallFileRecords: a small file's job is written queued, committing
// (before its CommitUpload) and done, once each: no record of its session
// (not worth resuming: applied for again after a crash), of the finished
// PUT or of the commit's answer on their own, no certificate file, no
// post-action record for keep. The record before the one remote side
// effect that must never repeat, CommitUpload, is still there.
func TestSmallFileRecords(t *testing.T) {
	h := startHarness(t, "")
	h.write("small.mp4", 100<<10)
	j := h.waitStage("small.mp4", state.StageDone, 30*time.Second)
	var stages []state.Stage
	for _, tr := range j.History {
		stages = append(stages, tr.To)
	}
	want := []state.Stage{state.StageQueued, state.StageCommitting, state.StageDone}
	if len(stages) != len(want) {
		t.Fatalf("history %v, want %v", stages, want)
	}
	for i := range want {
		if stages[i] != want[i] {
			t.Fatalf("history %v, want %v", stages, want)
		}
	}
	if j.Started.IsZero() || j.Started.After(j.Finished) {
		t.Fatalf("started %v, finished %v: the move out of queued must stamp the start (the window a lost commit is searched in)", j.Started, j.Finished)
	}
	if j.Post.State != state.PostDone || j.Result.FileID == "" {
		t.Fatalf("post %+v, result %+v: want the post-action done and the FileId recorded", j.Post, j.Result)
	}
	entries, err := os.ReadDir(h.cfg.State + ".secrets")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("secrets folder holds %d entries after a small file", len(entries))
	}
	var cp uploader.Checkpoint
	if got, err := h.store.Get(context.Background(), j.ID); err != nil || len(got.Checkpoint) == 0 {
		t.Fatalf("done job has no checkpoint: %v", err)
	} else if err := json.Unmarshal(got.Checkpoint, &cp); err != nil || len(cp.Objects) != 1 || !cp.Objects[0].Done {
		t.Fatalf("the committing record does not hold the finished object: %s (%v)", got.Checkpoint, err)
	}
}
