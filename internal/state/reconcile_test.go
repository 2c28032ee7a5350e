package state

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
)

const (
	contentA fileid.Content = "crc64:00000000000000aa"
	contentB fileid.Content = "crc64:00000000000000bb"
)

// doneWith records a done job for k whose committed content is c.
func doneWith(t *testing.T, s *Store, k Key, c fileid.Content) *Job {
	t.Helper()
	j := driveTo(t, s, mustEnqueue(t, s, k, Attrs{}).ID, StageCommitting)
	j, err := s.Update(context.Background(), j.ID, func(n *Job) error {
		n.Stage, n.Result = StageDone, Result{FileID: "f-" + n.ID, Content: string(c)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestReconcile: the identity survives remounts and migrations (issue 11):
// dev/ino/ctime are a fast path, the content decides when they moved.
func TestReconcile(t *testing.T) {
	base := Key{Root: "/srv/drop", Rel: "news/a.mp4", Size: 1000, MtimeNs: 1700000000e9, Dev: 2049, Ino: 11, CtimeNs: 1700000001e9}
	remounted := base
	remounted.Dev = 2050
	migrated := base
	migrated.Ino, migrated.CtimeNs = 77, 1800000000e9
	rewritten := base
	rewritten.CtimeNs = 1800000000e9
	resized := base
	resized.Size, resized.Ino = 1001, 12
	for _, tc := range []struct {
		name      string
		recStage  Stage // the record of base (done with contentA unless another stage)
		legacy    bool  // the done record has no content (recorded before this build)
		now       Key
		content   fileid.Content
		want      Outcome
		wantReads int
	}{
		{"same inode, no read", StageDone, false, base, contentA, Known, 0},
		{"remount, same content: adopted", StageDone, false, remounted, contentA, Adopted, 1},
		{"cp -a migration, same content: adopted", StageDone, false, migrated, contentA, Adopted, 1},
		{"remount, other content: new version", StageDone, false, remounted, contentB, NewVersion, 1},
		{"in-place rewrite (ctime), other content", StageDone, false, rewritten, contentB, NewVersion, 1},
		{"other size: a new file, no read", StageDone, false, resized, contentA, New, 0},
		{"a done record without content cannot confirm", StageDone, true, remounted, contentA, NewVersion, 1},
		{"a queued job owns its file", StageQueued, false, remounted, contentB, Known, 0},
		{"a quarantined job does not", StageQuarantined, false, remounted, contentB, NewVersion, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, statePath(t), Options{})
			ctx := context.Background()
			var rec *Job
			switch {
			case tc.recStage == StageDone && tc.legacy:
				rec = doneWith(t, s, base, "")
			case tc.recStage == StageDone:
				rec = doneWith(t, s, base, contentA)
			default:
				rec = driveTo(t, s, mustEnqueue(t, s, base, Attrs{}).ID, tc.recStage)
			}
			reads := 0
			key, got, j, err := s.Reconcile(ctx, tc.now, func(context.Context) (fileid.Content, error) {
				reads++
				return tc.content, nil
			})
			if err != nil || got != tc.want || reads != tc.wantReads {
				t.Fatalf("Reconcile = %v (err %v) after %d reads, want %v after %d", got, err, reads, tc.want, tc.wantReads)
			}
			switch got {
			case Known, Adopted:
				if j == nil || j.ID != rec.ID || key.ID() != rec.ID {
					t.Fatalf("matched %+v, key id %s, want job %s", j, key.ID(), rec.ID)
				}
			case NewVersion:
				if key.Variant != string(tc.content) || key.ID() == rec.ID {
					t.Fatalf("new version key %+v has the record's id or no variant", key)
				}
				if nj, created, err := s.Enqueue(ctx, key, Attrs{}); err != nil || !created || nj.ID == rec.ID {
					t.Fatalf("Enqueue(new version) = %+v, %v, %v", nj, created, err)
				}
			}
			if got == Adopted {
				if err := s.Adopt(ctx, Adoption{ID: j.ID, Key: key}); err != nil {
					t.Fatal(err)
				}
				now, err := s.Get(ctx, rec.ID)
				if err != nil || now.Key.Dev != tc.now.Dev || now.Key.Ino != tc.now.Ino || now.Key.CtimeNs != tc.now.CtimeNs {
					t.Fatalf("adopted record key %+v, want dev/ino/ctime of %+v", now.Key, tc.now)
				}
				// Seen again: the fast path, no read.
				if _, again, _, _ := s.Reconcile(ctx, tc.now, func(context.Context) (fileid.Content, error) {
					t.Fatal("content read after adoption")
					return "", nil
				}); again != Known {
					t.Fatalf("after adoption: %v, want known", again)
				}
			}
			mustCheck(t, s)
		})
	}
}

func TestReconcileContentError(t *testing.T) {
	s := openTest(t, statePath(t), Options{})
	k := testKey(1)
	doneWith(t, s, k, contentA)
	k.Dev++
	boom := errors.New("read failed")
	_, _, _, err := s.Reconcile(context.Background(), k, func(context.Context) (fileid.Content, error) { return "", boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Reconcile = %v, want the read error", err)
	}
}

// TestMigrateIdentity: ids and identities of schema 3 (dev and inode in
// the identity) are kept; two records of one path that now meet get a
// variant; the migrated file passes Check and reconciles by the new rules.
func TestMigrateIdentity(t *testing.T) {
	path := statePath(t)
	s := openTest(t, path, Options{})
	ctx := context.Background()
	first := testKey(1)
	replaced := first
	replaced.Ino += 100
	j1 := doneWith(t, s, first, "")
	_ = s.Close()
	// Rewrite the file as schema 3 wrote it: legacy ids, id-only index
	// values, a second record of the same path, size and mtime.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	legacy := func(tx *bolt.Tx, k Key, old *Job) (string, error) {
		j := old.Clone()
		j.ID = k.legacyID()
		j.Key = k
		v, _ := json.Marshal(j)
		if err := tx.Bucket(bJobs).Delete([]byte(old.ID)); err != nil {
			return "", err
		}
		if err := tx.Bucket(bJobs).Put([]byte(j.ID), v); err != nil {
			return "", err
		}
		if err := tx.Bucket(bStage).Delete(pairKey(string(old.Stage), old.ID)); err != nil {
			return "", err
		}
		if err := tx.Bucket(bStage).Put(pairKey(string(j.Stage), j.ID), nil); err != nil {
			return "", err
		}
		if err := tx.Bucket(bFileID).Delete(pairKey(old.Result.FileID, old.ID)); err != nil {
			return "", err
		}
		if err := tx.Bucket(bFileID).Put(pairKey(j.Result.FileID, j.ID), nil); err != nil {
			return "", err
		}
		ik := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(versionPrefix(k), k.Dev), k.Ino)
		return j.ID, tx.Bucket(bIdentity).Put(ik, []byte(j.ID))
	}
	var id1, id2 string
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bIdentity); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bIdentity); err != nil {
			return err
		}
		var err error
		if id1, err = legacy(tx, first, j1); err != nil {
			return err
		}
		second := j1.Clone()
		second.Seq++
		if id2, err = legacy(tx, replaced, second); err != nil {
			return err
		}
		if err := tx.Bucket(bPath).Put(pathKey(first.Root, first.Rel), []byte(id2)); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put(kSchema, []byte("3"))
	}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	s2 := openTest(t, path, Options{})
	mustCheck(t, s2)
	for _, id := range []string{id1, id2} {
		if _, err := s2.Get(ctx, id); err != nil {
			t.Fatalf("migrated store lost job %s: %v", id, err)
		}
	}
	_, got, j, err := s2.Reconcile(ctx, replaced, func(context.Context) (fileid.Content, error) {
		t.Fatal("content read for a record with this inode")
		return "", nil
	})
	if err != nil || got != Known || j.ID != id2 {
		t.Fatalf("Reconcile(replaced) = %v %+v %v, want known as %s", got, j, err, id2)
	}
}
