package state

import (
	"context"
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Lookalike is a job whose file has the size and mtime asked for: its
// path under the root, and the device and inode its record had when it
// was created or last adopted one (a fast path: the record itself is the
// truth).
type Lookalike struct {
	ID       string
	Rel      string
	Dev, Ino uint64
}

// lookalikes finds the jobs of a watch root by a file's size and mtime:
// the parts of its identity that neither a rename nor a remount changes
// (a rename changes the path, a remount or migration the device, inode
// and ctime). It lives in memory, for the roots looked up since the store
// opened: each is read from ix_identity on its first lookup, and from
// then on every job the store creates, or adopts a new inode for, is
// noted once its transaction commits (noteOnCommit). A root's first read
// holds mu, so a commit either came before it (and is read) or notes its
// job after it. An entry may name a job deleted since: the caller reads
// each record it uses.
type lookalikes struct {
	mu    sync.Mutex
	built map[string]bool
	jobs  map[sizeTime][]Lookalike
}

// sizeTime is what lookalikes are found by.
type sizeTime struct {
	root          string
	size, mtimeNs int64
}

func sizeTimeOf(k Key) sizeTime { return sizeTime{root: k.Root, size: k.Size, mtimeNs: k.MtimeNs} }

func (l *lookalikes) initLocked() {
	if l.jobs == nil {
		l.built, l.jobs = map[string]bool{}, map[sizeTime][]Lookalike{}
	}
}

// noteLocked records id under k, with k's device and inode; the caller
// holds mu.
func (l *lookalikes) noteLocked(k Key, id string) {
	l.initLocked()
	st := sizeTimeOf(k)
	e := Lookalike{ID: id, Rel: k.Rel, Dev: k.Dev, Ino: k.Ino}
	if i := slices.IndexFunc(l.jobs[st], func(o Lookalike) bool { return o.ID == id }); i >= 0 {
		l.jobs[st][i] = e
		return
	}
	l.jobs[st] = append(l.jobs[st], e)
}

// noteOnCommit notes id under k when tx commits, if k's root was read.
func (l *lookalikes) noteOnCommit(tx *bolt.Tx, k Key, id string) {
	tx.OnCommit(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.built[k.Root] {
			l.noteLocked(k, id)
		}
	})
}

// Lookalikes returns the jobs under k.Root whose file has k's size and
// mtime, at any path and in any stage: the candidates for a file renamed,
// or moved by a migration, after its upload. The first lookup under a
// root reads the root's records.
func (s *Store) Lookalikes(ctx context.Context, k Key) ([]Lookalike, error) {
	l := &s.lookalikes
	l.mu.Lock()
	defer l.mu.Unlock()
	l.initLocked()
	if !l.built[k.Root] {
		err := s.Keys(ctx, k.Root, func(rec Key, id string) bool {
			l.noteLocked(rec, id)
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("state: files of %s with size %d: %w", k.Root, k.Size, err)
		}
		l.built[k.Root] = true
	}
	return slices.Clone(l.jobs[sizeTimeOf(k)]), nil
}
