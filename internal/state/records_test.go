package state

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// storedJob decodes job id from its bytes in the file, past the cache.
func storedJob(t *testing.T, s *Store, id string) *Job {
	t.Helper()
	var j *Job
	if err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		j, err = getJob(tx, id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return j
}

// TestCachedRecordsReadAsStored: what Update and Get answer from the cache
// is exactly what decoding the record gives, whatever zone or monotonic
// reading the caller's times had.
func TestCachedRecordsReadAsStored(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, statePath(t), Options{})
	j := mustEnqueue(t, s, testKey(1), Attrs{Rule: "news", MediaName: "clip", Priority: 2, ContentHash: "h"})
	if got, err := s.Get(ctx, j.ID); err != nil || !reflect.DeepEqual(got, storedJob(t, s, j.ID)) {
		t.Fatalf("Get after Enqueue answered %+v (%v), not the record as stored", got, err)
	}
	shanghai := time.FixedZone("CST", 8*3600)
	steps := []func(*Job){
		func(n *Job) {
			n.Stage, n.Checkpoint = StageApplied, json.RawMessage(`{"version":1,"session_key":"k"}`)
			n.SessionExpires = time.Now().In(shanghai) // monotonic reading and a zone
		},
		func(n *Job) {
			n.Stage, n.Attempts, n.NextRetry = StageFailed, 1, time.Now().Add(time.Minute)
			n.LastError = &JobError{Code: "InternalError", Message: "x", At: time.Now().In(shanghai)}
		},
		func(n *Job) { n.Stage, n.LastError = StageQueued, nil },
	}
	for i, step := range steps {
		out, err := s.Update(ctx, j.ID, func(n *Job) error { step(n); return nil })
		if err != nil {
			t.Fatal(err)
		}
		want := storedJob(t, s, j.ID)
		if !reflect.DeepEqual(out, want) {
			t.Fatalf("step %d: Update answered\n%+v\nthe record decodes to\n%+v", i, out, want)
		}
		got, err := s.Get(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: Get answered\n%+v\nthe record decodes to\n%+v", i, got, want)
		}
		got.History, got.MediaName = nil, "changed by the caller" // a caller's copy is its own
		if again, _ := s.Get(ctx, j.ID); !reflect.DeepEqual(again, want) {
			t.Fatalf("step %d: a caller's change reached the cache", i)
		}
	}
}

// TestCacheNeverServesAnOverwrittenRecord: a record rewritten by a path
// that bypasses the cache (compaction, a rolled-back write) is decoded
// afresh.
func TestCacheNeverServesAnOverwrittenRecord(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, statePath(t), Options{})
	j := mustEnqueue(t, s, testKey(1), Attrs{MediaName: "first"})
	if _, err := s.Get(ctx, j.ID); err != nil { // cached now
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		cur, err := getJob(tx, j.ID)
		if err != nil {
			return err
		}
		next := cur.Clone()
		next.MediaName = "rewritten"
		return putJob(tx, cur, next)
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, j.ID); got.MediaName != "rewritten" {
		t.Fatalf("Get answered the stale record %q", got.MediaName)
	}
	rollback := errors.New("rolled back")
	_, err := s.Update(ctx, j.ID, func(n *Job) error { n.MediaName = "in a failed write"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	err = s.write(ctx, "test", func(tx *bolt.Tx) error {
		cur, err := s.records.job(tx, j.ID)
		if err != nil {
			return err
		}
		next := cur.Clone()
		next.MediaName = "never stored"
		if err := s.apply(tx, cur, next, ""); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("write: %v", err)
	}
	if got, _ := s.Get(ctx, j.ID); got.MediaName != "in a failed write" {
		t.Fatalf("Get answered %q from a rolled-back write", got.MediaName)
	}
}

// TestEnqueueMany records many jobs in one write, as Enqueue would one by
// one: duplicates of a known identity are the existing job, an invalid
// key is refused on its own.
func TestEnqueueMany(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, statePath(t), Options{})
	known := mustEnqueue(t, s, testKey(0), Attrs{})
	bad := testKey(3)
	bad.Rel = "../escape.mp4"
	res, err := s.EnqueueMany(ctx, []NewJob{
		{Key: testKey(0)}, {Key: testKey(1), Attrs: Attrs{MediaName: "one"}}, {Key: testKey(1)},
		{Key: bad}, {Key: testKey(2), Attrs: Attrs{Kind: "nonsense"}}, {Key: testKey(4), Attrs: Attrs{Kind: KindBundle}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 6 {
		t.Fatalf("%d answers for 6 jobs", len(res))
	}
	if res[0].Created || res[0].Job.ID != known.ID {
		t.Errorf("known identity: %+v", res[0])
	}
	if !res[1].Created || res[1].Job.MediaName != "one" || res[1].Job.Kind != KindFile || res[1].Job.Stage != StageQueued {
		t.Errorf("new job: %+v", res[1])
	}
	if res[2].Created || res[2].Job.ID != res[1].Job.ID {
		t.Errorf("second of the same identity in one batch: %+v", res[2])
	}
	if res[3].Err == nil || res[4].Err == nil {
		t.Errorf("invalid key or kind accepted: %v, %v", res[3].Err, res[4].Err)
	}
	if !res[5].Created || res[5].Job.Kind != KindBundle {
		t.Errorf("bundle: %+v", res[5])
	}
	stats, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats[StageQueued] != 3 {
		t.Fatalf("%d queued, want 3", stats[StageQueued])
	}
	mustCheck(t, s)
	select {
	case <-s.Changed():
	default:
		t.Fatal("no change signalled for new jobs")
	}
}

// TestPutSecretRecreatesItsFolder: a secrets folder removed under the
// running daemon is made again, 0700, and the file is 0600.
func TestPutSecretRecreatesItsFolder(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s := openTest(t, path, Options{})
	j := mustEnqueue(t, s, testKey(1), Attrs{})
	if err := os.RemoveAll(path + ".secrets"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSecret(ctx, j.ID, []byte("cert")); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path + ".secrets": 0o700, filepath.Join(path+".secrets", j.ID): 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v, %v; want mode %v", p, fi, err, want)
		}
	}
	if b, ok, err := s.Secret(ctx, j.ID); err != nil || !ok || string(b) != "cert" {
		t.Fatalf("Secret = %q, %v, %v", b, ok, err)
	}
	entries, _ := os.ReadDir(path + ".secrets")
	if len(entries) != 1 {
		t.Fatalf("secrets folder holds %d entries, want the certificate alone", len(entries))
	}
}

// TestPendingSummary counts queued and in-flight jobs by priority and finds
// the oldest, as List over those stages would.
func TestPendingSummary(t *testing.T) {
	clk := newClock()
	s := openTest(t, statePath(t), Options{Now: clk.now})
	var ids []string
	for i, prio := range []int{0, 5, 5, 0, 9} {
		ids = append(ids, mustEnqueue(t, s, testKey(i), Attrs{Priority: prio}).ID)
		clk.advance(time.Minute)
	}
	driveTo(t, s, ids[0], StageDone)   // the oldest, but no longer pending
	driveTo(t, s, ids[1], StageFailed) // not pending either
	driveTo(t, s, ids[2], StageUploading)
	sum, err := s.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantOldest := newClock().now().Add(2 * time.Minute) // ids[2]
	if sum.Count != 3 || sum.ByPriority[5] != 1 || sum.ByPriority[0] != 1 || sum.ByPriority[9] != 1 || !sum.Oldest.Equal(wantOldest) {
		t.Fatalf("summary %+v, want 3 jobs (one each of priority 0, 5, 9), oldest %v", sum, wantOldest)
	}
}
