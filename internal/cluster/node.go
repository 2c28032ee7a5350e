// Package cluster lets several vodwatchd nodes on one shared folder agree,
// through etcd, on who uploads each job: claims bound to a node's lease, a
// registry of done jobs, and the takeover of a dead node's jobs.
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Config is how a node reaches etcd and presents itself.
type Config struct {
	Endpoints   []string
	Node        string        // unique node name
	Address     string        // how operators reach the node (shown by status)
	LeaseTTL    time.Duration // a dead node's claims expire after this
	Prefix      string        // key prefix shared by the cluster's nodes
	TLS         *tls.Config   // nil: plain connections
	Username    string
	Password    string // never logged
	DialTimeout time.Duration
	Logger      *slog.Logger
}

// MinLeaseTTL is the shortest lease etcd grants with its default timing.
const MinLeaseTTL = 2 * time.Second

// ErrNotHolder is returned when this node does not hold a job's claim
// (it expired, or another node holds it).
var ErrNotHolder = errors.New("cluster: this node does not hold the job's claim")

// ErrCutOff is returned while the node has no live lease.
var ErrCutOff = errors.New("cluster: node cut off from etcd (no live lease)")

func (c Config) validate() error {
	switch {
	case len(c.Endpoints) == 0:
		return errors.New("cluster: no etcd endpoints")
	case c.Node == "" || strings.ContainsAny(c.Node, "/@ \t\n"):
		return fmt.Errorf("cluster: node name %q: want a non-empty name without '/', '@' or spaces", c.Node)
	case c.LeaseTTL < MinLeaseTTL:
		return fmt.Errorf("cluster: lease TTL %s is below the minimum %s", c.LeaseTTL, MinLeaseTTL)
	}
	return nil
}

