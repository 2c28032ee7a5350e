package state

import (
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vodwatchd/vodwatchd/internal/hooks"
)

func delivery(key string, next time.Time) hooks.Delivery {
	return hooks.Delivery{Key: key, Hook: "cms", Facts: hooks.Facts{Event: hooks.OnReady, JobID: "j-" + key}, Created: next, NextAt: next}
}

func TestOutboxDueOrderRetryAndIdempotentEnqueue(t *testing.T) {
	s := openTest(t, statePath(t), Options{})
	ob, ctx := s.Outbox(), context.Background()
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	if err := ob.Enqueue(ctx, delivery("b", t0.Add(time.Second)), delivery("a", t0)); err != nil {
		t.Fatal(err)
	}
	again := delivery("a", t0.Add(time.Hour))
	again.Hook = "other"
	if err := ob.Enqueue(ctx, again); err != nil {
		t.Fatal(err)
	}
	due, err := ob.Due(ctx, t0.Add(time.Second), 10)
	if err != nil || len(due) != 2 || due[0].Key != "a" || due[1].Key != "b" || due[0].Hook != "cms" {
		t.Fatalf("Due = %+v, %v", due, err)
	}
	if due, _ := ob.Due(ctx, t0, 10); len(due) != 1 {
		t.Fatalf("Due before b's time = %d", len(due))
	}
	if err := ob.Failed(ctx, "a", hooks.Attempt{At: t0, Error: "HTTP 503"}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if due, _ := ob.Due(ctx, t0.Add(time.Second), 10); len(due) != 1 || due[0].Key != "b" {
		t.Fatalf("a retried too early: %+v", due)
	}
	due, _ = ob.Due(ctx, t0.Add(time.Minute), 10)
	if len(due) != 2 || due[1].Key != "a" || due[1].Attempts != 1 || due[1].Last.Error != "HTTP 503" {
		t.Fatalf("after the retry time: %+v", due)
	}
	if err := ob.Delivered(ctx, "b", hooks.Attempt{}); err != nil {
		t.Fatal(err)
	}
	if err := ob.Failed(ctx, "a", hooks.Attempt{Error: "HTTP 500"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// A dead key is not enqueued again.
	if err := ob.Enqueue(ctx, delivery("a", t0)); err != nil {
		t.Fatal(err)
	}
	st, _ := ob.Stats(ctx)
	dead, _ := ob.DeadLetters(ctx)
	if st.Pending != 0 || st.Dead != 1 || len(dead) != 1 || !dead[0].Dead || dead[0].Attempts != 2 {
		t.Fatalf("stats %+v dead %+v", st, dead)
	}
	if err := ob.Enqueue(ctx, hooks.Delivery{Hook: "x"}); err == nil {
		t.Fatal("a delivery without a key was accepted")
	}
	mustCheck(t, s)
}

// TestMigrateSchema2: a schema-2 file gets the outbox and the play
// indexes (its done jobs found by FileId) at a read-write open.
func TestMigrateSchema2(t *testing.T) {
	path := statePath(t)
	s := openTest(t, path, Options{})
	j := driveTo(t, s, mustEnqueue(t, s, testKey(1), Attrs{}).ID, StageCommitting)
	if _, err := s.Update(context.Background(), j.ID, func(n *Job) error {
		n.Stage, n.Result.FileID = StageDone, "F"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bOutbox, bOutboxDue, bOutboxDead, bFollow, bFileID} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(kSchema, []byte("2"))
	}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if _, err := Open(path, Options{ReadOnly: true}); err == nil {
		t.Fatal("a read-only open of a schema-2 file did not ask for a migration")
	}
	s2 := openTest(t, path, Options{})
	if err := s2.Outbox().Enqueue(context.Background(), delivery("k", time.Now())); err != nil {
		t.Fatalf("outbox after migration: %v", err)
	}
	mustCheck(t, s2)
	if got, err := s2.ByFileID(context.Background(), "F"); err != nil || len(got) != 1 || got[0].ID != j.ID {
		t.Fatalf("ByFileID after migration = %v, %v", got, err)
	}
}
