package state

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vodwatchd/vodwatchd/internal/hooks"
	"github.com/vodwatchd/vodwatchd/internal/vodoutput"
)

// After done, a job whose rule sets a procedure goes on to playable. Its
// Stage stays done (the upload is committed exactly once); Job.Play says
// how far VOD got with it. Two indexes (schema 3) serve the follower:
// the jobs still processing, and the done jobs by FileId.
var (
	bFollow = []byte("ix_follow")  // id -> "" for done jobs whose Play is processing
	bFileID = []byte("ix_file_id") // FileId NUL id -> "" for done jobs
)

// PlayState is where a done job is on its way to playable.
type PlayState string

// Play states.
const (
	PlayProcessing PlayState = "processing"        // the procedure runs
	PlayReady      PlayState = "ready"             // playable (at commit when there is no procedure)
	PlayFailed     PlayState = "processing_failed" // the procedure failed: Play.Error says why
)

// Terminal reports whether nothing changes a job in state p any more.
func (p PlayState) Terminal() bool { return p == PlayReady || p == PlayFailed }

// Play is a done job's progress to playable.
type Play struct {
	State    PlayState          `json:"state"`
	TaskID   string             `json:"task_id,omitempty"`
	Progress int                `json:"progress,omitempty"` // percent
	Outputs  *vodoutput.Outputs `json:"outputs,omitempty"`
	Error    *JobError          `json:"error,omitempty"`
	Updated  time.Time          `json:"updated,omitzero"`
}

func (p *Play) clone() *Play {
	if p == nil {
		return nil
	}
	c := *p
	if p.Outputs != nil {
		o := *p.Outputs
		c.Outputs = &o
	}
	if p.Error != nil {
		e := *p.Error
		c.Error = &e
	}
	return &c
}

// DisplayStage is the stage a person is shown: a done job's play state
// once it has one, else its stage.
func (j *Job) DisplayStage() string {
	if j.Stage == StageDone && j.Play != nil && j.Play.State != "" {
		return string(j.Play.State)
	}
	return string(j.Stage)
}

// PostWaiting is the post-action state of a done job whose post-action
// waits for ready (after.when: ready); ready makes it pending.
const PostWaiting PostState = "waiting"

func following(j *Job) bool {
	return j.Stage == StageDone && j.Play != nil && j.Play.State == PlayProcessing
}

func fileIDOf(j *Job) string {
	if j.Stage != StageDone {
		return ""
	}
	return j.Result.FileID
}

// putPlayIndexes keeps ix_follow and ix_file_id in step with j.
func putPlayIndexes(tx *bolt.Tx, old, j *Job) error {
	fb, ib := tx.Bucket(bFollow), tx.Bucket(bFileID)
	had, want := old != nil && following(old), following(j)
	switch {
	case had && !want:
		if err := fb.Delete([]byte(j.ID)); err != nil {
			return err
		}
	case want && !had:
		if err := fb.Put([]byte(j.ID), nil); err != nil {
			return err
		}
	}
	var was string
	if old != nil {
		was = fileIDOf(old)
	}
	now := fileIDOf(j)
	if was == now {
		return nil
	}
	if was != "" {
		if err := ib.Delete(pairKey(was, j.ID)); err != nil {
			return err
		}
	}
	if now != "" {
		return ib.Put(pairKey(now, j.ID), nil)
	}
	return nil
}

func deletePlayIndexes(tx *bolt.Tx, j *Job) error {
	if err := tx.Bucket(bFollow).Delete([]byte(j.ID)); err != nil {
		return err
	}
	if id := fileIDOf(j); id != "" {
		return tx.Bucket(bFileID).Delete(pairKey(id, j.ID))
	}
	return nil
}

// addPlayAndOutbox migrates schema 2 to 3: the hook outbox, and the play
// indexes built from the done jobs (which have no Play yet: they are not
// followed, but events about their media are recognised).
func addPlayAndOutbox(tx *bolt.Tx) error {
	if err := addOutbox(tx); err != nil {
		return err
	}
	for _, b := range [][]byte{bFollow, bFileID} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	return forEachDoneJob(tx, func(j *Job) error { return putPlayIndexes(tx, nil, j) })
}

// Following returns the done jobs whose procedure is still processing.
func (s *Store) Following(ctx context.Context) ([]*Job, error) {
	return s.jobsIndexed(ctx, bFollow, "jobs being processed")
}

