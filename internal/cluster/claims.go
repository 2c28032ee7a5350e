package cluster

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Outcome is the answer to a claim.
type Outcome int

// The claim outcomes.
const (
	Acquired  Outcome = iota // this node holds the job: run it
	Elsewhere                // another node holds it: leave it
	Done                     // the job is done cluster-wide: take the record
)

func (o Outcome) String() string {
	switch o {
	case Acquired:
		return "acquired"
	case Elsewhere:
		return "elsewhere"
	}
	return "done"
}

// Claim is what Node.Claim found.
type Claim struct {
	Outcome Outcome
	Holder  string      // Elsewhere: the holding node
	Record  *DoneRecord // Done (also set with Acquired when the post-action is left to run)
	// Started is set when another node, or an earlier lease of this one,
	// already sent bytes for the job: it may have committed, so VOD must
	// be searched by SourceContext before uploading.
	Started *StartRecord
}

// Claim asks for a job (create-if-absent, bound to the node's lease). A
// job done cluster-wide whose post-action has run is Done; one whose
// post-action has not run is Acquired with its Record, so this node runs
// the post-action. The claim already held by this node is Acquired again.
func (n *Node) Claim(ctx context.Context, job string) (Claim, error) {
	me, lease := n.holder()
	if me == "" {
		return Claim{}, ErrCutOff
	}
	ck, sk, dk := n.keys.claim(job), n.keys.start(job), n.keys.done(job)
	rctx, cancel := n.req(ctx)
	defer cancel()
	r, err := n.cli.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(ck), "=", 0)).
		Then(clientv3.OpPut(ck, me, clientv3.WithLease(lease)), clientv3.OpGet(dk), clientv3.OpGet(sk)).
		Else(clientv3.OpGet(ck), clientv3.OpGet(dk), clientv3.OpGet(sk)).Commit()
	if err != nil {
		return Claim{}, n.noteErr(fmt.Errorf("cluster: claim job %s: %w", job, err))
	}
	if !r.Succeeded {
		kvs := r.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 1 && string(kvs[0].Value) != me {
			return Claim{Outcome: Elsewhere, Holder: holderNode(string(kvs[0].Value))}, nil
		}
	}
	c := Claim{Outcome: Acquired}
	if kvs := r.Responses[1].GetResponseRange().Kvs; len(kvs) == 1 {
		rec, err := decodeJSON[DoneRecord]("done", dk, kvs[0].Value)
		if err != nil {
			return Claim{}, err
		}
		c.Record = &rec
		if rec.PostDone {
			c.Outcome = Done
			n.release(ctx, job, me)
		}
		return c, nil
	}
	if kvs := r.Responses[2].GetResponseRange().Kvs; len(kvs) == 1 {
		st, err := decodeJSON[StartRecord]("started", sk, kvs[0].Value)
		if err != nil {
			return Claim{}, err
		}
		if st.Holder != me {
			c.Started = &st
		}
	}
	return c, nil
}

// release gives up a claim this node holds (best effort: the lease ends it
// anyway).
func (n *Node) release(ctx context.Context, job, me string) {
	ck := n.keys.claim(job)
	rctx, cancel := n.req(ctx)
	defer cancel()
	_, _ = n.cli.Txn(rctx).If(clientv3.Compare(clientv3.Value(ck), "=", me)).Then(clientv3.OpDelete(ck)).Commit()
}

// Confirm checks, on the etcd server, that this node still holds the
// job's claim under its live lease, and records that it starts sending
// (or committing) the job. A node that cannot confirm must not commit.
func (n *Node) Confirm(ctx context.Context, job string) error {
	me, _ := n.holder()
	if me == "" {
		return ErrCutOff
	}
	ck, sk := n.keys.claim(job), n.keys.start(job)
	rctx, cancel := n.req(ctx)
	defer cancel()
	st := StartRecord{Holder: me, At: time.Now().UTC()}
	r, err := n.cli.Txn(rctx).If(clientv3.Compare(clientv3.Value(ck), "=", me)).
		Then(clientv3.OpPut(sk, mustJSON(st))).Commit()
	if err != nil {
		return n.noteErr(fmt.Errorf("cluster: confirm claim on job %s: %w", job, err))
	}
	if !r.Succeeded {
		return fmt.Errorf("job %s: %w", job, ErrNotHolder)
	}
	return nil
}

