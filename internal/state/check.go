package state

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Check verifies that every index agrees with the job records: each job is
// in the identity, stage, path-latest and hash indexes exactly as its
// fields say, and no index entry points at a missing or different job. It
// reads every record (O(jobs)); tests call it after each operation. A
// damaged page met on the way is reported as ErrCorrupt.
func (s *Store) Check(ctx context.Context) error {
	return guard(s.path, func() error { return s.check(ctx) })
}

func (s *Store) check(ctx context.Context) error {
	return s.read(ctx, func(tx *bolt.Tx) error {
		jobs := map[string]*Job{}
		latest := map[string]*Job{}
		err := tx.Bucket(bJobs).ForEach(func(k, v []byte) error {
			j, err := decodeJob(string(k), v)
			if err != nil {
				return err
			}
			if err := checkJob(tx, string(k), j); err != nil {
				return err
			}
			jobs[j.ID] = j
			pk := string(pathKey(j.Key.Root, j.Key.Rel))
			if l := latest[pk]; l == nil || j.Seq > l.Seq {
				latest[pk] = j
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := checkIndexes(tx, jobs, latest); err != nil {
			return err
		}
		return checkPlayIndexes(tx, jobs)
	})
}

func checkJob(tx *bolt.Tx, k string, j *Job) error {
	switch {
	case j.ID != k || (j.Key.ID() != k && j.Key.legacyID() != k):
		return fmt.Errorf("check: job %s: id does not match record key or identity", k)
	case !j.Stage.Valid():
		return fmt.Errorf("check: job %s: bad stage %q", k, j.Stage)
	case !bytes.Equal(tx.Bucket(bIdentity).Get(identityKey(j.Key)), identityValue(k, j.Key)):
		return fmt.Errorf("check: job %s: identity index does not point at it", k)
	case tx.Bucket(bStage).Get(pairKey(string(j.Stage), k)) == nil:
		return fmt.Errorf("check: job %s: missing from stage index %s", k, j.Stage)
	case j.ContentHash != "" && tx.Bucket(bHash).Get(pairKey(j.ContentHash, k)) == nil:
		return fmt.Errorf("check: job %s: missing from hash index", k)
	case tx.Bucket(bRoots).Get([]byte(j.Key.Root)) == nil:
		return fmt.Errorf("check: job %s: root %s not recorded", k, j.Key.Root)
	}
	return nil
}

func checkIndexes(tx *bolt.Tx, jobs, latest map[string]*Job) error {
	n := 0
	err := tx.Bucket(bIdentity).ForEach(func(k, v []byte) error {
		n++
		id, _ := parseIdentityValue(v)
		if j := jobs[id]; j == nil || !bytes.Equal(identityKey(j.Key), k) {
			return fmt.Errorf("check: identity index entry for %s points at a missing or different job", id)
		}
		return nil
	})
	if err == nil && n != len(jobs) {
		err = fmt.Errorf("check: identity index has %d entries for %d jobs", n, len(jobs))
	}
	if err != nil {
		return err
	}
	if err := checkPairIndex(tx, bStage, len(jobs), func(stage, id string) bool {
		j := jobs[id]
		return j != nil && string(j.Stage) == stage
	}); err != nil {
		return err
	}
	if err := checkPostIndex(tx, jobs); err != nil {
		return err
	}
	if err := checkPairIndex(tx, bHash, -1, func(hash, id string) bool {
		j := jobs[id]
		return j != nil && j.ContentHash == hash
	}); err != nil {
		return err
	}
	n = 0
	err = tx.Bucket(bPath).ForEach(func(k, v []byte) error {
		n++
		if l := latest[string(k)]; l == nil || l.ID != string(v) {
			return fmt.Errorf("check: path index entry %q points at %s, not the path's latest job", k, v)
		}
		return nil
	})
	if err == nil && n != len(latest) {
		err = fmt.Errorf("check: path index has %d entries for %d paths", n, len(latest))
	}
	return err
}

// checkPairIndex verifies a "value NUL id" index; want < 0 skips the count.
func checkPairIndex(tx *bolt.Tx, name []byte, want int, ok func(val, id string) bool) error {
	n := 0
	err := tx.Bucket(name).ForEach(func(k, _ []byte) error {
		n++
		i := bytes.LastIndexByte(k, 0)
		if i < 0 || !ok(string(k[:i]), string(k[i+1:])) {
			return fmt.Errorf("check: %s entry %q does not match its job", name, k)
		}
		return nil
	})
	if err == nil && want >= 0 && n != want {
		err = fmt.Errorf("check: %s has %d entries for %d jobs", name, n, want)
	}
	return err
}

// checkPostIndex: ix_post lists exactly the done jobs with a pending
// post-action.
func checkPostIndex(tx *bolt.Tx, jobs map[string]*Job) error {
	want := 0
	for _, j := range jobs {
		if postPending(j) {
			want++
		}
	}
	n := 0
	err := tx.Bucket(bPost).ForEach(func(k, _ []byte) error {
		n++
		if j := jobs[string(k)]; j == nil || !postPending(j) {
			return fmt.Errorf("check: post index entry %s is not a done job with a pending post-action", k)
		}
		return nil
	})
	if err == nil && n != want {
		err = fmt.Errorf("check: post index has %d entries for %d pending post-actions", n, want)
	}
	return err
}
