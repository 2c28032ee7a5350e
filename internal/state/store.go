// Package state keeps vodwatchd's durable job records (stage machine,
// resumable checkpoints, results) in a bbolt file with consistent indexes.
package state

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bMeta     = []byte("meta")
	bJobs     = []byte("jobs")        // id -> Job JSON
	bIdentity = []byte("ix_identity") // identityKey(Key) -> identityValue(id, Key) (schema 4)
	bPath     = []byte("ix_path")     // root NUL rel -> id of the path's latest job
	bStage    = []byte("ix_stage")    // stage NUL id -> ""
	bHash     = []byte("ix_hash")     // content hash NUL id -> ""
	bRoots    = []byte("roots")       // watch root -> "" (every root a job ever had)
	bPost     = []byte("ix_post")     // id -> "" for done jobs whose post-action is pending (schema 2)

	allBuckets = [][]byte{bMeta, bJobs, bIdentity, bPath, bStage, bHash, bRoots, bPost, bOutbox, bOutboxDue, bOutboxDead, bFollow, bFileID}

	kSchema  = []byte("schema")
	kCreated = []byte("created")
)

// Store is an open state file. Its methods are safe for concurrent use.
type Store struct {
	path       string
	db         *bolt.DB
	opts       Options
	log        *slog.Logger
	secretsDir string
	changed    chan struct{}

	mu        sync.Mutex
	resumable map[string]struct{} // in flight when the store was opened and not touched since
	// secrets names the jobs that may have a certificate file: those the
	// sweep at open kept and those PutSecret wrote since. Only this
	// process writes the folder (the bbolt lock), so a job not named here
	// has none, and its end costs no unlink.
	secrets map[string]struct{}
	planner atomic.Pointer[Planner]

	commits groupCommit

	records recordCache

	lookalikes lookalikes
}

func newStore(path string, db *bolt.DB, opts Options) *Store {
	return &Store{
		path:       path,
		db:         db,
		opts:       opts,
		log:        opts.Logger,
		secretsDir: path + ".secrets",
		changed:    make(chan struct{}, 1),
		resumable:  map[string]struct{}{},
		secrets:    map[string]struct{}{},
		commits:    groupCommit{wait: sharedWait},
	}
}

// afterOpen migrates or initialises the layout, notes the jobs a crash left
// in flight and removes certificates that no job needs any more.
func (s *Store) afterOpen() error {
	err := s.db.Update(func(tx *bolt.Tx) error { return migrate(tx, s.opts.Now()) })
	if err != nil {
		return storageErr(s.path, "migrate schema", err)
	}
	var inflight []string
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, st := range []Stage{StageApplied, StageUploading, StageCommitting} {
			forEachInStage(tx, st, func(id string) bool { inflight = append(inflight, id); return true })
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state file %s: read in-flight jobs: %w", s.path, err)
	}
	for _, id := range inflight {
		s.resumable[id] = struct{}{}
	}
	if len(inflight) > 0 {
		s.log.Info("jobs interrupted in flight will resume", "count", len(inflight))
	}
	return s.sweepSecrets()
}

// Path is the state file's path.
func (s *Store) Path() string { return s.path }

// ReadOnly reports whether the store was opened read-only.
func (s *Store) ReadOnly() bool { return s.opts.ReadOnly }

// Changed receives a value (coalesced) whenever a job becomes queued:
// enqueued, retried or sent back by Update. The pipeline waits on it.
func (s *Store) Changed() <-chan struct{} { return s.changed }

// Close closes the file and releases its lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("state file %s: close: %w", s.path, err)
	}
	return nil
}

func (s *Store) now() time.Time { return s.opts.Now().UTC() }

func (s *Store) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// write runs fn in a read-write transaction. Errors returned by fn come
// back unchanged; failures of the transaction itself become *StorageError.
//
// Concurrent writes (many workers recording progress) are grouped into one
// transaction and one fsync (groupCommit); fn may therefore run more than
// once and must only change the transaction (every caller builds its
// record afresh from what it reads in tx).
func (s *Store) write(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	return s.writeAs(ctx, op, fn, false)
}