// ByFileID returns the done jobs whose media is fileID (several when
// content dedupe linked them to one media).
func (s *Store) ByFileID(ctx context.Context, fileID string) ([]*Job, error) {
	if fileID == "" {
		return nil, nil
	}
	var jobs []*Job
	err := s.read(ctx, func(tx *bolt.Tx) error {
		prefix := pairKey(fileID, "")
		var err error
		forEachPrefix(tx.Bucket(bFileID), prefix, func(k, _ []byte) bool {
			var j *Job
			if j, err = getJob(tx, string(k[len(prefix):])); err != nil {
				return false
			}
			jobs = append(jobs, j)
			return true
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("state: jobs of FileId %s: %w", fileID, err)
	}
	return jobs, nil
}

// PlayUpdate is what the follower learned about a done job.
type PlayUpdate struct {
	State    PlayState
	TaskID   string
	Progress int
	Outputs  *vodoutput.Outputs
	Error    *JobError
}

// Planner returns the hook deliveries a change of a job causes (nil:
// none); the store writes them in the transaction of the change.
type Planner func(old, next *Job) []hooks.Delivery

// UpdatePlay records u on done job id, with the hook deliveries plan
// returns, in one transaction; changed is false when u told nothing new
// (the job already went past it, or the same progress again). Ready makes
// a post-action that waits for it pending.
func (s *Store) UpdatePlay(ctx context.Context, id string, u PlayUpdate, plan Planner) (job *Job, changed bool, err error) {
	if u.State != PlayProcessing && u.State != PlayReady && u.State != PlayFailed {
		return nil, false, fmt.Errorf("job %s: unknown play state %q", id, u.State)
	}
	job, err = s.UpdateNotify(ctx, id, func(n *Job) error {
		changed = false
		if n.Stage != StageDone {
			return fmt.Errorf("job %s is %s, not done: %w", id, n.Stage, ErrTransition)
		}
		if n.Play != nil && n.Play.State.Terminal() {
			return nil
		}
		p := n.Play.clone()
		if p == nil {
			p = &Play{}
		}
		if p.State == u.State && p.Progress == u.Progress && (u.TaskID == "" || p.TaskID == u.TaskID) {
			return nil
		}
		changed = true
		p.State, p.Progress, p.Updated = u.State, min(max(u.Progress, 0), 100), s.now()
		if u.TaskID != "" {
			p.TaskID = u.TaskID
		}
		p.Outputs, p.Error = u.Outputs, u.Error
		n.Play = p
		if u.State == PlayReady && n.Post.State == PostWaiting {
			n.Post.State = PostPending
		}
		return nil
	}, func(old, next *Job) []hooks.Delivery {
		if !changed {
			return nil
		}
		if plan == nil {
			plan = s.Planner()
		}
		if plan == nil {
			return nil
		}
		return plan(old, next)
	})
	if err != nil {
		return nil, false, err
	}
	return job, changed, nil
}

// SetPlanner installs the planner Update consults on every change.
func (s *Store) SetPlanner(p Planner) { s.planner.Store(&p) }

// Planner is the installed planner (nil when none).
func (s *Store) Planner() Planner {
	if p := s.planner.Load(); p != nil {
		return *p
	}
	return nil
}

// UpdateNotify is Update that also writes the hook deliveries plan (the
// installed planner when nil) returns for the change, in the same
// transaction: a crash loses neither or both.
func (s *Store) UpdateNotify(ctx context.Context, id string, fn func(*Job) error, plan Planner) (*Job, error) {
	return s.update(ctx, id, fn, plan, false)
}

func (s *Store) update(ctx context.Context, id string, fn func(*Job) error, plan Planner, shared bool) (*Job, error) {
	if plan == nil {
		plan = s.Planner()
	}
	var old, out *Job
	err := s.writeAs(ctx, "update job "+id, func(tx *bolt.Tx) error {
		cur, err := s.records.job(tx, id)
		if err != nil {
			return err
		}
		next := cur.Clone()
		if err := fn(next); err != nil {
			return err
		}
		if err := s.apply(tx, cur, next, ""); err != nil {
			return err
		}
		if plan != nil {
			if err := enqueueTx(tx, plan(cur, next)); err != nil {
				return err
			}
		}
		old, out = cur, next
		return nil
	}, shared)
	if err != nil {
		return nil, err
	}
	s.afterChange(ctx, old, out)
	return out, nil
}

// checkPlayIndexes verifies ix_follow and ix_file_id against the jobs.
func checkPlayIndexes(tx *bolt.Tx, jobs map[string]*Job) error {
	nf, ni := 0, 0
	for id, j := range jobs {
		if following(j) {
			nf++
			if tx.Bucket(bFollow).Get([]byte(id)) == nil {
				return fmt.Errorf("check: job %s: missing from the follow index", id)
			}
		}
		if f := fileIDOf(j); f != "" {
			ni++
			if tx.Bucket(bFileID).Get(pairKey(f, id)) == nil {
				return fmt.Errorf("check: job %s: missing from the FileId index", id)
			}
		}
	}
	if n := tx.Bucket(bFollow).Stats().KeyN; n != nf {
		return fmt.Errorf("check: follow index has %d entries for %d processing jobs", n, nf)
	}
	if n := tx.Bucket(bFileID).Stats().KeyN; n != ni {
		return fmt.Errorf("check: FileId index has %d entries for %d done jobs", n, ni)
	}
	return nil
}
