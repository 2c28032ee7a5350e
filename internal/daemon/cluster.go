package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/rules"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// Cluster coordinates this node with the other nodes watching the same
// folders (config cluster:). Jobs are named by their id, which depends on
// the file only, so every node names a file's job the same.
type Cluster interface {
	// Claim asks for the job before it runs on this node.
	Claim(ctx context.Context, j *state.Job) (ClusterClaim, error)
	// Confirm checks that this node still holds the job right before its
	// CommitUpload; an error means: do not commit.
	Confirm(ctx context.Context, jobID string) error
	// Record registers the job's commit cluster-wide and returns the
	// result that holds: res, or an earlier node's commit (res was then
	// a duplicate, and it has been deleted).
	Record(ctx context.Context, j *state.Job, res uploader.Result) (uploader.Result, error)
	// PostDone marks the job's post-action done and releases the job.
	PostDone(ctx context.Context, jobID string) error
	// Release lets other nodes take a job this node will not finish.
	Release(ctx context.Context, jobID string)
	// Accepting reports whether the node may take jobs (a live lease).
	Accepting() bool
	// HeldElsewhere reports (from a cache) whether another node holds
	// the job: the scheduler leaves it alone.
	HeldElsewhere(jobID string) bool
	// Changed is signalled when jobs are released somewhere.
	Changed() <-chan struct{}
}

// ClusterClaimStatus is the answer to a claim.
type ClusterClaimStatus int

// The claim answers.
const (
	ClaimAcquired  ClusterClaimStatus = iota // run the job here
	ClaimElsewhere                           // another node runs it
	ClaimDone                                // done cluster-wide, post-action included
)

// ClusterClaim is what a claim found.
type ClusterClaim struct {
	Status ClusterClaimStatus
	Holder string // ClaimElsewhere
	// Done is the job's registered commit: with ClaimDone, or with
	// ClaimAcquired when its post-action is left for this node to run.
	Done *uploader.Result
	// SettleSince is set when another node may have committed the job
	// (it confirmed its claim at that time, then lost it): VOD is searched
	// by SourceContext before anything is uploaded.
	SettleSince time.Time
}

// ErrClaimLost is returned before a CommitUpload this node may no longer
// send: its claim expired or was taken over.
var ErrClaimLost = errors.New("cluster claim lost: not committing")

// clusterAccepting reports whether the scheduler may start jobs.
func (d *Daemon) clusterAccepting() bool {
	return d.opts.Cluster == nil || d.opts.Cluster.Accepting()
}

// clusterChanged is the cluster's change signal (nil without a cluster).
func (d *Daemon) clusterChanged() <-chan struct{} {
	if d.opts.Cluster == nil {
		return nil
	}
	return d.opts.Cluster.Changed()
}

// heldElsewhere reports whether the scheduler must leave the job to
// another node.
func (d *Daemon) heldElsewhere(id string) bool {
	return d.opts.Cluster != nil && d.opts.Cluster.HeldElsewhere(id)
}

// claimInCluster asks the cluster for a job about to run. It returns
// false when this node must not upload it now: another node holds it, it
// is done cluster-wide (then recorded done here too), or the cluster
// cannot be asked.
func (d *Daemon) claimInCluster(ctx context.Context, j *state.Job, log *slog.Logger) bool {
	c, err := d.opts.Cluster.Claim(ctx, j)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("cluster: cannot claim the job; it waits", "err", err)
		}
		return false
	}
	switch {
	case c.Status == ClaimElsewhere:
		log.Debug("cluster: another node holds the job", "holder", c.Holder)
		return false
	case c.Done != nil:
		// Done on another node: take its result, never upload again.
		d.adoptDone(ctx, j, *c.Done, c.Status == ClaimDone, log)
		return false
	case !c.SettleSince.IsZero():
		return !d.settleTakeover(ctx, j, c.SettleSince, log)
	}
	return true
}

// settleTakeover looks VOD up for a commit that the job's previous holder
// may have made before it died: found, the job is done with it. It
// returns true when the job needs nothing more uploaded.
func (d *Daemon) settleTakeover(ctx context.Context, j *state.Job, since time.Time, log *slog.Logger) bool {
	sc := sourceContextOf(j, d)
	if d.finder == nil || sc == "" {
		return false
	}
	_, p, err := d.paramsFor(j)
	if err != nil {
		return false
	}
	found, ok, err := d.finder.FindMediaIn(ctx, p.SubAppID, sc, since.Add(-time.Hour))
	if err != nil {
		log.Warn("cluster: looking VOD up for the previous holder's commit failed; the job waits", "err", err)
		d.opts.Cluster.Release(ctx, j.ID)
		return true
	}
	if !ok {
		log.Info("cluster: taking over a job; the previous holder committed nothing", "since", since)
		return false
	}
	log.Info("cluster: taking over a job the previous holder had committed", "file_id", found.FileID)
	d.done(ctx, j, found, "", 0, log, p)
	return true
}