// writeAs is write; shared lets fn wait for the next write's commit
// (groupCommit), at most sharedWait.
func (s *Store) writeAs(ctx context.Context, op string, fn func(tx *bolt.Tx) error, shared bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.opts.ReadOnly {
		return storageErr(s.path, op, ErrReadOnly)
	}
	var logic error
	err := s.commits.do(s.db, func(tx *bolt.Tx) error {
		logic = fn(tx)
		return logic
	}, shared)
	if err != nil && logic != nil && errors.Is(err, logic) {
		return err
	}
	return storageErr(s.path, op, err)
}

func (s *Store) read(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

func pathKey(root, rel string) []byte {
	b := make([]byte, 0, len(root)+len(rel)+1)
	return append(append(append(b, root...), 0), rel...)
}

func pairKey(a string, id string) []byte {
	b := make([]byte, 0, len(a)+len(id)+1)
	return append(append(append(b, a...), 0), id...)
}

func getJob(tx *bolt.Tx, id string) (*Job, error) {
	v := tx.Bucket(bJobs).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	return decodeJob(id, v)
}

func decodeJob(id string, v []byte) (*Job, error) {
	j := new(Job)
	if err := json.Unmarshal(v, j); err != nil {
		return nil, fmt.Errorf("job %s: record unreadable: %w", id, err)
	}
	return j, nil
}

// putJob writes j and moves its stage and hash index entries from old
// (nil for a new job).
func putJob(tx *bolt.Tx, old, j *Job) error {
	_, err := putJobRaw(tx, old, j)
	return err
}

// putJobRaw is putJob, returning the record's bytes.
func putJobRaw(tx *bolt.Tx, old, j *Job) ([]byte, error) {
	v, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("job %s: encode: %w", j.ID, err)
	}
	if err := tx.Bucket(bJobs).Put([]byte(j.ID), v); err != nil {
		return nil, err
	}
	return v, putIndexes(tx, old, j)
}

// putIndexes moves j's stage, hash and post index entries from old.
func putIndexes(tx *bolt.Tx, old, j *Job) error {
	if old != nil && old.Key != j.Key {
		// A new inode or ctime adopted (Reconcile, or a job taking its
		// rewritten file again): the identity index carries them.
		if err := tx.Bucket(bIdentity).Put(identityKey(j.Key), identityValue(j.ID, j.Key)); err != nil {
			return err
		}
	}
	st, hs := tx.Bucket(bStage), tx.Bucket(bHash)
	if old != nil && old.Stage != j.Stage {
		if err := st.Delete(pairKey(string(old.Stage), j.ID)); err != nil {
			return err
		}
	}
	if old == nil || old.Stage != j.Stage {
		if err := st.Put(pairKey(string(j.Stage), j.ID), nil); err != nil {
			return err
		}
	}
	if old != nil && old.ContentHash != j.ContentHash && old.ContentHash != "" {
		if err := hs.Delete(pairKey(old.ContentHash, j.ID)); err != nil {
			return err
		}
	}
	if j.ContentHash != "" && (old == nil || old.ContentHash != j.ContentHash) {
		if err := hs.Put(pairKey(j.ContentHash, j.ID), nil); err != nil {
			return err
		}
	}
	if err := putPostIndex(tx, old, j); err != nil {
		return err
	}
	return putPlayIndexes(tx, old, j)
}

// postPending reports whether j is done with its post-action still to run.
func postPending(j *Job) bool { return j.Stage == StageDone && j.Post.State == PostPending }

