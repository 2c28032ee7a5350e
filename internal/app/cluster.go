package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vodwatchd/vodwatchd/internal/cluster"
	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/daemon"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// mediaDeleter deletes a duplicate commit.
type mediaDeleter interface {
	DeleteMedia(ctx context.Context, subAppID uint64, fileID string) error
}

// DeleteMedia deletes a media through the fallback uploader.
func (w *watchUploaders) DeleteMedia(ctx context.Context, subAppID uint64, fileID string) error {
	return w.any().DeleteMedia(ctx, subAppID, fileID)
}

// clusterHooks is the daemon's view of the cluster (daemon.Cluster) over
// a cluster.Node; it exists only with cluster: in the configuration.
type clusterHooks struct {
	node    *cluster.Node
	log     *slog.Logger
	deleter mediaDeleter
	store   *state.Store
	poke    func()

	takeovers  atomic.Int64 // jobs claimed after another node may have committed them
	duplicates atomic.Int64 // second commits found and deleted
	adopted    atomic.Int64 // jobs another node had done
}

// ClusterConfig turns the configuration's cluster: section into the
// cluster package's Config, reading the password (env:/file:) and the TLS
// files.
func ClusterConfig(cfg *config.Config, getenv func(string) string, log *slog.Logger) (cluster.Config, error) {
	c := cfg.Cluster
	out := cluster.Config{Endpoints: c.Endpoints, Node: c.Node, Address: c.Address, LeaseTTL: c.LeaseTTL,
		Prefix: c.Prefix, Username: c.Username, DialTimeout: c.DialTimeout, Logger: log}
	if out.Address == "" {
		out.Address = cfg.Listen
	}
	if c.Password.Kind != "" {
		pw, err := readSecretRef(c.Password, getenv)
		if err != nil {
			return out, fmt.Errorf("cluster.password: %w", err)
		}
		out.Password = pw
	}
	if c.TLS.Enabled() {
		t, err := clusterTLS(c.TLS)
		if err != nil {
			return out, err
		}
		out.TLS = t
	}
	return out, nil
}

func readSecretRef(r config.SecretRef, getenv func(string) string) (string, error) {
	switch r.Kind {
	case "env":
		v := getenv(r.Name)
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty or unset", r.Name)
		}
		return v, nil
	case "file":
		b, err := os.ReadFile(r.Name)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", r.Name, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s is empty", r.Name)
		}
		return v, nil
	}
	return "", fmt.Errorf("unknown secret source %q", r.Kind)
}

func clusterTLS(c config.ClusterTLS) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CA != "" {
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, fmt.Errorf("cluster.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cluster.tls.ca: %s holds no PEM certificate", c.CA)
		}
		t.RootCAs = pool
	}
	if c.Cert != "" {
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("cluster.tls: load %s and %s: %w", c.Cert, c.Key, err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}

// joinCluster joins the cluster cfg names.
func joinCluster(cfg *config.Config, getenv func(string) string, log *slog.Logger, del mediaDeleter) (*clusterHooks, error) {
	cc, err := ClusterConfig(cfg, getenv, log)
	if err != nil {
		return nil, err
	}
	// A previous run's registration of this node may take a lease TTL to
	// expire.
	ctx, cancel := context.WithTimeout(context.Background(), 2*cc.LeaseTTL+cfg.Cluster.DialTimeout+5*time.Second)
	defer cancel()
	n, err := cluster.Join(ctx, cc)
	if err != nil {
		return nil, err
	}
	return &clusterHooks{node: n, log: log, deleter: del}, nil
}

// run keeps the node in the cluster and runs the cluster-wide retries
// this node is asked for, until ctx ends.
func (h *clusterHooks) run(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- h.node.Run(ctx) }()
	for {
		select {
		case err := <-done:
			return err
		case id := <-h.node.Retries():
			h.retry(ctx, id)
		}
	}
}

func (h *clusterHooks) retry(ctx context.Context, id string) {
	j, err := h.store.Get(ctx, id)
	if err != nil || (j.Stage != state.StageFailed && j.Stage != state.StageQuarantined) {
		return
	}
	if _, err := h.store.Retry(ctx, id); err != nil {
		h.log.Warn("cluster: a retry asked by another node failed", "job", id, "err", err)
		return
	}
	h.log.Info("cluster: job queued again (retry asked through the cluster)", "job", id)
	h.poke()
}

// close leaves the cluster (revoking the lease releases every claim).
func (h *clusterHooks) close() error { return h.node.Close() }

