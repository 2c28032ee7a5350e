package state

import (
	"context"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func pendingIDs(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	jobs, err := s.PostPending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, j := range jobs {
		out[j.ID] = true
	}
	return out
}

// TestPostPendingIndex: the done jobs whose post-action is pending are
// found through their own index, which follows every change.
func TestPostPendingIndex(t *testing.T) {
	s := openTest(t, statePath(t), Options{})
	ctx := context.Background()
	a := driveTo(t, s, mustEnqueue(t, s, testKey(1), Attrs{}).ID, StageCommitting)
	b := driveTo(t, s, mustEnqueue(t, s, testKey(2), Attrs{}).ID, StageCommitting)
	setPost := func(id string, st PostState) {
		if _, err := s.Update(ctx, id, func(n *Job) error {
			n.Stage, n.Post.State = StageDone, st
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		mustCheck(t, s)
	}
	setPost(a.ID, PostPending)
	setPost(b.ID, PostDone)
	if got := pendingIDs(t, s); len(got) != 1 || !got[a.ID] {
		t.Fatalf("pending = %v, want only %s", got, a.ID)
	}
	setPost(a.ID, PostDone)
	if got := pendingIDs(t, s); len(got) != 0 {
		t.Fatalf("pending after the post-action = %v", got)
	}
	setPost(b.ID, PostPending)
	if err := s.Forget(ctx, b.ID, false); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s)
	if got := pendingIDs(t, s); len(got) != 0 {
		t.Fatalf("pending after forget = %v", got)
	}
}

// TestMigrateSchema1: a schema-1 file (no post index) is migrated at a
// read-write open, with its pending post-actions indexed.
func TestMigrateSchema1(t *testing.T) {
	path := statePath(t)
	s := openTest(t, path, Options{})
	ctx := context.Background()
	j := driveTo(t, s, mustEnqueue(t, s, testKey(1), Attrs{}).ID, StageCommitting)
	if _, err := s.Update(ctx, j.ID, func(n *Job) error {
		n.Stage, n.Post.State = StageDone, PostPending
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
		if err := tx.DeleteBucket(bPost); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put(kSchema, []byte("1"))
	}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if _, err := Open(path, Options{ReadOnly: true}); err == nil {
		t.Fatal("a read-only open of a schema-1 file did not ask for a migration")
	}
	s2 := openTest(t, path, Options{})
	mustCheck(t, s2)
	if got := pendingIDs(t, s2); !got[j.ID] {
		t.Fatalf("migrated store lost the pending post-action of %s", j.ID)
	}
}
