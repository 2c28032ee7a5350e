package playable

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/follow"
	"github.com/vodwatchd/vodwatchd/internal/hooks"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/vodoutput"
)

type rig struct {
	root  string
	cfg   *config.Config
	store *state.Store
	p     *Playable
	ready []string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "drop")
	os.MkdirAll(root, 0o755)
	t.Setenv("PLAYABLE_TEST_SECRET", "hook-secret")
	text := fmt.Sprintf(`
state: %s/state.db
watch:
  - path: %s
    hooks:
      - {name: cms, on: [ready, processing_failed], url: "http://127.0.0.1:1/hook", secret: "env:PLAYABLE_TEST_SECRET"}
    rules:
      - name: news
        match: "news/**"
        procedure: news-transcode
        sub_app_id: 1500000001
        after: {action: delete, when: ready}
        hooks:
          - {name: ops, on: [done, failed], command: ["/bin/true"]}
      - name: other
        match: "**"
`, dir, root)
	p := filepath.Join(dir, "config.yaml")
	os.WriteFile(p, []byte(text), 0o600)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(cfg.State, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{root: root, cfg: cfg, store: st}
	r.p = New(Options{Store: st, Config: func() *config.Config { return cfg }, Ready: func(id string) { r.ready = append(r.ready, id) }})
	st.SetPlanner(r.p.Plan)
	return r
}

