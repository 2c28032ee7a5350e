package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vodwatchd/vodwatchd/internal/app/apptest"
	"github.com/vodwatchd/vodwatchd/internal/cluster"
	"github.com/vodwatchd/vodwatchd/internal/cluster/etcdtest"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
	"github.com/vodwatchd/vodwatchd/internal/testutil/drops"
)

// built is the vodwatchd binary, built once per test process.
var built testutil.Binary

func binary(tb testing.TB) string {
	tb.Helper()
	return built.Path(tb)
}

// TestMain removes the built binary.
func TestMain(m *testing.M) {
	code := m.Run()
	built.Remove()
	os.Exit(code)
}

const prefix = "/vodwatchd-test"

// world is one emulator, one etcd, one shared drop folder, and the node
// processes watching it.
type world struct {
	tb      testing.TB
	dir     string
	drop    string
	stage   string
	done    string
	etcd    *etcdtest.Server
	emu     *emulator.Emulator
	cli     *clientv3.Client
	ttl     time.Duration
	workers int
	rng     *rand.Rand
	set     *drops.Set
	nodes   map[string]*node
}

type node struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  string
}

func newWorld(tb testing.TB, ttl time.Duration, emuCfg func(*emulator.Config)) *world {
	dir := tb.TempDir()
	w := &world{tb: tb, dir: dir, drop: filepath.Join(dir, "drop"), stage: filepath.Join(dir, "stage"),
		done: filepath.Join(dir, "done"), ttl: ttl, workers: 4, rng: rand.New(rand.NewPCG(1, 2)), nodes: map[string]*node{}}
	w.etcd = etcdtest.Start(tb)
	if emuCfg == nil {
		emuCfg = func(*emulator.Config) {}
	}
	w.emu = emulatortest.Start(tb, emuCfg)
	w.set = drops.NewSet(tb, w.stage, w.drop, w.done, w.rng)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{w.etcd.Endpoint()}, DialTimeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cli.Close() })
	w.cli = cli
	return w
}

// start starts (or restarts) the node called name.
func (w *world) start(name string) *node {
	w.tb.Helper()
	nd := filepath.Join(w.dir, "node-"+name)
	if err := os.MkdirAll(nd, 0o755); err != nil {
		w.tb.Fatal(err)
	}
	cfgPath := filepath.Join(nd, "config.yaml")
	apptest.Template{
		Endpoint: w.emu.Addr(), SecretID: w.emu.SecretID(), SecretKey: w.emu.SecretKey(),
		State: apptest.StatePath(nd), Drop: w.drop, Log: "{ level: info, format: json }",
		Workers: w.workers, PartsInFlight: 2, Retries: "{ max_attempts: 50, initial_backoff: 100ms, max_backoff: 500ms }",
		NoCreate: true, Settle: "200ms", Watch: "    rescan_interval: 3s",
		Extra: fmt.Sprintf("cluster:\n  endpoints: [%q]\n  node: %s\n  lease_ttl: %s\n  prefix: %s\n",
			w.etcd.Endpoint(), name, w.ttl, prefix),
		Rules: rules(w.done),
	}.Write(w.tb, cfgPath)
	logPath := filepath.Join(nd, "daemon.log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.tb.Fatal(err)
	}
	cmd := exec.Command(binary(w.tb), "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	if err := cmd.Start(); err != nil {
		w.tb.Fatal(err)
	}
	f.Close()
	n := &node{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { _ = cmd.Wait(); close(n.done) }()
	w.tb.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGCONT); _ = cmd.Process.Kill(); <-n.done })
	w.nodes[name] = n
	return n
}

func (n *node) signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("signal %v to node %s: %v", sig, n.name, err)
	}
	if sig == syscall.SIGKILL {
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
			tb.Fatalf("node %s did not die", n.name)
		}
	}
}

