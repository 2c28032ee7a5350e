package state

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/hooks"
	"github.com/vodwatchd/vodwatchd/internal/vodoutput"
)

// doneWithProcedure drives a new job to done with FileId fileID, its
// procedure processing and its post-action waiting for ready.
func doneWithProcedure(t *testing.T, s *Store, i int, fileID string) *Job {
	t.Helper()
	j := driveTo(t, s, mustEnqueue(t, s, testKey(i), Attrs{}).ID, StageCommitting)
	j, err := s.Update(context.Background(), j.ID, func(n *Job) error {
		n.Stage, n.Result.FileID = StageDone, fileID
		n.Play = &Play{State: PlayProcessing}
		n.Post = Post{State: PostWaiting, Action: "delete"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestUpdatePlayAppliesEachChangeOnceWithItsHooks(t *testing.T) {
	s := openTest(t, statePath(t), Options{})
	ctx := context.Background()
	j := doneWithProcedure(t, s, 1, "F1")
	other := doneWithProcedure(t, s, 2, "F2")
	mustCheck(t, s)
	if fl, _ := s.Following(ctx); len(fl) != 2 {
		t.Fatalf("following %d jobs, want 2", len(fl))
	}
	if got, _ := s.ByFileID(ctx, "F1"); len(got) != 1 || got[0].ID != j.ID {
		t.Fatalf("ByFileID = %v", got)
	}
	plans := 0
	plan := func(old, next *Job) []hooks.Delivery {
		plans++
		return hooks.Plan([]hooks.Hook{{Name: "cms", On: []string{hooks.OnReady, hooks.OnProcessingFailed}, URL: "http://x"}},
			hooks.Facts{Event: next.DisplayStage(), JobID: next.ID, At: next.Play.Updated})
	}
	steps := []struct {
		u       PlayUpdate
		changed bool
	}{
		{PlayUpdate{State: PlayProcessing, TaskID: "t1", Progress: 40}, true},
		{PlayUpdate{State: PlayProcessing, TaskID: "t1", Progress: 40}, false},
		{PlayUpdate{State: PlayReady, TaskID: "t1", Progress: 100, Outputs: &vodoutput.Outputs{CoverURL: "http://c"}}, true},
		{PlayUpdate{State: PlayReady, TaskID: "t1", Progress: 100}, false},
		{PlayUpdate{State: PlayFailed, Error: &JobError{Code: "X"}}, false},
	}
	for i, st := range steps {
		got, changed, err := s.UpdatePlay(ctx, j.ID, st.u, plan)
		if err != nil || changed != st.changed {
			t.Fatalf("step %d: changed %v err %v, want changed %v", i, changed, err, st.changed)
		}
		if got.Play.State != PlayProcessing && got.Play.State != PlayReady {
			t.Fatalf("step %d: play %+v", i, got.Play)
		}
	}
	got, _ := s.Get(ctx, j.ID)
	if got.DisplayStage() != "ready" || got.Play.Outputs.CoverURL != "http://c" || got.Play.TaskID != "t1" || got.Post.State != PostPending {
		t.Fatalf("job after ready: stage %s play %+v post %+v", got.DisplayStage(), got.Play, got.Post)
	}
	if pend, _ := s.PostPending(ctx); len(pend) != 1 || pend[0].ID != j.ID {
		t.Fatalf("post-action not pending after ready: %v", pend)
	}
	st, _ := s.Outbox().Stats(ctx)
	if st.Pending != 1 || plans != 2 {
		t.Fatalf("outbox %+v after %d plans, want 1 delivery (ready) of 2 changes", st, plans)
	}
	// processing_failed keeps the post-action waiting and records the error.
	f, changed, err := s.UpdatePlay(ctx, other.ID, PlayUpdate{State: PlayFailed, TaskID: "t2", Error: &JobError{Code: "SourceFileError", Message: "broken"}}, plan)
	if err != nil || !changed || f.DisplayStage() != "processing_failed" || f.Play.Error.Code != "SourceFileError" || f.Post.State != PostWaiting {
		t.Fatalf("failed: %v %v %+v", err, changed, f)
	}
	if fl, _ := s.Following(ctx); len(fl) != 0 {
		t.Fatalf("still following %d", len(fl))
	}
	mustCheck(t, s)
	if err := s.Forget(ctx, other.ID, false); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s)
	queued := mustEnqueue(t, s, testKey(3), Attrs{})
	if _, _, err := s.UpdatePlay(ctx, queued.ID, PlayUpdate{State: PlayReady}, nil); !errors.Is(err, ErrTransition) {
		t.Fatalf("a queued job took a play update: %v", err)
	}
	if _, _, err := s.UpdatePlay(ctx, j.ID, PlayUpdate{State: "playable"}, nil); err == nil {
		t.Fatal("an unknown play state was accepted")
	}
}

// TestCompactKeepsPlayAndSparesJobsStillProcessing: a processing job (or
// one whose post-action waits for ready) is not compacted; a ready one
// keeps its play record.
func TestCompactKeepsPlayAndSparesJobsStillProcessing(t *testing.T) {
	c := newClock()
	s := openTest(t, statePath(t), Options{Now: c.now})
	ctx := context.Background()
	processing := doneWithProcedure(t, s, 1, "F1")
	ready := doneWithProcedure(t, s, 2, "F2")
	if _, _, err := s.UpdatePlay(ctx, ready.ID, PlayUpdate{State: PlayReady, Outputs: &vodoutput.Outputs{CoverURL: "http://c"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, ready.ID, func(n *Job) error { n.Post.State = PostDone; return nil }); err != nil {
		t.Fatal(err)
	}
	c.advance(48 * time.Hour)
	if _, err := s.Compact(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	p, _ := s.Get(ctx, processing.ID)
	r, _ := s.Get(ctx, ready.ID)
	if p.Compacted || p.Play.State != PlayProcessing {
		t.Fatalf("processing job compacted: %+v", p)
	}
	if !r.Compacted || r.Play == nil || r.Play.Outputs.CoverURL != "http://c" || r.DisplayStage() != "ready" {
		t.Fatalf("ready job after compaction: compacted %v play %+v", r.Compacted, r.Play)
	}
	mustCheck(t, s)
}
