package app_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vodwatchd/vodwatchd/internal/app"
	"github.com/vodwatchd/vodwatchd/internal/app/apptest"
	"github.com/vodwatchd/vodwatchd/internal/cluster"
	"github.com/vodwatchd/vodwatchd/internal/cluster/etcdtest"
	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// clusterRig is one emulator, one etcd and one shared drop folder for
// several in-process nodes.
type clusterRig struct {
	t    *testing.T
	etcd *etcdtest.Server
	emu  *emulator.Emulator
	dir  string
	drop string
	cfgs map[string]*config.Config
	logs []*testutil.Buffer
}

const rigTTL = 2 * time.Second

func newClusterRig(t *testing.T) *clusterRig {
	r := &clusterRig{t: t, etcd: etcdtest.Start(t), emu: emulatortest.Start(t), dir: t.TempDir(), cfgs: map[string]*config.Config{}}
	r.drop = filepath.Join(r.dir, "drop")
	return r
}

// node starts a node named name with its own state file.
func (r *clusterRig) node(name string, wrap func(http.RoundTripper) http.RoundTripper) *apptest.Running {
	r.t.Helper()
	dir := filepath.Join(r.dir, name)
	cfg := apptest.Template{
		Endpoint: r.emu.Addr(), SecretID: r.emu.SecretID(), SecretKey: r.emu.SecretKey(),
		State: apptest.StatePath(dir), Drop: r.drop,
		Retries: "{ max_attempts: 20, initial_backoff: 100ms, max_backoff: 500ms }",
		Extra:   fmt.Sprintf("cluster:\n  endpoints: [%q]\n  node: %s\n  lease_ttl: %s\n  prefix: /t\n", r.etcd.Endpoint(), name, rigTTL),
	}.Config(r.t, filepath.Join(dir, "config.yaml"))
	r.cfgs[name] = cfg
	logs := &testutil.Buffer{}
	r.logs = append(r.logs, logs)
	return apptest.Start(r.t, app.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		WrapTransport: wrap}, logs)
}

func (r *clusterRig) etcdClient() *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{r.etcd.Endpoint()}, DialTimeout: 5 * time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { cli.Close() })
	return cli
}

// drop writes n files under sub and returns their contents by rel path.
func (r *clusterRig) dropFiles(sub string, n int) map[string][]byte {
	files := map[string][]byte{}
	for i := range n {
		rel := fmt.Sprintf("%s/clip%03d.mp4", sub, i)
		files[rel] = testutil.Content(rel, 10_000+i*997)
		apptest.WriteFile(r.t, r.drop, rel, files[rel])
	}
	return files
}