// putPostIndex keeps ix_post in step with j.
func putPostIndex(tx *bolt.Tx, old, j *Job) error {
	had, want := old != nil && postPending(old), postPending(j)
	switch {
	case had && !want:
		return tx.Bucket(bPost).Delete([]byte(j.ID))
	case want && !had:
		return tx.Bucket(bPost).Put([]byte(j.ID), nil)
	}
	return nil
}

// addPostIndex migrates schema 1 to 2: it builds ix_post from the done jobs.
func addPostIndex(tx *bolt.Tx) error {
	b, err := tx.CreateBucketIfNotExists(bPost)
	if err != nil {
		return err
	}
	return forEachDoneJob(tx, func(j *Job) error {
		if postPending(j) {
			return b.Put([]byte(j.ID), nil)
		}
		return nil
	})
}

// forEachDoneJob calls fn with every done job (for migrations that build
// an index from them), stopping at the first error.
func forEachDoneJob(tx *bolt.Tx, fn func(*Job) error) error {
	var ferr error
	forEachInStage(tx, StageDone, func(id string) bool {
		var j *Job
		if j, ferr = getJob(tx, id); ferr != nil {
			return false
		}
		ferr = fn(j)
		return ferr == nil
	})
	return ferr
}

// PostPending returns the done jobs whose post-action has not run yet
// (a crash or a failure left it), without reading every done job.
func (s *Store) PostPending(ctx context.Context) ([]*Job, error) {
	return s.jobsIndexed(ctx, bPost, "pending post-actions")
}