// Claim implements daemon.Cluster.
func (h *clusterHooks) Claim(ctx context.Context, j *state.Job) (daemon.ClusterClaim, error) {
	c, err := h.node.Claim(ctx, j.ID)
	if err != nil {
		return daemon.ClusterClaim{}, err
	}
	var out daemon.ClusterClaim
	switch c.Outcome {
	case cluster.Elsewhere:
		out.Status, out.Holder = daemon.ClaimElsewhere, c.Holder
	case cluster.Done:
		out.Status = daemon.ClaimDone
	}
	if c.Record != nil {
		r := uploader.Result{FileID: c.Record.FileID, MediaURL: c.Record.MediaURL, CoverURL: c.Record.CoverURL}
		out.Done = &r
		h.adopted.Add(1)
	} else if c.Started != nil {
		out.SettleSince = c.Started.At
		h.takeovers.Add(1)
	}
	return out, nil
}

// Confirm implements daemon.Cluster.
func (h *clusterHooks) Confirm(ctx context.Context, id string) error { return h.node.Confirm(ctx, id) }

// Record implements daemon.Cluster: a second commit is deleted.
func (h *clusterHooks) Record(ctx context.Context, j *state.Job, res uploader.Result) (uploader.Result, error) {
	rec, err := h.node.RecordDone(ctx, j.ID, cluster.DoneRecord{FileID: res.FileID, MediaURL: res.MediaURL, CoverURL: res.CoverURL})
	if err != nil {
		return res, err
	}
	if rec.FileID == res.FileID {
		return res, nil
	}
	var cp uploader.Checkpoint
	_ = json.Unmarshal(j.Checkpoint, &cp) // only SubAppID is read; 0 (primary) when absent
	if err := h.deleter.DeleteMedia(ctx, cp.SubAppID, res.FileID); err != nil {
		return res, fmt.Errorf("cluster: job %s: node %s committed it first (%s); deleting this node's duplicate %s: %w",
			j.ID, rec.Node, rec.FileID, res.FileID, err)
	}
	h.duplicates.Add(1)
	h.log.Warn("cluster: duplicate commit deleted", "job", j.ID, "deleted_file_id", res.FileID,
		"kept_file_id", rec.FileID, "kept_by", rec.Node)
	return uploader.Result{FileID: rec.FileID, MediaURL: rec.MediaURL, CoverURL: rec.CoverURL}, nil
}

// PostDone implements daemon.Cluster.
func (h *clusterHooks) PostDone(ctx context.Context, id string) error {
	return h.node.FinishPost(ctx, id)
}

// Release implements daemon.Cluster.
func (h *clusterHooks) Release(ctx context.Context, id string) { h.node.Release(ctx, id) }

// Accepting implements daemon.Cluster.
func (h *clusterHooks) Accepting() bool { return h.node.Accepting() }

// HeldElsewhere implements daemon.Cluster.
func (h *clusterHooks) HeldElsewhere(id string) bool { return h.node.HeldElsewhere(id) }

// Changed implements daemon.Cluster.
func (h *clusterHooks) Changed() <-chan struct{} { return h.node.Changed() }

// collectors are this node's cluster metrics.
func (h *clusterHooks) collectors() []prometheus.Collector {
	labels := prometheus.Labels{"node": h.node.Name()}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(v.Load()) })
	}
	return []prometheus.Collector{
		gauge("vodwatchd_cluster_accepting", "1 while this node holds a live etcd lease and takes jobs.", func() float64 {
			if h.node.Accepting() {
				return 1
			}
			return 0
		}),
		counter("vodwatchd_cluster_takeovers_total", "Jobs this node claimed after another node had confirmed them (settled by SourceContext first).", &h.takeovers),
		counter("vodwatchd_cluster_duplicates_deleted_total", "Second commits of a job found after the first and deleted with DeleteMedia.", &h.duplicates),
		counter("vodwatchd_cluster_adopted_total", "Jobs this node found done by another node and did not upload.", &h.adopted),
	}
}

// ClusterView reads the cluster's nodes, leases and claims for `status`.
func ClusterView(ctx context.Context, cfg *config.Config, getenv func(string) string) (cluster.View, error) {
	cc, err := ClusterConfig(cfg, getenv, nil)
	if err != nil {
		return cluster.View{}, err
	}
	cli, err := cluster.Dial(cc)
	if err != nil {
		return cluster.View{}, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, cc.DialTimeout+5*time.Second)
	defer cancel()
	return cluster.Inspect(ctx, cli, cc.Prefix)
}

// sameCluster reports whether two cluster: sections ask for the same
// cluster (where in the file they are does not matter).
func sameCluster(a, b *config.Cluster) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.Pos, y.Pos = config.Pos{}, config.Pos{}
	return reflect.DeepEqual(x, y)
}