// waitDone waits until every node's state has every file done.
func waitDone(t *testing.T, files map[string][]byte, limit time.Duration, nodes ...*apptest.Running) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		missing := 0
		var which []string
		for i, n := range nodes {
			done := map[string]bool{}
			for _, j := range apptest.Jobs(t, n.Store(), state.StageDone) {
				if j.Post.State != state.PostPending {
					done[j.Key.Rel] = true
				}
			}
			for rel := range files {
				if !done[rel] {
					missing++
					which = append(which, fmt.Sprintf("node %d: %s", i, rel))
				}
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d file records not done on every node after %s: %v", missing, limit, which)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkOnce checks that VOD holds each file exactly once, byte for byte,
// and that every node records that one FileId.
func checkOnce(t *testing.T, emu *emulator.Emulator, files map[string][]byte, nodes ...*apptest.Running) {
	t.Helper()
	bySource := map[string][]emulator.MediaInfo{}
	for _, m := range emu.Media() {
		bySource[m.SourceContext] = append(bySource[m.SourceContext], m)
	}
	for _, n := range nodes {
		for _, j := range apptest.Jobs(t, n.Store()) {
			want, ok := files[j.Key.Rel]
			if !ok {
				continue
			}
			ms := bySource[j.SourceContext]
			if len(ms) != 1 {
				t.Errorf("%s: %d media in VOD, want 1", j.Key.Rel, len(ms))
				continue
			}
			if j.Stage != state.StageDone || j.Result.FileID != ms[0].FileID {
				t.Errorf("%s: job %s %s FileId %q, VOD holds %q", j.Key.Rel, j.ID, j.Stage, j.Result.FileID, ms[0].FileID)
			}
			if got, err := testutil.Get(ms[0].MediaURL); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: VOD's bytes differ (%d vs %d, %v)", j.Key.Rel, len(got), len(want), err)
			}
		}
	}
	if got := len(emu.Media()); got != len(files) {
		t.Errorf("VOD holds %d media for %d files", got, len(files))
	}
}

// Two nodes on one folder: every file once, the work shared by claims.
func TestClusterTwoNodesShareTheWork(t *testing.T) {
	r := newClusterRig(t)
	a, b := r.node("a", nil), r.node("b", nil)
	files := r.dropFiles("in", 24)
	waitDone(t, files, 60*time.Second, a, b)
	checkOnce(t, r.emu, files, a, b)
	if got := r.emu.Stats().Applies; got != int64(len(files)) {
		t.Errorf("%d ApplyUpload sessions for %d files: a file was sent twice", got, len(files))
	}
	view, err := app.ClusterView(t.Context(), r.cfgs["a"], func(string) string { return "" })
	if err != nil || len(view.Nodes) != 2 || view.Done != int64(len(files)) {
		t.Fatalf("cluster view: %+v, %v", view, err)
	}
	rec := httptest.NewRecorder()
	b.Metrics().Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{`vodwatchd_cluster_accepting{node="b"} 1`, `vodwatchd_cluster_duplicates_deleted_total{node="b"} 0`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A node joining later finds the kept files done and uploads nothing.
func TestClusterLateNodeUploadsNothingDone(t *testing.T) {
	r := newClusterRig(t)
	a := r.node("a", nil)
	files := r.dropFiles("keep", 6)
	waitDone(t, files, 30*time.Second, a)
	applies := r.emu.Stats().Applies
	b := r.node("b", nil)
	waitDone(t, files, 30*time.Second, b)
	if got := r.emu.Stats().Applies; got != applies {
		t.Fatalf("the late node opened %d upload sessions for files already done", got-applies)
	}
	checkOnce(t, r.emu, files, a, b)
}

// commitGate holds one node's CommitUpload requests until released.
type commitGate struct {
	next    http.RoundTripper
	held    chan struct{} // closed when the first commit is held
	release chan struct{}
	once    sync.Once
}

func (g *commitGate) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("X-TC-Action") == "CommitUpload" {
		g.once.Do(func() { close(g.held) })
		<-g.release
	}
	return g.next.RoundTrip(req)
}

// The window that claim confirmation leaves: a node confirms its claim,
// then stalls past its lease before its CommitUpload lands; another node
// takes the job over and commits it. The stalled commit is found when it
// is registered, deleted with DeleteMedia, and VOD keeps one copy.
func TestClusterStalledCommitIsDeleted(t *testing.T) {
	r := newClusterRig(t)
	gate := &commitGate{held: make(chan struct{}), release: make(chan struct{})}
	a := r.node("a", func(next http.RoundTripper) http.RoundTripper { gate.next = next; return gate })
	files := r.dropFiles("one", 1)
	select {
	case <-gate.held:
	case <-time.After(20 * time.Second):
		t.Fatal("node a never committed")
	}
	// a's lease ends (as if it had been paused past it) while its commit
	// is on the way.
	cli := r.etcdClient()
	lease := nodeLease(t, cli, "a")
	if _, err := cli.Revoke(t.Context(), lease); err != nil {
		t.Fatal(err)
	}
	b := r.node("b", nil)
	waitDone(t, files, 30*time.Second, b)
	close(gate.release)
	waitDone(t, files, 30*time.Second, a)
	checkOnce(t, r.emu, files, a, b)
	if got := r.emu.Stats().Commits; got != 2 {
		t.Errorf("%d commits, want 2 (one of them the deleted duplicate)", got)
	}
}

func nodeLease(t *testing.T, cli *clientv3.Client, name string) clientv3.LeaseID {
	t.Helper()
	v, err := cluster.Inspect(t.Context(), cli, "/t")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range v.Nodes {
		if n.Name == name {
			id, err := strconv.ParseInt(n.Lease, 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return clientv3.LeaseID(id)
		}
	}
	t.Fatalf("node %s not registered: %+v", name, v.Nodes)
	return 0
}

// etcd restarted during a drop: the nodes wait, register again, and
// nothing is lost or doubled.
func TestClusterEtcdRestartDuringDrop(t *testing.T) {
	r := newClusterRig(t)
	a, b := r.node("a", nil), r.node("b", nil)
	files := r.dropFiles("first", 10)
	time.Sleep(300 * time.Millisecond)
	r.etcd.Stop()
	for k, v := range r.dropFiles("second", 10) {
		files[k] = v
	}
	time.Sleep(rigTTL + time.Second) // past the leases
	r.etcd.Start()
	defer func() {
		if t.Failed() {
			for i, l := range r.logs {
				t.Logf("node %d log:\n%s", i, l.String())
			}
		}
	}()
	waitDone(t, files, 30*time.Second, a, b)
	checkOnce(t, r.emu, files, a, b)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := r.etcd.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}