// RecordDone registers a commit for the job, first one wins: it returns
// the record that holds, which is not rec when another node registered a
// commit first (rec is then a duplicate the caller deletes).
func (n *Node) RecordDone(ctx context.Context, job string, rec DoneRecord) (DoneRecord, error) {
	dk := n.keys.done(job)
	rec.Node = n.cfg.Node
	if rec.At.IsZero() {
		rec.At = time.Now().UTC()
	}
	rctx, cancel := n.req(ctx)
	defer cancel()
	r, err := n.cli.Txn(rctx).If(clientv3.Compare(clientv3.CreateRevision(dk), "=", 0)).
		Then(clientv3.OpPut(dk, mustJSON(rec))).Else(clientv3.OpGet(dk)).Commit()
	if err != nil {
		return DoneRecord{}, n.noteErr(fmt.Errorf("cluster: record job %s done: %w", job, err))
	}
	if r.Succeeded {
		return rec, nil
	}
	kvs := r.Responses[0].GetResponseRange().Kvs
	if len(kvs) != 1 {
		return DoneRecord{}, fmt.Errorf("cluster: record job %s done: the record vanished; try again", job)
	}
	return decodeJSON[DoneRecord]("done", dk, kvs[0].Value)
}

// FinishPost marks the job's post-action done and releases its claim, if
// this node holds it; a failure is retried in the background.
func (n *Node) FinishPost(ctx context.Context, job string) error {
	err := n.finishPost(ctx, job)
	n.mu.Lock()
	if err != nil {
		n.posts[job] = true
	} else {
		delete(n.posts, job)
	}
	n.mu.Unlock()
	return err
}

func (n *Node) finishPost(ctx context.Context, job string) error {
	me, _ := n.holder()
	ck, dk := n.keys.claim(job), n.keys.done(job)
	rctx, cancel := n.req(ctx)
	defer cancel()
	r, err := n.cli.Get(rctx, dk)
	if err != nil {
		return n.noteErr(fmt.Errorf("cluster: job %s post-action: %w", job, err))
	}
	if len(r.Kvs) != 1 {
		return fmt.Errorf("cluster: job %s post-action: no done record", job)
	}
	rec, err := decodeJSON[DoneRecord]("done", dk, r.Kvs[0].Value)
	if err != nil {
		return err
	}
	rec.PostDone = true
	t, err := n.cli.Txn(rctx).If(clientv3.Compare(clientv3.ModRevision(dk), "=", r.Kvs[0].ModRevision)).
		Then(clientv3.OpPut(dk, mustJSON(rec))).Commit()
	if err != nil {
		return n.noteErr(fmt.Errorf("cluster: job %s post-action: %w", job, err))
	}
	if !t.Succeeded {
		return fmt.Errorf("cluster: job %s post-action: the done record changed meanwhile", job)
	}
	if me != "" {
		_, _ = n.cli.Txn(rctx).If(clientv3.Compare(clientv3.Value(ck), "=", me)).Then(clientv3.OpDelete(ck)).Commit()
	}
	return nil
}

// retryPosts retries post-done markings that failed.
func (n *Node) retryPosts(ctx context.Context) {
	if !n.Accepting() {
		return
	}
	n.mu.Lock()
	jobs := make([]string, 0, len(n.posts))
	for j := range n.posts {
		jobs = append(jobs, j)
	}
	n.mu.Unlock()
	for _, j := range jobs {
		if err := n.FinishPost(ctx, j); err != nil {
			n.log.Warn("cluster: marking a post-action done failed; trying again", "job", j, "err", err)
			return
		}
	}
}

// Release gives up the job's claim if this node holds it (the job ended
// for good here, or the node stops working on it).
func (n *Node) Release(ctx context.Context, job string) {
	if me, _ := n.holder(); me != "" {
		n.release(ctx, job, me)
	}
}