// Dial connects to etcd with cfg (without joining the cluster).
func Dial(cfg Config) (*clientv3.Client, error) {
	dial := cfg.DialTimeout
	if dial <= 0 {
		dial = 5 * time.Second
	}
	eps := make([]string, len(cfg.Endpoints))
	for i, e := range cfg.Endpoints {
		eps[i] = e
		if !strings.Contains(e, "://") {
			scheme := "http://"
			if cfg.TLS != nil {
				scheme = "https://"
			}
			eps[i] = scheme + e
		}
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints: eps, DialTimeout: dial, TLS: cfg.TLS,
		Username: cfg.Username, Password: cfg.Password,
		Logger:               zap.NewNop(),
		DialKeepAliveTime:    cfg.LeaseTTL / 2,
		DialKeepAliveTimeout: dial,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to etcd %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return c, nil
}

// Node is this daemon's membership of the cluster: its lease, the claims it
// holds, and a cache of the claims the other nodes hold.
type Node struct {
	cfg    Config
	log    *slog.Logger
	cli    *clientv3.Client
	keys   keys
	reqTTL time.Duration // bound of one etcd request

	mu       sync.Mutex
	lease    clientv3.LeaseID // 0 while cut off
	leaseEnd <-chan struct{}  // closed when the lease's keepalive ends
	stopKA   context.CancelFunc
	claims   map[string]string // job -> holder value (watch cache, every node)
	posts    map[string]bool   // jobs whose post-done marking must be retried
	cutoff   atomic.Bool
	changed  chan struct{}
	retries  chan string
	started  time.Time
}

// Join connects to etcd and registers the node with a new lease. A
// registration of the same name still alive (this node's previous run) is
// waited out: its lease, and every claim bound to it, expire within the TTL.
func Join(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cli, err := Dial(cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.Node), cli: cli, keys: newKeys(cfg.Prefix),
		reqTTL: max(cfg.LeaseTTL/3, time.Second), claims: map[string]string{}, posts: map[string]bool{},
		changed: make(chan struct{}, 1), retries: make(chan string, 64), started: time.Now()}
	if err := n.register(ctx); err != nil {
		cli.Close()
		return nil, err
	}
	if _, err := n.loadClaims(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Node }

// Client is the node's etcd client (status and tests).
func (n *Node) Client() *clientv3.Client { return n.cli }

// register grants a lease, keeps it alive and writes the node's record,
// create-if-absent, waiting while a previous registration lives.
func (n *Node) register(ctx context.Context) error {
	ttl := int64((n.cfg.LeaseTTL + time.Second - 1) / time.Second)
	gctx, cancel := context.WithTimeout(ctx, n.cfg.LeaseTTL)
	g, err := n.cli.Grant(gctx, ttl)
	cancel()
	if err != nil {
		return fmt.Errorf("cluster: grant a %ds lease: %w", ttl, err)
	}
	kctx, stop := context.WithCancel(context.Background())
	ka, err := n.cli.KeepAlive(kctx, g.ID)
	if err != nil {
		stop()
		return fmt.Errorf("cluster: keep lease %x alive: %w", int64(g.ID), err)
	}
	end := make(chan struct{})
	go func() {
		defer close(end)
		for range ka { // closed when the lease expires or kctx ends
		}
	}()
	info := NodeInfo{Name: n.cfg.Node, Address: n.cfg.Address, Started: n.started, Lease: fmt.Sprintf("%x", int64(g.ID))}
	key := n.keys.node(n.cfg.Node)
	warned := false
	for {
		rctx, cancel := context.WithTimeout(ctx, n.cfg.LeaseTTL)
		r, err := n.cli.Txn(rctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, mustJSON(info), clientv3.WithLease(g.ID))).
			Else(clientv3.OpGet(key)).Commit()
		cancel()
		if err == nil && r.Succeeded {
			break
		}
		if err != nil && ctx.Err() == nil {
			n.log.Warn("cluster: registering the node failed; trying again", "err", err)
		} else if err == nil && !warned {
			warned = true
			n.log.Warn("cluster: a node of this name is still registered (a previous run?); waiting for its lease to expire",
				"key", key, "lease_ttl", n.cfg.LeaseTTL)
		}
		select {
		case <-ctx.Done():
			stop()
			_, _ = n.cli.Revoke(context.Background(), g.ID)
			return fmt.Errorf("cluster: register node %s: %w", n.cfg.Node, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	n.mu.Lock()
	n.lease, n.leaseEnd, n.stopKA = g.ID, end, stop
	n.mu.Unlock()
	n.cutoff.Store(false)
	n.log.Info("cluster: node registered", "lease", info.Lease, "lease_ttl", n.cfg.LeaseTTL)
	n.signal()
	return nil
}

// holder is this node's claim value, or "" while it has no lease.
func (n *Node) holder() (string, clientv3.LeaseID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lease == 0 {
		return "", 0
	}
	return holderValue(n.cfg.Node, n.lease), n.lease
}

// Accepting reports whether the node may take new jobs: it has a live
// lease and its last etcd request did not fail.
func (n *Node) Accepting() bool {
	h, _ := n.holder()
	return h != "" && !n.cutoff.Load()
}

// Changed is signalled when claims are released (work for this node may
// have appeared) and when the node is accepting again.
func (n *Node) Changed() <-chan struct{} { return n.changed }

// Retries delivers job ids whose cluster-wide retry this node must run
// (it holds their claims).
func (n *Node) Retries() <-chan string { return n.retries }

func (n *Node) signal() {
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

// noteErr marks the node cut off after a failed request (until the next
// probe succeeds) and passes err on.
func (n *Node) noteErr(err error) error {
	if err != nil && !errors.Is(err, ErrNotHolder) {
		n.cutoff.Store(true)
	}
	return err
}

func (n *Node) req(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, n.reqTTL)
}

// Run keeps the node's membership until ctx ends: it renews the lease
// after losing it (the jobs claimed under the old one are then claimed
// again), follows the other nodes' claims, retries pending post-action
// markings, and delivers cluster-wide retries.
func (n *Node) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(2)
	go func() { defer wg.Done(); n.watchClaims(ctx) }()
	go func() { defer wg.Done(); n.watchRetries(ctx) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	turns := 0
	for {
		n.mu.Lock()
		end := n.leaseEnd
		n.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-end:
			n.leaseLost(ctx)
		case <-tick.C:
			n.probe(ctx)
			n.retryPosts(ctx)
			if turns++; turns%resyncEvery == 0 {
				n.resyncClaims(ctx)
			}
		}
	}
}

// leaseLost drops the expired lease and registers again.
func (n *Node) leaseLost(ctx context.Context) {
	n.mu.Lock()
	old := n.lease
	if n.stopKA != nil {
		n.stopKA()
	}
	n.lease, n.leaseEnd, n.stopKA = 0, nil, nil
	n.mu.Unlock()
	n.cutoff.Store(true)
	n.log.Warn("cluster: lease lost; taking no new jobs and committing nothing until the node registers again",
		"lease", fmt.Sprintf("%x", int64(old)))
	for ctx.Err() == nil {
		// The old lease may live on (etcd restarted and extended it):
		// revoke it so its claims go now, not after another TTL.
		rctx, cancel := n.req(ctx)
		_, _ = n.cli.Revoke(rctx, old)
		cancel()
		if err := n.register(ctx); err == nil {
			return
		} else if ctx.Err() == nil {
			n.log.Warn("cluster: registering again failed", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// probe clears the cut-off mark once etcd answers again.
func (n *Node) probe(ctx context.Context) {
	if !n.cutoff.Load() {
		return
	}
	h, _ := n.holder()
	if h == "" {
		return
	}
	rctx, cancel := n.req(ctx)
	_, err := n.cli.Get(rctx, n.keys.node(n.cfg.Node))
	cancel()
	if err == nil && n.cutoff.CompareAndSwap(true, false) {
		n.log.Info("cluster: etcd reachable again; taking jobs")
		n.signal()
	}
}

// loadClaims fills the claim cache; it returns the revision read.
func (n *Node) loadClaims(ctx context.Context) (int64, error) {
	rctx, cancel := n.req(ctx)
	defer cancel()
	r, err := n.cli.Get(rctx, n.keys.dir(claimsDir), clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("cluster: read claims: %w", err)
	}
	n.mu.Lock()
	n.claims = map[string]string{}
	for _, kv := range r.Kvs {
		n.claims[n.keys.jobOf(claimsDir, string(kv.Key))] = string(kv.Value)
	}
	n.mu.Unlock()
	return r.Header.Revision, nil
}

// resyncEvery is how many seconds pass between full reads of the claims:
// the watch keeps the cache current, the read heals what a broken watch
// may have missed.
const resyncEvery = 10

// resyncClaims reads every claim again (the scheduler then looks again).
func (n *Node) resyncClaims(ctx context.Context) {
	if _, err := n.loadClaims(ctx); err == nil {
		n.signal()
	}
}

// watchClaims follows every claim put and released.
func (n *Node) watchClaims(ctx context.Context) {
	for ctx.Err() == nil {
		rev, err := n.loadClaims(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				continue
			}
		}
		n.signal()
		wc := n.cli.Watch(clientv3.WithRequireLeader(ctx), n.keys.dir(claimsDir), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for wr := range wc {
			if wr.Err() != nil {
				break
			}
			released := false
			n.mu.Lock()
			for _, ev := range wr.Events {
				job := n.keys.jobOf(claimsDir, string(ev.Kv.Key))
				if ev.Type == clientv3.EventTypeDelete {
					delete(n.claims, job)
					released = true
				} else {
					n.claims[job] = string(ev.Kv.Value)
				}
			}
			n.mu.Unlock()
			if released {
				n.signal()
			}
		}
	}
}

// HeldElsewhere reports whether, as far as the watch has seen, another
// node (or an earlier lease of this one) holds the job's claim. It reads
// a cache: Claim is the authority.
func (n *Node) HeldElsewhere(job string) bool {
	me, _ := n.holder()
	n.mu.Lock()
	defer n.mu.Unlock()
	h, ok := n.claims[job]
	return ok && h != me
}

// Close leaves the cluster: the lease is revoked, so the node's claims are
// released at once and the other nodes take its unfinished jobs.
func (n *Node) Close() error {
	n.mu.Lock()
	lease, stop := n.lease, n.stopKA
	n.lease, n.stopKA = 0, nil
	n.mu.Unlock()
	if stop != nil {
		stop()
	}
	if lease != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), n.reqTTL)
		_, _ = n.cli.Revoke(ctx, lease)
		cancel()
	}
	return n.cli.Close()
}
