package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/cluster"
	"github.com/vodwatchd/vodwatchd/internal/cluster/etcdtest"
)

// status shows the cluster's nodes and claims; retry reaches the node
// holding a job; forget clears the done registry.
func TestClusterCommands(t *testing.T) {
	etcd := etcdtest.Start(t)
	f := newStFixture(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("state: %s\ncluster:\n  endpoints: [%q]\n  node: here\n  prefix: /cli\nwatch:\n  - path: %s\n    rules: [{match: \"**/*\"}]\n",
		f.path, etcd.Endpoint(), filepath.Join(dir, "drop"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Another node holds the fixture's queued job, and registered a done
	// job.
	other, err := cluster.Join(ctx, cluster.Config{Endpoints: []string{etcd.Endpoint()}, Node: "media-2",
		Address: "10.0.0.12:9180", LeaseTTL: 5 * time.Second, Prefix: "/cli"})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = other.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done; other.Close() })
	queued := f.ids["queued"]
	if c, err := other.Claim(ctx, queued); err != nil || c.Outcome != cluster.Acquired {
		t.Fatalf("claim: %+v %v", c, err)
	}
	if _, err := other.RecordDone(ctx, f.ids["done"], cluster.DoneRecord{FileID: "f1"}); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := stRun(t, "status", "--exit-zero", "--config", cfgPath)
	for _, want := range []string{"cluster: 1 nodes, 1 jobs claimed, 1 done (prefix /cli, this node here)",
		"media-2", "10.0.0.12:9180", queued} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("status (exit %d) lacks %q:\n%s%s", code, want, out, errOut)
		}
	}

	out, errOut, code = stRun(t, "retry", "--config", cfgPath, queued)
	if code != 0 || !strings.Contains(out, queued+": retry asked of the node holding it") {
		t.Fatalf("retry (exit %d):\n%s%s", code, out, errOut)
	}
	select {
	case id := <-other.Retries():
		if id != queued {
			t.Fatalf("retry delivered for %s", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the holding node never got the retry")
	}

	out, errOut, code = stRun(t, "forget", "--config", cfgPath, f.ids["done"])
	if code != 0 {
		t.Fatalf("forget (exit %d):\n%s%s", code, out, errOut)
	}
	if _, ok, err := cluster.DoneRecordOf(ctx, other.Client(), "/cli", f.ids["done"]); err != nil || ok {
		t.Fatalf("done record after forget: present %v, %v", ok, err)
	}
}