// jobsIndexed returns the jobs whose ids are the keys of the index bucket
// ix (what names them in an error).
func (s *Store) jobsIndexed(ctx context.Context, ix []byte, what string) ([]*Job, error) {
	var jobs []*Job
	err := s.read(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(ix).ForEach(func(k, _ []byte) error {
			j, err := getJob(tx, string(k))
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("state: %s: %w", what, err)
	}
	return jobs, nil
}

// forEachPrefix calls fn for each key of b starting with prefix until fn
// returns false.
func forEachPrefix(b *bolt.Bucket, prefix []byte, fn func(k, v []byte) bool) {
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if !fn(k, v) {
			return
		}
	}
}

func forEachInStage(tx *bolt.Tx, st Stage, fn func(id string) bool) {
	prefix := pairKey(string(st), "")
	forEachPrefix(tx.Bucket(bStage), prefix, func(k, _ []byte) bool {
		return fn(string(k[len(prefix):]))
	})
}

// Enqueue records a new queued job for key, or returns the existing job
// with that identity (created false): the same drop seen twice is one job.
func (s *Store) Enqueue(ctx context.Context, key Key, attrs Attrs) (*Job, bool, error) {
	if err := attrs.check(key); err != nil {
		return nil, false, err
	}
	attrs.Kind = cmp.Or(attrs.Kind, KindFile)
	var job *Job
	var created bool
	err := s.write(ctx, "enqueue "+key.Path(), func(tx *bolt.Tx) error {
		var err error
		job, created, err = s.enqueueTx(tx, key, attrs)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if created {
		s.signal()
	}
	return job, created, nil
}

// NewJob asks EnqueueMany for one job.
type NewJob struct {
	Key   Key
	Attrs Attrs
}

// Enqueued is EnqueueMany's answer for one NewJob: the job (new or the
// existing one with that identity) or the error that refused it.
type Enqueued struct {
	Job     *Job
	Created bool
	Err     error
}

// EnqueueMany is Enqueue for many jobs in one transaction and one fsync:
// a folder of thousands of files dropped at once. A job refused on its own
// (an invalid key) does not stop the others; an error of the write itself
// is returned and nothing is recorded.
func (s *Store) EnqueueMany(ctx context.Context, jobs []NewJob) ([]Enqueued, error) {
	out := make([]Enqueued, len(jobs))
	valid := false
	for i := range jobs {
		out[i].Err = jobs[i].Attrs.check(jobs[i].Key)
		if out[i].Err == nil {
			jobs[i].Attrs.Kind = cmp.Or(jobs[i].Attrs.Kind, KindFile)
			valid = true
		}
	}
	if !valid {
		return out, nil
	}
	created := false
	err := s.write(ctx, fmt.Sprintf("enqueue %d jobs", len(jobs)), func(tx *bolt.Tx) error {
		created = false // Batch may run fn again
		for i, nj := range jobs {
			if jobs[i].Attrs.check(nj.Key) != nil {
				continue
			}
			j, c, err := s.enqueueTx(tx, nj.Key, nj.Attrs)
			if err != nil {
				return err
			}
			out[i] = Enqueued{Job: j, Created: c}
			created = created || c
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if created {
		s.signal()
	}
	return out, nil
}

// check validates a new job's key and kind.
func (a Attrs) check(key Key) error {
	if err := key.Validate(); err != nil {
		return err
	}
	if a.Kind != "" && a.Kind != KindFile && a.Kind != KindBundle {
		return fmt.Errorf("job %s: unknown kind %q", key.Path(), a.Kind)
	}
	return nil
}

// enqueueTx is Enqueue inside tx.
func (s *Store) enqueueTx(tx *bolt.Tx, key Key, attrs Attrs) (*Job, bool, error) {
	ident := identityKey(key)
	if v := tx.Bucket(bIdentity).Get(ident); v != nil {
		id, _ := parseIdentityValue(v)
		j, err := getJob(tx, id)
		return j, false, err
	}
	j, err := s.newJob(tx, key, attrs)
	if err != nil {
		return nil, false, err
	}
	v, err := putJobRaw(tx, nil, j)
	if err != nil {
		return nil, false, err
	}
	s.records.put(j.ID, v, j.Clone()) // the worker that takes it reads it next
	s.lookalikes.noteOnCommit(tx, key, j.ID)
	if err := tx.Bucket(bIdentity).Put(ident, identityValue(j.ID, key)); err != nil {
		return nil, false, err
	}
	if err := tx.Bucket(bPath).Put(pathKey(key.Root, key.Rel), []byte(j.ID)); err != nil {
		return nil, false, err
	}
	return j, true, tx.Bucket(bRoots).Put([]byte(key.Root), nil)
}

func (s *Store) newJob(tx *bolt.Tx, key Key, a Attrs) (*Job, error) {
	id := key.ID()
	if tx.Bucket(bJobs).Get([]byte(id)) != nil {
		return nil, fmt.Errorf("job %s: id already used by another identity (hash collision)", id)
	}
	seq, err := tx.Bucket(bJobs).NextSequence()
	if err != nil {
		return nil, err
	}
	now := s.now()
	bytesTotal := a.Bytes
	if bytesTotal <= 0 {
		bytesTotal = key.Size
	}
	j := &Job{
		ID: id, Seq: seq, Key: key, Kind: a.Kind, Rule: a.Rule, Cover: a.Cover, Stage: StageQueued,
		Created: now, Updated: now, Bytes: bytesTotal, SourceContext: a.SourceContext,
		MediaName: a.MediaName, Priority: a.Priority, ContentHash: a.ContentHash, Replaces: a.Replaces,
	}
	j.record("", StageQueued, now, "enqueued")
	return j, nil
}

// Lookup returns the job with identity key, if any.
func (s *Store) Lookup(ctx context.Context, key Key) (*Job, bool, error) {
	var job *Job
	err := s.read(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bIdentity).Get(identityKey(key))
		if v == nil {
			return nil
		}
		id, _ := parseIdentityValue(v)
		j, err := getJob(tx, id)
		job = j
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("state: lookup %s: %w", key.Path(), err)
	}
	return job, job != nil, nil
}

// Seen reports whether a job with identity key exists and its id and stage,
// without decoding the record: the cheap check for a catch-up scan over
// many already-uploaded files.
func (s *Store) Seen(ctx context.Context, key Key) (id string, stage Stage, ok bool, err error) {
	err = s.read(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bIdentity).Get(identityKey(key))
		if v == nil {
			return nil
		}
		id, _ = parseIdentityValue(v)
		st := tx.Bucket(bStage)
		for _, candidate := range allStages {
			if st.Get(pairKey(string(candidate), id)) != nil {
				stage, ok = candidate, true
				return nil
			}
		}
		return fmt.Errorf("job %s: in no stage index: %w", id, ErrCorrupt)
	})
	if err != nil {
		return "", "", false, fmt.Errorf("state: seen %s: %w", key.Path(), err)
	}
	return id, stage, ok, nil
}

// Get returns the job with id, or the one job whose id starts with id
// (at least 4 hex digits). Errors wrap ErrNotFound or ErrAmbiguous.
func (s *Store) Get(ctx context.Context, id string) (*Job, error) {
	var job *Job
	err := s.read(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bJobs).Get([]byte(id)) != nil {
			j, err := s.records.job(tx, id)
			job = j
			return err
		}
		if len(id) < 4 || len(id) >= 16 {
			return fmt.Errorf("job %q: %w", id, ErrNotFound)
		}
		var ids []string
		forEachPrefix(tx.Bucket(bJobs), []byte(id), func(k, _ []byte) bool {
			ids = append(ids, string(k))
			return len(ids) < 2
		})
		switch len(ids) {
		case 0:
			return fmt.Errorf("job %q: %w", id, ErrNotFound)
		case 2:
			return fmt.Errorf("job %q: %w", id, ErrAmbiguous)
		}
		j, err := getJob(tx, ids[0])
		job = j
		return err
	})
	return job, err
}

// StageOf returns the recorded stage of job id (its full id): what a
// caller that only asks "where is this job now?" needs, read from the
// decoded-record cache or, failing that, from the stage field alone, so
// that the question costs no decoding of the whole record.
func (s *Store) StageOf(ctx context.Context, id string) (Stage, error) {
	var st Stage
	err := s.read(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bJobs).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("job %q: %w", id, ErrNotFound)
		}
		if j := s.records.peek(id, v); j != nil {
			st = j.Stage
			return nil
		}
		var rec struct {
			Stage Stage `json:"stage"`
		}
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("job %s: record unreadable: %w", id, err)
		}
		st = rec.Stage
		return nil
	})
	return st, err
}

