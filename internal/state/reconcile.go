package state

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
)

// Outcome is Reconcile's answer about a file seen under a watch root.
type Outcome int

// The outcomes of Reconcile.
const (
	// New: no record has this path, size and mtime: a new job.
	New Outcome = iota
	// Known: a record has this path, size and mtime and the same inode and
	// ctime (the fast path), or a job not yet done owns the file and takes
	// it again itself before its commit.
	Known
	// Adopted: a done record had this path, size and mtime under another
	// inode or ctime (a remount, an rsync -a/cp -a migration) and the
	// content matched the one committed: nothing is uploaded, and the
	// record is to take the new inode (Adopt).
	Adopted
	// NewVersion: records have this path, size and mtime but other content
	// (or no content to compare): the returned key's Variant names the new
	// bytes, and it is a new job.
	NewVersion
)

func (o Outcome) String() string {
	switch o {
	case New:
		return "new"
	case Known:
		return "known"
	case Adopted:
		return "adopted"
	case NewVersion:
		return "new version"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// ContentFunc reads the file's whole content (fileid.ReadContent). It is
// called at most once per Reconcile, and only for a candidate whose inode
// or ctime moved.
type ContentFunc func(ctx context.Context) (fileid.Content, error)

// Reconcile tells whether the file key describes (Variant empty, taken
// from lstat) is one the state already knows, by the rules of the
// identity (see Key): root, path, size and mtime pick the candidate
// records; the same dev/ino/ctime confirms one at once; otherwise the
// whole content, read through content, must equal what a done record
// committed; the caller then records that the record adopts the new
// dev/ino/ctime (Adopt, batched: Reconcile writes nothing). It returns the
// key (for Adopted the record's identity with the new dev/ino/ctime, for
// NewVersion with its Variant set) and the job that matched, if any.
func (s *Store) Reconcile(ctx context.Context, key Key, content ContentFunc) (Key, Outcome, *Job, error) {
	if err := key.Validate(); err != nil {
		return key, New, nil, err
	}
	key.Variant = ""
	var (
		entries []Key    // the records' keys (fast-path attributes from the index)
		ids     []string // their job ids
		jobs    []*Job   // decoded only when no record has this inode
	)
	err := s.read(ctx, func(tx *bolt.Tx) error {
		prefix := versionPrefix(key)
		forEachPrefix(tx.Bucket(bIdentity), prefix, func(k, v []byte) bool {
			id, rec := parseIdentityValue(v)
			rec.Variant = string(k[len(prefix):])
			entries, ids = append(entries, rec), append(ids, id)
			return true
		})
		for _, rec := range entries {
			if sameInode(rec, key) {
				return nil
			}
		}
		for _, id := range ids {
			j, err := getJob(tx, id)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		return key, New, nil, fmt.Errorf("state: reconcile %s: %w", key.Path(), err)
	}
	if len(entries) == 0 {
		return key, New, nil, nil
	}
	for i, rec := range entries {
		if sameInode(rec, key) {
			key.Variant = rec.Variant
			return key, Known, &Job{ID: ids[i], Key: key}, nil
		}
	}
	// The inode or ctime moved: the records decide, then the content.
	var done []*Job
	for _, j := range jobs {
		if owns(j) {
			key.Variant = j.Key.Variant
			return key, Known, j, nil
		}
		if j.Stage == StageDone {
			done = append(done, j)
		}
	}
	c, err := content(ctx)
	if err != nil {
		return key, New, nil, fmt.Errorf("state: reconcile %s: %w", key.Path(), err)
	}
	for _, j := range done {
		if j.Result.Content == string(c) {
			key.Variant = j.Key.Variant
			return key, Adopted, j, nil
		}
	}
	key.Variant = string(c)
	return key, NewVersion, nil, nil
}

// owns reports whether j, not yet done, still takes its file itself: the
// daemon checks the file before the commit and takes a file rewritten in
// place (same size and mtime, new ctime or inode) again as a whole.
func owns(j *Job) bool {
	switch j.Stage {
	case StageDone, StageQuarantined:
		return false
	case StageFailed:
		return !j.NextRetry.IsZero()
	}
	return true
}

// Adoption is a done record to give the fast-path attributes (dev, ino,
// ctime) of Key, once Reconcile confirmed its content.
type Adoption struct {
	ID  string
	Key Key
}

// Adopt records adoptions in one transaction (a remount of many files
// costs one write per batch, not one per file). A job that is no longer
// done or no longer has the identity is skipped: the next scan asks again.
func (s *Store) Adopt(ctx context.Context, adoptions ...Adoption) error {
	if len(adoptions) == 0 {
		return nil
	}
	err := s.write(ctx, fmt.Sprintf("adopt %d records", len(adoptions)), func(tx *bolt.Tx) error {
		now := s.now()
		for _, a := range adoptions {
			cur, err := getJob(tx, a.ID)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if cur.Stage != StageDone || !sameIdentity(cur.Key, a.Key) {
				continue
			}
			next := cur.Clone()
			next.Key.Dev, next.Key.Ino, next.Key.CtimeNs = a.Key.Dev, a.Key.Ino, a.Key.CtimeNs
			next.Updated = now
			next.History = append(next.History, Transition{From: StageDone, To: StageDone, At: now,
				Note: "same content under a new inode or ctime: record adopted"})
			if len(next.History) > MaxHistory {
				next.History = append([]Transition(nil), next.History[len(next.History)-MaxHistory:]...)
			}
			if err := putJob(tx, cur, next); err != nil {
				return err
			}
			s.lookalikes.noteOnCommit(tx, next.Key, next.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: adopt %d records: %w", len(adoptions), err)
	}
	return nil
}

// rebuildIdentities migrates schema 2 to 3: the identity no longer holds
// the device and inode (they move to the index value). Jobs keep the ids
// they were given; two records of one path whose identities now meet
// (same size and mtime, other inode) are told apart by a Variant naming
// the later one's id.
func rebuildIdentities(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(bIdentity); err != nil {
		return err
	}
	ix, err := tx.CreateBucket(bIdentity)
	if err != nil {
		return err
	}
	var jobs []*Job
	err = tx.Bucket(bJobs).ForEach(func(k, v []byte) error {
		j, err := decodeJob(string(k), v)
		if err != nil {
			return err
		}
		jobs = append(jobs, j)
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(jobs, func(a, b *Job) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, j := range jobs {
		ik := identityKey(j.Key)
		if ix.Get(ik) != nil {
			old := j.Clone()
			j.Key.Variant = "legacy:" + j.ID
			ik = identityKey(j.Key)
			if err := putJob(tx, old, j); err != nil {
				return err
			}
		}
		if err := ix.Put(bytes.Clone(ik), identityValue(j.ID, j.Key)); err != nil {
			return err
		}
	}
	return nil
}
