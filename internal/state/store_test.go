package state

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEnqueueIsIdempotent(t *testing.T) {
	s := openTest(t, statePath(t), Options{})
	ctx := context.Background()
	k := testKey(1)
	a, created, err := s.Enqueue(ctx, k, Attrs{Rule: "news", MediaName: "clip"})
	if err != nil || !created {
		t.Fatalf("first Enqueue: created=%v err=%v", created, err)
	}
	mustCheck(t, s)
	b, created, err := s.Enqueue(ctx, k, Attrs{Rule: "other"})
	if err != nil || created {
		t.Fatalf("second Enqueue: created=%v err=%v, want existing job", created, err)
	}
	if a.ID != b.ID || b.Rule != "news" || a.ID != k.ID() || len(a.ID) != 16 {
		t.Fatalf("second Enqueue returned %+v, want job %s with rule news", b, a.ID)
	}
	mustCheck(t, s)
	got, ok, err := s.Lookup(ctx, k)
	if err != nil || !ok || got.ID != a.ID || got.Stage != StageQueued || got.Bytes != k.Size {
		t.Fatalf("Lookup = %+v %v %v", got, ok, err)
	}
	select {
	case <-s.Changed():
	default:
		t.Fatal("Changed() did not signal after an enqueue")
	}
}

func TestEnqueueRejectsBadKeys(t *testing.T) {
	s := openTest(t, statePath(t), Options{})
	good := testKey(1)
	cases := map[string]func(k *Key){
		"relative root": func(k *Key) { k.Root = "srv/drop" },
		"unclean root":  func(k *Key) { k.Root = "/srv//drop/" },
		"empty rel":     func(k *Key) { k.Rel = "" },
		"absolute rel":  func(k *Key) { k.Rel = "/etc/passwd" },
		"escaping rel":  func(k *Key) { k.Rel = "../etc/passwd" },
		"unclean rel":   func(k *Key) { k.Rel = "a/./b" },
		"nul in rel":    func(k *Key) { k.Rel = "a\x00b" },
		"negative size": func(k *Key) { k.Size = -1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			k := good
			mutate(&k)
			if _, _, err := s.Enqueue(context.Background(), k, Attrs{}); err == nil || !strings.Contains(err.Error(), "job key") {
				t.Fatalf("Enqueue(%+v) error = %v, want a job key error", k, err)
			}
		})
	}
	if _, _, err := s.Enqueue(context.Background(), good, Attrs{Kind: "folder"}); err == nil {
		t.Fatal("unknown kind accepted")
	}
	mustCheck(t, s)
}

func TestReplacedFileIsANewJob(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, statePath(t), Options{})
	old := keyAt("/srv/drop", "a/b.mp4", 7)
	j1 := mustEnqueue(t, s, old, Attrs{})
	driveTo(t, s, j1.ID, StageDone)
	replaced := old
	replaced.MtimeNs += 5e9
	replaced.Ino = 99
	j2, created, err := s.Enqueue(ctx, replaced, Attrs{})
	if err != nil || !created || j2.ID == j1.ID {
		t.Fatalf("replaced file: job %v created=%v err=%v, want a new job", j2, created, err)
	}
	mustCheck(t, s)
	latest, ok, err := s.ByPath(ctx, old.Root, old.Rel)
	if err != nil || !ok || latest.ID != j2.ID {
		t.Fatalf("ByPath = %v %v %v, want the new job %s", latest, ok, err, j2.ID)
	}
	if err := s.Forget(ctx, j2.ID, false); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s)
	latest, ok, _ = s.ByPath(ctx, old.Root, old.Rel)
	if !ok || latest.ID != j1.ID {
		t.Fatalf("after forgetting the new job ByPath = %v, want the old job %s", latest, j1.ID)
	}
	if err := s.Forget(ctx, j1.ID, false); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s)
	if _, ok, _ := s.ByPath(ctx, old.Root, old.Rel); ok {
		t.Fatal("ByPath found a job after both were forgotten")
	}
}

