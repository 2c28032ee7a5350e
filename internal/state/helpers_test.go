package state

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func statePath(t testing.TB) string      { return filepath.Join(t.TempDir(), "state", "state.db") }
func testKey(i int) Key                  { return keyAt("/srv/drop", fmt.Sprintf("news/clip-%06d.mp4", i), i) }
func keyAt(root, rel string, ino int) Key {
	return Key{Root: root, Rel: rel, Size: 1000 + int64(ino), MtimeNs: 1700000000e9 + int64(ino), Dev: 2049, Ino: uint64(ino) + 1}
}

// openTest opens a store at path and closes it at the end of the test.
func openTest(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// mustCheck fails the test when any index disagrees with the records.
func mustCheck(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("index consistency: %v", err)
	}
}

func mustEnqueue(t testing.TB, s *Store, k Key, a Attrs) *Job {
	t.Helper()
	j, _, err := s.Enqueue(context.Background(), k, a)
	if err != nil {
		t.Fatalf("Enqueue(%s): %v", k.Path(), err)
	}
	return j
}

// driveTo moves job id along legal transitions until it reaches stage.
func driveTo(t testing.TB, s *Store, id string, stage Stage) *Job {
	t.Helper()
	paths := map[Stage][]Stage{
		StageQueued:      {},
		StageApplied:     {StageApplied},
		StageUploading:   {StageApplied, StageUploading},
		StageCommitting:  {StageApplied, StageUploading, StageCommitting},
		StageDone:        {StageApplied, StageUploading, StageCommitting, StageDone},
		StageFailed:      {StageFailed},
		StageQuarantined: {StageFailed, StageQuarantined},
	}
	var j *Job
	var err error
	for _, st := range paths[stage] {
		j, err = s.Update(context.Background(), id, func(j *Job) error {
			j.Stage = st
			if st == StageFailed {
				j.LastError = &JobError{Code: "InternalError", Message: "boom"}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("drive %s to %s: %v", id, st, err)
		}
		mustCheck(t, s)
	}
	if j == nil {
		j, err = s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
	}
	return j
}

func wantErrIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want one matching %v", err, target)
	}
}

// bulkEnqueue enqueues n jobs (keys testKey(from..from+n-1)) in one
// transaction each 10,000, and applies set to each new job: a fast setup for
// large stores.
func bulkEnqueue(t testing.TB, s *Store, from, n int, a Attrs, set func(*Job)) {
	t.Helper()
	const batch = 10000
	for start := from; start < from+n; start += batch {
		end := min(start+batch, from+n)
		err := s.write(context.Background(), "bulk enqueue", func(tx *bolt.Tx) error {
			for i := start; i < end; i++ {
				j, _, err := s.enqueueTx(tx, testKey(i), a)
				if err != nil {
					return err
				}
				if set != nil {
					next := j.Clone()
					set(next)
					if err := putJob(tx, j, next); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("bulk enqueue: %v", err)
		}
	}
}
