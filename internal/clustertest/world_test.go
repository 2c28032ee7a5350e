package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path"
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
	"github.com/vodwatchd/vodwatchd/internal/manifest"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
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

// item is one thing dropped: a media file (moved to done after upload, or
// kept in place) or an HLS bundle folder.
type item struct {
	name  string            // media name in VOD ({{.Rel}} of the main file)
	main  string            // rel of the main file
	keep  bool              // the keep rule: stays in the drop folder
	files map[string][]byte // every file of the item, rel under the drop root
}

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
	items   []*item
	nextID  int
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
	for _, d := range []string{w.drop, w.stage, w.done} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
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

// add drops items of the given kinds (small, multi, hls, keep), each
// folder written aside and renamed in whole.
func (w *world) add(kinds ...string) {
	w.tb.Helper()
	for _, kind := range kinds {
		w.nextID++
		folder := fmt.Sprintf("%s%03d", kind, w.nextID)
		it := &item{files: map[string][]byte{}}
		switch kind {
		case "small":
			it.main = folder + "/clip.mp4"
			it.files[it.main] = testutil.Content(folder, 20_000+w.rng.IntN(50_000))
		case "multi":
			it.main = folder + "/big.mp4"
			it.files[it.main] = testutil.Content(folder, 3<<20+w.rng.IntN(1<<20))
		case "keep":
			it.main, it.keep = folder+"/kept.mp4", true
			it.files[it.main] = testutil.Content(folder, 30_000+w.rng.IntN(10_000))
		case "hls":
			dir := filepath.Join("..", "manifest", "testdata", "hls_master")
			b, err := manifest.Resolve(context.Background(), filepath.Join(dir, "master.m3u8"), manifest.Options{})
			if err != nil {
				w.tb.Fatal(err)
			}
			it.main = folder + "/master.m3u8"
			rels := []string{"master.m3u8"}
			for _, f := range b.Files {
				rels = append(rels, f.Rel)
			}
			for _, rel := range rels {
				data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
				if err != nil {
					w.tb.Fatal(err)
				}
				it.files[folder+"/"+rel] = data
			}
		default:
			w.tb.Fatalf("unknown kind %q", kind)
		}
		it.name = it.main
		for rel, b := range it.files {
			apptest.WriteFile(w.tb, w.stage, rel, b)
		}
		if err := os.Rename(filepath.Join(w.stage, folder), filepath.Join(w.drop, folder)); err != nil {
			w.tb.Fatal(err)
		}
		w.items = append(w.items, it)
	}
}

// mix returns n kinds, mostly small files.
func (w *world) mix(n int) []string {
	kinds := make([]string, n)
	for i := range kinds {
		switch i % 10 {
		case 3:
			kinds[i] = "multi"
		case 5:
			kinds[i] = "keep"
		case 7:
			kinds[i] = "hls"
		default:
			kinds[i] = "small"
		}
	}
	return kinds
}

// settled reports whether every item is in VOD and its post-action ran
// (moved items out of the drop folder, with their sidecar).
func (w *world) settled() bool {
	names := map[string]bool{}
	for _, m := range w.emu.Media() {
		names[m.Name] = true
	}
	for _, it := range w.items {
		if !names[it.name] {
			return false
		}
		if !it.keep {
			if _, err := os.Stat(filepath.Join(w.done, filepath.FromSlash(it.main)+".vod.json")); err != nil {
				return false
			}
		}
	}
	return true
}

// waitSettled waits for settled, failing after limit.
func (w *world) waitSettled(limit time.Duration) time.Duration {
	w.tb.Helper()
	start := time.Now()
	for !w.settled() {
		if time.Since(start) > limit {
			w.tb.Fatalf("not every item uploaded and post-processed after %s\n%s", limit, w.logTails())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// verify checks VOD and the folders against the drops; it returns the
// numbers of duplicate and lost media.
func (w *world) verify() (dups, lost int) {
	t := w.tb
	byName := map[string][]emulator.MediaInfo{}
	for _, m := range w.emu.Media() {
		byName[m.Name] = append(byName[m.Name], m)
	}
	for _, it := range w.items {
		ms := byName[it.name]
		switch {
		case len(ms) == 0:
			lost++
			t.Errorf("%s: not in VOD", it.name)
			continue
		case len(ms) > 1:
			dups += len(ms) - 1
			t.Errorf("%s: %d media in VOD", it.name, len(ms))
		}
		m := ms[0]
		base := m.MediaURL[:strings.LastIndex(m.MediaURL, "/")]
		for rel, want := range it.files {
			at := base + "/" + strings.TrimPrefix(rel, path.Dir(it.main)+"/")
			if rel == it.main {
				at = m.MediaURL
			}
			if got := get(t, at); !bytes.Equal(got, want) {
				t.Errorf("%s: %s differs in VOD (%d vs %d bytes)", it.name, rel, len(got), len(want))
			}
			where := w.done
			if it.keep {
				where = w.drop
			}
			if got, err := os.ReadFile(filepath.Join(where, filepath.FromSlash(rel))); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %s not intact in %s (%v)", it.name, rel, where, err)
			}
		}
	}
	if n := len(w.emu.Media()); n != len(w.items) {
		t.Errorf("VOD holds %d media for %d items", n, len(w.items))
	}
	return dups, lost
}

func get(tb testing.TB, url string) []byte {
	resp, err := http.Get(url)
	if err != nil {
		tb.Errorf("GET %s: %v", url, err)
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	return b
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