func TestTransitions(t *testing.T) {
	legal := map[[2]Stage]bool{}
	for _, p := range [][2]Stage{
		{StageQueued, StageApplied}, {StageQueued, StageUploading}, {StageQueued, StageCommitting}, {StageQueued, StageDone}, {StageQueued, StageFailed}, {StageQueued, StageQuarantined},
		{StageApplied, StageUploading}, {StageApplied, StageCommitting}, {StageApplied, StageDone}, {StageApplied, StageQueued}, {StageApplied, StageFailed}, {StageApplied, StageQuarantined},
		{StageUploading, StageApplied}, {StageUploading, StageCommitting}, {StageUploading, StageDone}, {StageUploading, StageQueued}, {StageUploading, StageFailed}, {StageUploading, StageQuarantined},
		{StageCommitting, StageDone}, {StageCommitting, StageApplied}, {StageCommitting, StageQueued}, {StageCommitting, StageFailed}, {StageCommitting, StageQuarantined},
		{StageFailed, StageQueued}, {StageFailed, StageApplied}, {StageFailed, StageUploading}, {StageFailed, StageCommitting}, {StageFailed, StageDone}, {StageFailed, StageQuarantined},
		{StageQuarantined, StageQueued},
	} {
		legal[p] = true
	}
	s := openTest(t, statePath(t), Options{})
	ctx := context.Background()
	i := 0
	for _, from := range Stages() {
		for _, to := range append(Stages(), "bogus") {
			i++
			want := from == to || legal[[2]Stage{from, to}]
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				j := mustEnqueue(t, s, testKey(i), Attrs{})
				driveTo(t, s, j.ID, from)
				got, err := s.Update(ctx, j.ID, func(j *Job) error { j.Stage = to; return nil })
				mustCheck(t, s)
				if want {
					if err != nil || got.Stage != to {
						t.Fatalf("legal move failed: %v", err)
					}
					return
				}
				wantErrIs(t, err, ErrTransition)
				cur, _ := s.Get(ctx, j.ID)
				if cur.Stage != from {
					t.Fatalf("illegal move changed the stage to %s", cur.Stage)
				}
			})
		}
	}
}