// rules: mp4 and HLS are moved to done with a sidecar; keep/** stays.
func rules(done string) string {
	return fmt.Sprintf(`    rules:
      - name: keep
        match: "keep*/**/*.mp4"
        media_name: "{{.Rel}}"
        after: { action: keep }
      - name: hls
        match: "**/*.m3u8"
        media_name: "{{.Rel}}"
        after: { action: move, to: %[1]s, sidecar: true }
      - name: media
        match: "**/*.mp4"
        media_name: "{{.Rel}}"
        after: { action: move, to: %[1]s, sidecar: true }
`, done)
}

// add drops items of the given kinds (drops.Small, Multi, HLS, Kept).
func (w *world) add(kinds ...string) {
	w.tb.Helper()
	w.set.Add(w.tb, kinds...)
}

// mix returns n kinds, mostly small files.
func (w *world) mix(n int) []string {
	kinds := make([]string, n)
	for i := range kinds {
		switch i % 10 {
		case 3:
			kinds[i] = drops.Multi
		case 5:
			kinds[i] = drops.Kept
		case 7:
			kinds[i] = drops.HLS
		default:
			kinds[i] = drops.Small
		}
	}
	return kinds
}

// waitSettled waits for settled, failing after limit.
func (w *world) waitSettled(limit time.Duration) time.Duration {
	w.tb.Helper()
	start := time.Now()
	for !w.set.Settled(w.emu.Media()) {
		if time.Since(start) > limit {
			w.tb.Fatalf("not every item uploaded and post-processed after %s\n%s", limit, w.logTails())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// verify checks VOD and the folders against the drops (drops.Set.Verify);
// it returns the numbers of duplicate and lost media.
func (w *world) verify() (dups, lost int) {
	w.tb.Helper()
	return w.set.Verify(w.tb, w.emu.Media())
}

// claimsOf lists the jobs node holds.
func (w *world) claimsOf(name string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := cluster.Inspect(ctx, w.cli, prefix)
	if err != nil {
		w.tb.Fatal(err)
	}
	var jobs []string
	for _, c := range v.Claims {
		if c.Node == name {
			jobs = append(jobs, c.Job)
		}
	}
	return jobs
}

// waitDoneRecords waits until every job has a done record in etcd.
func (w *world) waitDoneRecords(jobs []string, limit time.Duration) time.Duration {
	w.tb.Helper()
	start := time.Now()
	for _, j := range jobs {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, ok, err := cluster.DoneRecordOf(ctx, w.cli, prefix, j)
			cancel()
			if err == nil && ok {
				break
			}
			if time.Since(start) > limit {
				w.tb.Fatalf("job %s not done %s after its node died\n%s", j, limit, w.logTails())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return time.Since(start)
}

// busiest waits until some node holds a claim on a job in flight and
// returns that node with its claims.
func (w *world) busiest(limit time.Duration) (string, []string) {
	w.tb.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		best, jobs := "", []string(nil)
		for name, n := range w.nodes {
			select {
			case <-n.done:
				continue
			default:
			}
			if c := w.claimsOf(name); len(c) > len(jobs) {
				best, jobs = name, c
			}
		}
		if best != "" {
			return best, jobs
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.tb.Fatalf("no node holds a claim after %s", limit)
	return "", nil
}

// uploadsBy counts "upload done" lines per node.
func (w *world) uploadsBy() map[string]int {
	out := map[string]int{}
	for name, n := range w.nodes {
		b, _ := os.ReadFile(n.log)
		out[name] = bytes.Count(b, []byte(`"msg":"upload done"`))
	}
	return out
}

func (w *world) logTails() string {
	var s strings.Builder
	for name, n := range w.nodes {
		b, _ := os.ReadFile(n.log)
		fmt.Fprintf(&s, "--- node %s (log tail)\n%s\n", name, testutil.Tail(string(b), 25))
	}
	return s.String()
}

// inspect reads the cluster's view.
func inspect(w *world) (cluster.View, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cluster.Inspect(ctx, w.cli, prefix)
}