// committed enqueues a job of rule and drives it to committing.
func (r *rig) committed(t *testing.T, rel, rule string) *state.Job {
	t.Helper()
	ctx := context.Background()
	j, _, err := r.store.Enqueue(ctx, state.Key{Root: r.root, Rel: rel, Size: 10, MtimeNs: 1, Ino: uint64(len(rel))}, state.Attrs{Rule: rule, SourceContext: "vodwatchd:" + rel})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []state.Stage{state.StageApplied, state.StageCommitting} {
		if j, err = r.store.Update(ctx, j.ID, func(n *state.Job) error { n.Stage = st; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

func (r *rig) outbox(t *testing.T) []hooks.Delivery {
	t.Helper()
	ds, err := r.store.Outbox().Due(context.Background(), farFuture, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestHooksPlannedOncePerChangeAndFollowStore(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	j := r.committed(t, "news/a.mp4", "news")
	j, err := r.store.Update(ctx, j.ID, func(n *state.Job) error {
		n.Stage, n.Result = state.StageDone, state.Result{FileID: "F1", MediaURL: "http://m/a.mp4"}
		n.Play = &state.Play{State: state.PlayProcessing}
		n.Post = state.Post{State: state.PostWaiting, Action: "delete"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ds := r.outbox(t)
	if len(ds) != 1 || ds[0].Hook != "ops" || ds[0].Facts.Event != hooks.OnDone || ds[0].Facts.FileID != "F1" || ds[0].Facts.Path != filepath.Join(r.root, "news/a.mp4") {
		t.Fatalf("after done: %+v", ds)
	}
	fl, err := r.p.Following(ctx)
	if err == nil && len(fl) == 1 {
		if fl[0].Committed.IsZero() {
			t.Fatal("Following: no commit time (follow.task_wait counts from it)")
		}
		fl[0].Committed = time.Time{}
	}
	if err != nil || len(fl) != 1 || fl[0] != (follow.Job{ID: j.ID, FileID: "F1", SourceContext: "vodwatchd:news/a.mp4", Procedure: "news-transcode", SubAppID: 1500000001}) {
		t.Fatalf("Following = %+v, %v", fl, err)
	}
	if m, _ := r.p.Match(ctx, "F1", ""); len(m) != 1 || m[0].ID != j.ID {
		t.Fatalf("Match = %+v", m)
	}
	if m, _ := r.p.Match(ctx, "someone-else", "x"); len(m) != 0 {
		t.Fatalf("foreign Match = %+v", m)
	}
	pending := r.committed(t, "news/pending.mp4", "news")
	if m, _ := r.p.Match(ctx, "F-new", "vodwatchd:news/pending.mp4"); len(m) != 1 || m[0].ID != pending.ID || m[0].FileID != "" {
		t.Fatalf("Match of a job still committing = %+v", m)
	}
	steps := []follow.Update{
		{Stage: follow.Processing, TaskID: "t1", Progress: 50},
		{Stage: follow.Ready, TaskID: "t1", Progress: 100, Outputs: vodoutput.Outputs{CoverURL: "http://c"}},
		{Stage: follow.Ready, TaskID: "t1", Progress: 100}, // learned again after a restart
		{Stage: follow.Failed, ErrCode: "X"},               // too late: ready stays
	}
	for _, u := range steps {
		if err := r.p.Apply(ctx, j.ID, u); err != nil {
			t.Fatal(err)
		}
	}
	ds = r.outbox(t)
	if len(ds) != 2 || ds[1].Hook != "cms" || ds[1].Facts.Event != hooks.OnReady || ds[1].Facts.Outputs.CoverURL != "http://c" {
		t.Fatalf("after ready: %+v", ds)
	}
	if len(r.ready) != 1 || r.ready[0] != j.ID {
		t.Fatalf("Ready callbacks %v, want once for %s", r.ready, j.ID)
	}
	got, _ := r.store.Get(ctx, j.ID)
	if got.DisplayStage() != "ready" || got.Post.State != state.PostPending {
		t.Fatalf("job %s post %s", got.DisplayStage(), got.Post.State)
	}
	// processing_failed carries the service's error to the hook.
	k := r.committed(t, "news/b.mp4", "news")
	r.store.Update(ctx, k.ID, func(n *state.Job) error {
		n.Stage, n.Result.FileID, n.Play = state.StageDone, "F2", &state.Play{State: state.PlayProcessing}
		return nil
	})
	if err := r.p.Apply(ctx, k.ID, follow.Update{Stage: follow.Failed, TaskID: "t2", ErrCode: "SourceFileError", Message: "bad source"}); err != nil {
		t.Fatal(err)
	}
	ds = r.outbox(t)
	last := ds[len(ds)-1]
	if last.Facts.Event != hooks.OnProcessingFailed || last.Facts.Error != "SourceFileError: bad source" {
		t.Fatalf("processing_failed delivery %+v", last)
	}
	// failed: the job's error; a rule without hooks plans nothing.
	f := r.committed(t, "news/c.mp4", "news")
	r.store.Update(ctx, f.ID, func(n *state.Job) error {
		n.Stage, n.LastError = state.StageFailed, &state.JobError{Code: "InternalError", Message: "boom"}
		return nil
	})
	ds = r.outbox(t)
	if last := ds[len(ds)-1]; last.Facts.Event != hooks.OnFailed || last.Facts.Error != "InternalError: boom" || last.Hook != "ops" {
		t.Fatalf("failed delivery %+v", last)
	}
	// Done and ready at once (no procedure, or a media already followed
	// to its end): both events fire.
	both := r.committed(t, "news/both.mp4", "news")
	r.store.Update(ctx, both.ID, func(n *state.Job) error {
		n.Stage, n.Result.FileID, n.Play = state.StageDone, "F3", &state.Play{State: state.PlayReady}
		return nil
	})
	ds = r.outbox(t)
	last2 := []string{ds[len(ds)-2].Facts.Event, ds[len(ds)-1].Facts.Event}
	sort.Strings(last2)
	if got := strings.Join(last2, ","); got != "done,ready" || ds[len(ds)-1].Facts.JobID != both.ID || ds[len(ds)-2].Facts.JobID != both.ID {
		t.Fatalf("a job done and ready at once fired %s", got)
	}
	n := len(ds)
	o := r.committed(t, "misc/x.mp4", "other")
	r.store.Update(ctx, o.ID, func(n *state.Job) error { n.Stage = state.StageDone; return nil })
	if len(r.outbox(t)) != n {
		t.Fatal("a rule without hooks planned a delivery")
	}
	for _, d := range r.outbox(t) {
		if strings.Contains(fmt.Sprintf("%+v", d), "hook-secret") {
			t.Fatal("a delivery carries the webhook secret")
		}
	}
	if hs := Hooks(r.cfg); len(hs) != 2 || hs[0].Secret != "hook-secret" && hs[1].Secret != "hook-secret" {
		t.Fatalf("Hooks = %d", len(hs))
	}
}

var farFuture = mustTime("2100-01-01T00:00:00Z")