func TestUpdateKeepsIdentityAndRecordsHistory(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, statePath(t), Options{Now: c.now})
	j := mustEnqueue(t, s, testKey(1), Attrs{})
	mutations := map[string]func(*Job){
		"key":     func(j *Job) { j.Key.Size++ },
		"id":      func(j *Job) { j.ID = "0000000000000000" },
		"seq":     func(j *Job) { j.Seq++ },
		"kind":    func(j *Job) { j.Kind = KindBundle },
		"created": func(j *Job) { j.Created = j.Created.Add(time.Hour) },
		"bad checkpoint": func(j *Job) {
			j.Checkpoint = json.RawMessage("{not json")
		},
	}
	for name, m := range mutations {
		if _, err := s.Update(ctx, j.ID, func(j *Job) error { m(j); return nil }); err == nil {
			t.Errorf("update changing %s accepted", name)
		}
	}
	sentinel := errors.New("caller says no")
	if _, err := s.Update(ctx, j.ID, func(*Job) error { return sentinel }); err != sentinel {
		t.Fatalf("fn error came back as %v, want it unchanged", err)
	}
	if _, err := s.Update(ctx, "ffffffffffffffff", func(*Job) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of unknown job: %v", err)
	}
	for i := 0; i < MaxHistory+5; i++ {
		c.advance(time.Second)
		next := StageApplied
		if i%2 == 1 {
			next = StageQueued
		}
		if _, err := s.Update(ctx, j.ID, func(j *Job) error { j.Stage = next; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.Get(ctx, j.ID)
	if len(got.History) != MaxHistory || got.Started.IsZero() || !got.Updated.Equal(c.now()) {
		t.Fatalf("history %d entries (want %d), started %v, updated %v", len(got.History), MaxHistory, got.Started, got.Updated)
	}
	mustCheck(t, s)
}

func TestDueOrderAndRetries(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, statePath(t), Options{Now: c.now, MaxAttempts: 3})
	low1 := mustEnqueue(t, s, testKey(1), Attrs{})
	c.advance(time.Second)
	high := mustEnqueue(t, s, testKey(2), Attrs{Priority: 5})
	c.advance(time.Second)
	low2 := mustEnqueue(t, s, testKey(3), Attrs{})
	failedDue := mustEnqueue(t, s, testKey(4), Attrs{})
	failedLater := mustEnqueue(t, s, testKey(5), Attrs{})
	failedSpent := mustEnqueue(t, s, testKey(6), Attrs{})
	failedManual := mustEnqueue(t, s, testKey(7), Attrs{})
	done := mustEnqueue(t, s, testKey(8), Attrs{Priority: 9})
	driveTo(t, s, done.ID, StageDone)
	fail := func(id string, attempts int, next time.Time) {
		if _, err := s.Update(ctx, id, func(j *Job) error {
			j.Stage, j.Attempts, j.NextRetry = StageFailed, attempts, next
			j.LastError = &JobError{Code: "RequestLimitExceeded", Message: "slow down"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	fail(failedDue.ID, 1, c.now().Add(-time.Second))
	fail(failedLater.ID, 1, c.now().Add(time.Minute))
	fail(failedSpent.ID, 3, c.now().Add(-time.Second))
	fail(failedManual.ID, 1, time.Time{})
	mustCheck(t, s)

	due, err := s.Due(ctx, c.now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range due {
		ids = append(ids, j.ID)
	}
	want := []string{high.ID, low1.ID, low2.ID, failedDue.ID}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("Due = %v, want %v (priority, then age; only due retries)", ids, want)
	}
	if lim, _ := s.Due(ctx, c.now(), 2); len(lim) != 2 || lim[0].ID != high.ID {
		t.Fatalf("Due with limit 2 = %v", lim)
	}
	next, ok, err := s.NextRetryAt(ctx)
	if err != nil || !ok || !next.Equal(c.now().Add(-time.Second)) {
		t.Fatalf("NextRetryAt = %v %v %v", next, ok, err)
	}
	c.advance(2 * time.Minute)
	due, _ = s.Due(ctx, c.now(), 0)
	if len(due) != 5 {
		t.Fatalf("after the retry time %d jobs are due, want 5", len(due))
	}
}

func TestCrashLeavesResumableJobs(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stages := []Stage{StageApplied, StageUploading, StageCommitting, StageDone, StageQueued}
	ids := map[Stage]string{}
	for i, st := range stages {
		j := mustEnqueue(t, s, testKey(i), Attrs{})
		driveTo(t, s, j.ID, st)
		ids[st] = j.ID
	}
	cp := json.RawMessage(`{"upload_id":"u1","parts":[{"n":1,"etag":"e"}]}`)
	if _, err := s.Update(ctx, ids[StageUploading], func(j *Job) error { j.Checkpoint, j.BytesDone = cp, 512; return nil }); err != nil {
		t.Fatal(err)
	}
	// While running, jobs in flight belong to their workers: not due.
	if due, _ := s.Due(ctx, time.Now(), 0); len(due) != 1 || due[0].ID != ids[StageQueued] {
		t.Fatalf("before the crash Due = %v, want only the queued job", due)
	}
	// "Crash": the process stops without finishing any job.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, Options{})
	mustCheck(t, s)
	due, err := s.Due(ctx, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Stage{}
	for _, j := range due {
		got[j.ID] = j.Stage
	}
	for _, st := range []Stage{StageApplied, StageUploading, StageCommitting, StageQueued} {
		if got[ids[st]] != st {
			t.Errorf("after reopen job in %s is not due with its stage (due: %v)", st, got)
		}
	}
	if _, ok := got[ids[StageDone]]; ok || len(got) != 4 {
		t.Fatalf("Due after reopen = %v", got)
	}
	j, _ := s.Get(ctx, ids[StageUploading])
	if string(j.Checkpoint) != string(cp) || j.BytesDone != 512 {
		t.Fatalf("checkpoint after reopen = %s / %d", j.Checkpoint, j.BytesDone)
	}
	// Once a worker touches a resumed job it is no longer offered again.
	if _, err := s.Update(ctx, j.ID, func(j *Job) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.Due(ctx, time.Now(), 0); len(due) != 3 {
		t.Fatalf("after touching one resumed job %d are due, want 3", len(due))
	}
}

func TestRetryAndForget(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, statePath(t), Options{})
	q := mustEnqueue(t, s, testKey(1), Attrs{})
	driveTo(t, s, q.ID, StageQuarantined)
	if _, err := s.Update(ctx, q.ID, func(j *Job) error { j.QuarantinePath = "/srv/quarantine/news/clip.mp4"; j.Attempts = 5; return nil }); err != nil {
		t.Fatal(err)
	}
	r, err := s.Retry(ctx, q.ID)
	if err != nil || r.Stage != StageQueued || r.Attempts != 0 || r.LastError != nil || r.SourcePath() != "/srv/quarantine/news/clip.mp4" {
		t.Fatalf("Retry = %+v, %v", r, err)
	}
	if h := r.History[len(r.History)-1]; h.Note != "retry" || h.From != StageQuarantined {
		t.Fatalf("last history entry %+v", h)
	}
	mustCheck(t, s)
	if _, err := s.Retry(ctx, q.ID); !errors.Is(err, ErrNotRetryable) {
		t.Fatalf("retry of a queued job: %v", err)
	}
	if _, err := s.Retry(ctx, "ffffffffffffffff"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retry of unknown job: %v", err)
	}
	up := mustEnqueue(t, s, testKey(2), Attrs{})
	driveTo(t, s, up.ID, StageUploading)
	if err := s.Forget(ctx, up.ID, false); !errors.Is(err, ErrInFlight) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("forget in flight: %v", err)
	}
	if err := s.Forget(ctx, up.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, up.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("forgotten job still there: %v", err)
	}
	if err := s.Forget(ctx, up.ID, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("forget unknown: %v", err)
	}
	mustCheck(t, s)
	// Forgotten: the same file is a new job again.
	if _, created, _ := s.Enqueue(ctx, testKey(2), Attrs{}); !created {
		t.Fatal("re-enqueue after forget did not create a job")
	}
	mustCheck(t, s)
}

func TestGetByPrefix(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, statePath(t), Options{})
	var jobs []*Job
	for i := 0; i < 40; i++ {
		jobs = append(jobs, mustEnqueue(t, s, testKey(i), Attrs{}))
	}
	j, err := s.Get(ctx, jobs[0].ID[:8])
	if err != nil || j.ID != jobs[0].ID {
		t.Fatalf("Get(prefix) = %v, %v", j, err)
	}
	// Among 40 ids two share their first hex digit: a 1..3 digit prefix is refused anyway.
	if _, err := s.Get(ctx, jobs[0].ID[:3]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(3-digit prefix) = %v", err)
	}
	// Two ids sharing their first 4 hex digits make that prefix ambiguous.
	byPrefix := map[string]int{}
	for i := 1000; ; i++ {
		p := testKey(i).ID()[:4]
		if first, ok := byPrefix[p]; ok {
			mustEnqueue(t, s, testKey(first), Attrs{})
			mustEnqueue(t, s, testKey(i), Attrs{})
			if _, err := s.Get(ctx, p); !errors.Is(err, ErrAmbiguous) {
				t.Fatalf("Get(%s) = %v, want ErrAmbiguous", p, err)
			}
			break
		}
		byPrefix[p] = i
	}
	if _, err := s.Get(ctx, "zzzz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(unknown) = %v", err)
	}
}

func TestListAndFindPath(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, statePath(t), Options{})
	a := mustEnqueue(t, s, keyAt("/srv/drop", "news/a.mp4", 1), Attrs{})
	b := mustEnqueue(t, s, keyAt("/srv/drop", "news/b.mp4", 2), Attrs{})
	c := mustEnqueue(t, s, keyAt("/srv/drop", "sport/c.mp4", 3), Attrs{})
	d := mustEnqueue(t, s, keyAt("/srv/other", "news/a.mp4", 4), Attrs{ContentHash: "abc"})
	driveTo(t, s, b.ID, StageFailed)
	driveTo(t, s, c.ID, StageDone)
	ids := func(js []*Job) string {
		var out []string
		for _, j := range js {
			out = append(out, j.ID)
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		name string
		f    Filter
		want []*Job
	}{
		{"all", Filter{}, []*Job{a, b, c, d}},
		{"failed", Filter{Stages: []Stage{StageFailed, StageQuarantined}}, []*Job{b}},
		{"queued in root", Filter{Stages: []Stage{StageQueued}, Root: "/srv/drop"}, []*Job{a}},
		{"root", Filter{Root: "/srv/drop"}, []*Job{a, b, c}},
		{"folder", Filter{Root: "/srv/drop", RelPrefix: "news/"}, []*Job{a, b}},
		{"ids", Filter{IDs: []string{d.ID, "nope", a.ID}}, []*Job{a, d}},
		{"limit", Filter{Limit: 2, Root: "/srv/drop"}, []*Job{a, b}},
	}
	for _, tc := range cases {
		got, err := s.List(ctx, tc.f)
		if err != nil || ids(got) != ids(tc.want) {
			t.Errorf("%s: List = %s (%v), want %s", tc.name, ids(got), err, ids(tc.want))
		}
	}
	if _, err := s.List(ctx, Filter{Stages: []Stage{"nope"}}); err == nil {
		t.Error("List with an unknown stage accepted")
	}
	paths := []struct {
		p    string
		want []*Job
	}{
		{"/srv/drop/news/a.mp4", []*Job{a}},
		{"news/a.mp4", []*Job{a, d}},
		{"/srv/drop/news", []*Job{a, b}},
		{"/srv/drop/../drop/sport/c.mp4", []*Job{c}},
		{"/elsewhere/a.mp4", nil},
		{"../x", nil},
	}
	for _, tc := range paths {
		got, err := s.FindPath(ctx, tc.p)
		sortJobs(got)
		if err != nil || ids(got) != ids(tc.want) {
			t.Errorf("FindPath(%s) = %s (%v), want %s", tc.p, ids(got), err, ids(tc.want))
		}
	}
	if hs, _ := s.ByContentHash(ctx, "abc"); len(hs) != 1 || hs[0].ID != d.ID {
		t.Errorf("ByContentHash = %v", hs)
	}
	st, err := s.Stats(ctx)
	if err != nil || st[StageQueued] != 2 || st[StageFailed] != 1 || st[StageDone] != 1 {
		t.Errorf("Stats = %v %v", st, err)
	}
}

func TestCompactKeepsIdentity(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, statePath(t), Options{Now: c.now})
	old := mustEnqueue(t, s, testKey(1), Attrs{SourceContext: "ctx", MediaName: "clip", ContentHash: "h1"})
	pending := mustEnqueue(t, s, testKey(2), Attrs{})
	for _, id := range []string{old.ID, pending.ID} {
		driveTo(t, s, id, StageDone)
	}
	if _, err := s.Update(ctx, old.ID, func(j *Job) error {
		j.Result = Result{FileID: "5285890781", MediaURL: "http://x/media/a.mp4"}
		j.Checkpoint = json.RawMessage(`{"big":"checkpoint"}`)
		j.Post = Post{State: PostDone, Action: "move", MovedTo: "/srv/done/a.mp4"}
		j.RenamedTo = "b.mp4"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, pending.ID, func(j *Job) error { j.Post.State = PostPending; return nil }); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Minute)
	recent := mustEnqueue(t, s, testKey(3), Attrs{})
	driveTo(t, s, recent.ID, StageDone)
	c.advance(30 * time.Second)
	n, err := s.Compact(ctx, 45*time.Second)
	if err != nil || n != 1 {
		t.Fatalf("Compact = %d, %v; want 1 (pending post-action and recent jobs kept)", n, err)
	}
	mustCheck(t, s)
	j, ok, err := s.Lookup(ctx, testKey(1))
	if err != nil || !ok || !j.Compacted || j.Stage != StageDone || j.Result.FileID != "5285890781" ||
		len(j.Checkpoint) != 0 || len(j.History) != 0 || j.Post.MovedTo != "/srv/done/a.mp4" || j.ContentHash != "h1" || j.RenamedTo != "b.mp4" {
		t.Fatalf("compacted job = %+v", j)
	}
	if _, created, _ := s.Enqueue(ctx, testKey(1), Attrs{}); created {
		t.Fatal("a compacted file was enqueued again")
	}
	if n, _ := s.Compact(ctx, 0); n != 1 {
		t.Fatalf("second Compact = %d, want only the recent job", n)
	}
}

func TestSeen(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, statePath(t), Options{})
	j := mustEnqueue(t, s, testKey(1), Attrs{})
	driveTo(t, s, j.ID, StageCommitting)
	id, st, ok, err := s.Seen(ctx, testKey(1))
	if err != nil || !ok || id != j.ID || st != StageCommitting {
		t.Fatalf("Seen = %s %s %v %v", id, st, ok, err)
	}
	if _, _, ok, err := s.Seen(ctx, testKey(2)); ok || err != nil {
		t.Fatalf("Seen(unknown) = %v %v", ok, err)
	}
}

// TestStageOf: the stage alone is read right whether the record is in the
// decoded-record cache (in flight) or not (settled, or a store opened
// afresh), and an unknown id is ErrNotFound.
func TestStageOf(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s := openTest(t, path, Options{})
	stages := []Stage{StageQueued, StageApplied, StageCommitting, StageDone, StageQuarantined}
	ids := map[Stage]string{}
	for i, st := range stages {
		j := mustEnqueue(t, s, testKey(i), Attrs{})
		driveTo(t, s, j.ID, st)
		ids[st] = j.ID
	}
	check := func(s *Store) {
		t.Helper()
		for _, st := range stages {
			got, err := s.StageOf(ctx, ids[st])
			if err != nil || got != st {
				t.Errorf("StageOf(%s job) = %q, %v", st, got, err)
			}
		}
		if _, err := s.StageOf(ctx, "0123456789abcdef0123"); !errors.Is(err, ErrNotFound) {
			t.Errorf("StageOf(unknown) error %v, want ErrNotFound", err)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openTest(t, path, Options{})) // nothing cached
}