// ByPath returns the latest job for the file at rel under root.
func (s *Store) ByPath(ctx context.Context, root, rel string) (*Job, bool, error) {
	var job *Job
	err := s.read(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bPath).Get(pathKey(root, rel))
		if id == nil {
			return nil
		}
		j, err := getJob(tx, string(id))
		job = j
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("state: job for %s: %w", rel, err)
	}
	return job, job != nil, nil
}

// ByContentHash returns the jobs whose content hash is hash (for dedupe:
// a done one among them already has a FileId).
func (s *Store) ByContentHash(ctx context.Context, hash string) ([]*Job, error) {
	if hash == "" {
		return nil, nil
	}
	var jobs []*Job
	err := s.read(ctx, func(tx *bolt.Tx) error {
		prefix := pairKey(hash, "")
		var ids []string
		forEachPrefix(tx.Bucket(bHash), prefix, func(k, _ []byte) bool {
			ids = append(ids, string(k[len(prefix):]))
			return true
		})
		for _, id := range ids {
			j, err := getJob(tx, id)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	return jobs, err
}

// Update applies fn to a copy of job id and stores the result in one
// transaction, with its indexes. fn's error aborts the update and is
// returned unchanged. The stage move must be legal (ErrTransition); the
// identity, id, kind, sequence and creation time cannot change. When a job
// leaves applied/uploading/committing its temporary certificate is deleted.
func (s *Store) Update(ctx context.Context, id string, fn func(*Job) error) (*Job, error) {
	return s.UpdateNotify(ctx, id, fn, nil)
}

// UpdateShared is Update for a writer that can wait a few milliseconds
// for company: the record before CommitUpload, the done record after it.
// It starts no commit of its own while other jobs' writes are coming: it
// rides with the next write of any job, or is committed sharedWait later
// at the latest. It is as durable as Update when it returns, so a record
// written with it still precedes the remote call its caller makes next.
func (s *Store) UpdateShared(ctx context.Context, id string, fn func(*Job) error) (*Job, error) {
	return s.update(ctx, id, fn, nil, true)
}

// sharedWait is the longest a shared write waits for another write to
// share its commit with (one fsync pair for both).
const sharedWait = 10 * time.Millisecond

// apply validates the move from cur to next, stamps times and history, and
// writes next with its index entries.
func (s *Store) apply(tx *bolt.Tx, cur, next *Job, note string) error {
	switch {
	case next.ID != cur.ID || !sameIdentity(next.Key, cur.Key) || next.Seq != cur.Seq:
		return fmt.Errorf("job %s: id, identity and sequence cannot change", cur.ID)
	case !next.Created.Equal(cur.Created) || next.Kind != cur.Kind:
		return fmt.Errorf("job %s: kind and creation time cannot change", cur.ID)
	case !CanMove(cur.Stage, next.Stage):
		return fmt.Errorf("job %s: %s -> %q: %w", cur.ID, cur.Stage, next.Stage, ErrTransition)
	case len(next.Checkpoint) > 0 && !json.Valid(next.Checkpoint):
		return fmt.Errorf("job %s: checkpoint is not valid JSON", cur.ID)
	}
	now := s.now()
	next.Updated = now
	utcTimes(next)
	if next.Stage != cur.Stage {
		next.record(cur.Stage, next.Stage, now, note)
		if next.Stage.InFlight() && next.Started.IsZero() {
			next.Started = now
		}
		if next.Stage == StageDone || next.Stage == StageQuarantined {
			next.Finished = now
		}
	}
	v, err := putJobRaw(tx, cur, next)
	if err != nil {
		return err
	}
	s.records.put(next.ID, v, next.Clone())
	return nil
}

// utcTimes stores the times callers set in UTC without a monotonic
// reading, as the record reads back: the cached copy of a record written
// (recordCache) is then the same as its decoded bytes.
func utcTimes(j *Job) {
	j.NextRetry, j.SessionExpires = j.NextRetry.UTC(), j.SessionExpires.UTC()
	if j.LastError != nil {
		j.LastError.At = j.LastError.At.UTC()
	}
}

func (s *Store) afterChange(ctx context.Context, old, next *Job) {
	s.mu.Lock()
	delete(s.resumable, next.ID)
	s.mu.Unlock()
	if old.Stage.InFlight() && !next.Stage.InFlight() {
		if err := s.DeleteSecret(ctx, next.ID); err != nil {
			s.log.Warn("cannot delete temporary certificate", "job", next.ID, "err", err)
		}
	}
	if next.Stage == StageQueued && old.Stage != StageQueued {
		s.signal()
	}
}

// Resume offers job id to Due again while it is in flight: a job whose
// record could not be moved on (a full disk after its CommitUpload) is
// settled in this run, not only after a restart.
func (s *Store) Resume(id string) {
	s.mu.Lock()
	s.resumable[id] = struct{}{}
	s.mu.Unlock()
	s.signal()
}

// Retry puts a failed or quarantined job back in the queue with its
// attempts reset. Its quarantine path is kept: the pipeline takes the file
// from there (Job.SourcePath).
func (s *Store) Retry(ctx context.Context, id string) (*Job, error) {
	var old, out *Job
	err := s.write(ctx, "retry job "+id, func(tx *bolt.Tx) error {
		cur, err := getJob(tx, id)
		if err != nil {
			return err
		}
		if cur.Stage != StageFailed && cur.Stage != StageQuarantined {
			return fmt.Errorf("job %s is %s: %w", id, cur.Stage, ErrNotRetryable)
		}
		next := cur.Clone()
		next.Stage, next.Attempts, next.NextRetry, next.LastError = StageQueued, 0, time.Time{}, nil
		if err := s.apply(tx, cur, next, "retry"); err != nil {
			return err
		}
		old, out = cur, next
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.afterChange(ctx, old, out)
	return out, nil
}

// Forget deletes job id and its index entries so the file can be uploaded
// again on purpose. A job in flight is refused (ErrInFlight) unless force.
func (s *Store) Forget(ctx context.Context, id string, force bool) error {
	err := s.write(ctx, "forget job "+id, func(tx *bolt.Tx) error {
		j, err := getJob(tx, id)
		if err != nil {
			return err
		}
		if j.Stage.InFlight() && !force {
			return fmt.Errorf("job %s is %s: %w (use --force to forget it anyway)", id, j.Stage, ErrInFlight)
		}
		return deleteJob(tx, j)
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.resumable, id)
	s.mu.Unlock()
	if err := s.DeleteSecret(ctx, id); err != nil {
		s.log.Warn("cannot delete temporary certificate", "job", id, "err", err)
	}
	return nil
}

func deleteJob(tx *bolt.Tx, j *Job) error {
	id := []byte(j.ID)
	dels := []struct {
		b []byte
		k []byte
	}{
		{bJobs, id},
		{bPost, id},
		{bIdentity, identityKey(j.Key)},
		{bStage, pairKey(string(j.Stage), j.ID)},
	}
	if j.ContentHash != "" {
		dels = append(dels, struct{ b, k []byte }{bHash, pairKey(j.ContentHash, j.ID)})
	}
	for _, d := range dels {
		if err := tx.Bucket(d.b).Delete(d.k); err != nil {
			return err
		}
	}
	if err := deletePlayIndexes(tx, j); err != nil {
		return err
	}
	pk := pathKey(j.Key.Root, j.Key.Rel)
	if !bytes.Equal(tx.Bucket(bPath).Get(pk), id) {
		return nil
	}
	latest, err := latestForPath(tx, j.Key.Root, j.Key.Rel)
	if err != nil || latest == "" {
		if err == nil {
			err = tx.Bucket(bPath).Delete(pk)
		}
		return err
	}
	return tx.Bucket(bPath).Put(pk, []byte(latest))
}

// latestForPath returns the id of the newest job (highest Seq) for a path.
func latestForPath(tx *bolt.Tx, root, rel string) (string, error) {
	var best string
	var bestSeq uint64
	var err error
	forEachPrefix(tx.Bucket(bIdentity), append(pathKey(root, rel), 0), func(_, v []byte) bool {
		var j *Job
		id, _ := parseIdentityValue(v)
		if j, err = getJob(tx, id); err != nil {
			return false
		}
		if best == "" || j.Seq > bestSeq {
			best, bestSeq = j.ID, j.Seq
		}
		return true
	})
	return best, err
}

// Stats counts jobs per stage.
func (s *Store) Stats(ctx context.Context) (map[Stage]int, error) {
	out := map[Stage]int{}
	err := s.read(ctx, func(tx *bolt.Tx) error {
		for _, st := range allStages {
			n := 0
			forEachInStage(tx, st, func(string) bool { n++; return true })
			out[st] = n
		}
		return nil
	})
	return out, err
}

// sortJobs orders jobs by path, then enqueue order.
func sortJobs(jobs []*Job) {
	sort.Slice(jobs, func(a, b int) bool {
		x, y := jobs[a], jobs[b]
		if x.Key.Root != y.Key.Root {
			return x.Key.Root < y.Key.Root
		}
		if x.Key.Rel != y.Key.Rel {
			return x.Key.Rel < y.Key.Rel
		}
		return x.Seq < y.Seq
	})
}