// adoptDone records locally a job that another node committed. With
// postDone the post-action ran there; otherwise this node runs it.
func (d *Daemon) adoptDone(ctx context.Context, j *state.Job, res uploader.Result, postDone bool, log *slog.Logger) {
	_, p, err := d.paramsFor(j)
	if err != nil {
		p = rules.Params{}
	}
	mutate := func(n *state.Job) {
		n.Stage = state.StageDone
		n.Result = state.Result{FileID: res.FileID, MediaURL: res.MediaURL, CoverURL: res.CoverURL, RequestID: res.RequestID}
		n.LastError, n.NextRetry, n.BytesDone = nil, time.Time{}, n.Bytes
		n.Post = state.Post{State: state.PostPending, Action: string(p.After.Action)}
		if postDone {
			n.Post.State = state.PostDone
		}
	}
	ctx = context.WithoutCancel(ctx)
	nj, err := d.store.Update(ctx, j.ID, func(n *state.Job) error {
		if !state.CanMove(n.Stage, state.StageDone) {
			n.Stage = state.StageQueued // applied/uploading/committing: done goes through queued
			return nil
		}
		mutate(n)
		return nil
	})
	if err == nil && nj.Stage != state.StageDone {
		nj, err = d.store.Update(ctx, j.ID, func(n *state.Job) error { mutate(n); return nil })
	}
	if err != nil {
		log.Error("cluster: recording a job done by another node failed", "err", err)
		d.noteStateError(err)
		return
	}
	log.Info("cluster: job done by another node; not uploaded here", "file_id", res.FileID, "post_action_done", postDone)
	if !postDone {
		d.runPost(ctx, nj, log)
	}
}

// recordInCluster registers a done job's commit before its post-action.
// It returns the job as it stands (its result replaced when another node
// committed first) and whether this node runs the post-action.
func (d *Daemon) recordInCluster(ctx context.Context, j *state.Job, log *slog.Logger) (*state.Job, bool) {
	res := uploader.Result{FileID: j.Result.FileID, MediaURL: j.Result.MediaURL, CoverURL: j.Result.CoverURL, RequestID: j.Result.RequestID}
	held, err := d.opts.Cluster.Record(ctx, j, res)
	if err != nil {
		log.Warn("cluster: registering the commit failed; the post-action waits", "err", err)
		d.sched.retryPostIn(j.ID, time.Second)
		return j, false
	}
	if held.FileID != res.FileID {
		log.Warn("cluster: another node committed this job first; this node's copy was deleted", "file_id", held.FileID, "deleted", res.FileID)
		nj, err := d.store.Update(context.WithoutCancel(ctx), j.ID, func(n *state.Job) error {
			n.Result = state.Result{FileID: held.FileID, MediaURL: held.MediaURL, CoverURL: held.CoverURL}
			return nil
		})
		if err != nil {
			d.noteStateError(err)
			return j, false
		}
		j = nj
	}
	// The job's holder runs the post-action: this node when it holds the
	// job or can claim it again.
	c, err := d.opts.Cluster.Claim(ctx, j)
	if err != nil {
		log.Warn("cluster: cannot claim the job for its post-action; it waits", "err", err)
		d.sched.retryPostIn(j.ID, time.Second)
		return j, false
	}
	if c.Status != ClaimAcquired {
		log.Info("cluster: the post-action is left to the job's holder", "holder", c.Holder)
		if _, err := d.store.Update(context.WithoutCancel(ctx), j.ID, func(n *state.Job) error {
			n.Post.State, n.Post.LastError = state.PostDone, ""
			return nil
		}); err != nil {
			d.noteStateError(err)
		}
		return j, false
	}
	return j, true
}

// CodeClaimLost is the error code of a job whose cluster claim was lost
// before its commit (nothing was committed).
const CodeClaimLost = "ClusterClaimLost"

// claimLost puts back a job this node may no longer commit: whichever
// node claims it next runs it. A job that never sent its CommitUpload
// starts over; one whose commit may have been sent keeps its checkpoint,
// to be settled, and waits briefly as failed (no attempt counted).
func (d *Daemon) claimLost(ctx context.Context, j *state.Job, log *slog.Logger, cause error) {
	log.Warn("cluster: claim lost before the commit; nothing committed, the job goes to whichever node claims it", "err", cause)
	_, err := d.store.Update(context.WithoutCancel(ctx), j.ID, func(n *state.Job) error {
		if n.Stage == state.StageCommitting {
			n.Stage, n.NextRetry = state.StageFailed, d.now().Add(time.Second)
			n.LastError = &state.JobError{Code: CodeClaimLost, Message: cause.Error(), At: d.now()}
			return nil
		}
		n.Stage, n.Checkpoint, n.BytesDone = state.StageQueued, nil, 0
		return nil
	})
	if err != nil {
		log.Error("recording a lost claim failed", "err", err)
		d.noteStateError(err)
	}
}

// postDoneInCluster marks the post-action done cluster-wide.
func (d *Daemon) postDoneInCluster(ctx context.Context, j *state.Job, log *slog.Logger) {
	if err := d.opts.Cluster.PostDone(context.WithoutCancel(ctx), j.ID); err != nil {
		log.Warn("cluster: marking the post-action done failed; it is retried", "err", err)
	}
}

// confirmInCluster is the check before a CommitUpload.
func (d *Daemon) confirmInCluster(ctx context.Context, id string) error {
	if d.opts.Cluster == nil {
		return nil
	}
	if err := d.opts.Cluster.Confirm(ctx, id); err != nil {
		return fmt.Errorf("%w (%v)", ErrClaimLost, err)
	}
	return nil
}
