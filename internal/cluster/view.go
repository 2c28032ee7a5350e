package cluster

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// View is the cluster as etcd holds it: the nodes with their leases, and
// who holds which job.
type View struct {
	Nodes  []NodeInfo
	Claims []JobClaim // by job id
	Done   int64      // jobs in the done registry
}

// JobClaim is one held claim.
type JobClaim struct {
	Job  string
	Node string
}

// Inspect reads the cluster's view through cli under prefix.
func Inspect(ctx context.Context, cli *clientv3.Client, prefix string) (View, error) {
	k := newKeys(prefix)
	var v View
	nodes, err := cli.Get(ctx, k.dir(nodesDir), clientv3.WithPrefix())
	if err != nil {
		return v, fmt.Errorf("cluster: read nodes: %w", err)
	}
	for _, kv := range nodes.Kvs {
		info, err := decodeJSON[NodeInfo]("node", string(kv.Key), kv.Value)
		if err != nil {
			return v, err
		}
		if kv.Lease != 0 {
			if ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(kv.Lease)); err == nil && ttl.TTL > 0 {
				info.TTLLeft = time.Duration(ttl.TTL) * time.Second
			}
		}
		v.Nodes = append(v.Nodes, info)
	}
	claims, err := cli.Get(ctx, k.dir(claimsDir), clientv3.WithPrefix())
	if err != nil {
		return v, fmt.Errorf("cluster: read claims: %w", err)
	}
	for _, kv := range claims.Kvs {
		v.Claims = append(v.Claims, JobClaim{Job: k.jobOf(claimsDir, string(kv.Key)), Node: holderNode(string(kv.Value))})
	}
	sort.Slice(v.Claims, func(i, j int) bool { return v.Claims[i].Job < v.Claims[j].Job })
	done, err := cli.Get(ctx, k.dir(doneDir), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return v, fmt.Errorf("cluster: count done jobs: %w", err)
	}
	v.Done = done.Count
	return v, nil
}

// Inspect is the view of this node's cluster.
func (n *Node) Inspect(ctx context.Context) (View, error) {
	rctx, cancel := n.req(ctx)
	defer cancel()
	return Inspect(rctx, n.cli, n.cfg.Prefix)
}

// DoneRecordOf reads a job's done record (false when there is none).
func DoneRecordOf(ctx context.Context, cli *clientv3.Client, prefix, job string) (DoneRecord, bool, error) {
	dk := newKeys(prefix).done(job)
	r, err := cli.Get(ctx, dk)
	if err != nil {
		return DoneRecord{}, false, fmt.Errorf("cluster: read %s: %w", dk, err)
	}
	if len(r.Kvs) == 0 {
		return DoneRecord{}, false, nil
	}
	rec, err := decodeJSON[DoneRecord]("done", dk, r.Kvs[0].Value)
	return rec, err == nil, err
}

// RequestRetry asks the node holding each job to retry it (cluster-wide
// `retry`); it returns the jobs no node holds.
func RequestRetry(ctx context.Context, cli *clientv3.Client, prefix string, jobs []string) ([]string, error) {
	k := newKeys(prefix)
	var unheld []string
	for _, job := range jobs {
		r, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k.claim(job)), ">", 0)).
			Then(clientv3.OpPut(k.retry(job), strconv.FormatInt(time.Now().Unix(), 10))).Commit()
		if err != nil {
			return unheld, fmt.Errorf("cluster: request a retry of job %s: %w", job, err)
		}
		if !r.Succeeded {
			unheld = append(unheld, job)
		}
	}
	return unheld, nil
}

// Forget removes jobs from the done registry and their commit records, so
// that a file forgotten on every node may be uploaded again (cluster-wide
// `forget`).
func Forget(ctx context.Context, cli *clientv3.Client, prefix string, jobs []string) error {
	k := newKeys(prefix)
	for _, job := range jobs {
		if _, err := cli.Txn(ctx).Then(clientv3.OpDelete(k.done(job)), clientv3.OpDelete(k.start(job))).Commit(); err != nil {
			return fmt.Errorf("cluster: forget job %s: %w", job, err)
		}
	}
	return nil
}

// watchRetries delivers the retry requests for jobs this node holds.
func (n *Node) watchRetries(ctx context.Context) {
	for ctx.Err() == nil {
		rctx, cancel := n.req(ctx)
		r, err := n.cli.Get(rctx, n.keys.dir(retryDir), clientv3.WithPrefix())
		cancel()
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				continue
			}
		}
		for _, kv := range r.Kvs {
			n.takeRetry(ctx, string(kv.Key))
		}
		wc := n.cli.Watch(clientv3.WithRequireLeader(ctx), n.keys.dir(retryDir), clientv3.WithPrefix(), clientv3.WithRev(r.Header.Revision+1))
		for wr := range wc {
			if wr.Err() != nil {
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypePut {
					n.takeRetry(ctx, string(ev.Kv.Key))
				}
			}
		}
	}
}

// takeRetry delivers a retry request when this node holds the job, and
// removes the request.
func (n *Node) takeRetry(ctx context.Context, key string) {
	job := n.keys.jobOf(retryDir, key)
	me, _ := n.holder()
	if me == "" {
		return
	}
	rctx, cancel := n.req(ctx)
	defer cancel()
	r, err := n.cli.Txn(rctx).If(clientv3.Compare(clientv3.Value(n.keys.claim(job)), "=", me)).
		Then(clientv3.OpDelete(key)).Commit()
	if err != nil || !r.Succeeded {
		return
	}
	select {
	case n.retries <- job:
	case <-ctx.Done():
	}
}
