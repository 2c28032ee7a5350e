package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/app/apptest"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/manifest"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// built is the vodwatchd binary, built once per test process.
var built testutil.Binary

func binary(t *testing.T) string {
	t.Helper()
	return built.Path(t)
}

// TestMain removes the built binary.
func TestMain(m *testing.M) {
	code := m.Run()
	built.Remove()
	os.Exit(code)
}

// dropItem is one thing dropped: a media file (with an optional cover) or
// a bundle folder. want maps rel paths (under the drop root) to bytes.
type dropItem struct {
	name   string // media name in VOD ({{.Rel}} of the job's main file)
	main   string // rel of the main file
	cover  string // rel of the cover, if any
	bundle bool
	files  map[string][]byte // every file of the item, rel under the drop root
}

// world is one crash run: emulator, folders, the daemon process.
type world struct {
	t       *testing.T
	dir     string
	drop    string
	stage   string
	done    string
	cfgPath string
	emu     *emulator.Emulator
	items   []*dropItem
	logf    *os.File
	rng     *rand.Rand
	nextID  int
}

func newWorld(t *testing.T, seed uint64, mix crashMix) *world {
	dir := t.TempDir()
	w := &world{t: t, dir: dir, drop: filepath.Join(dir, "drop"), stage: filepath.Join(dir, "stage"),
		done: filepath.Join(dir, "done"), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	w.emu = emulatortest.Start(t, func(c *emulator.Config) {
		c.Latency = 3 * time.Millisecond
		c.Faults = emulator.FaultConfig{Latency: map[string]time.Duration{"UploadPart": 40 * time.Millisecond, "CommitUpload": 30 * time.Millisecond}}
		if mix.emu != nil {
			mix.emu(c)
		}
	})
	for _, d := range []string{w.drop, w.stage, w.done} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w.cfgPath = filepath.Join(dir, "config.yaml")
	apptest.Template{
		Endpoint: w.emu.Addr(), SecretID: w.emu.SecretID(), SecretKey: w.emu.SecretKey(),
		State: apptest.StatePath(dir), Drop: w.drop, Log: "{ level: info, format: json }",
		PartsInFlight: 2, Retries: "{ max_attempts: 50, initial_backoff: 100ms, max_backoff: 500ms }",
		NoCreate: true, Settle: "200ms", Watch: "    rescan_interval: 5s",
		Rules: crashRules(w.done),
	}.Write(t, w.cfgPath)
	f, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w.logf = f
	return w
}

// addBatch prepares a mixed batch in the staging folder and moves it into
// the drop folder, one top-level folder at a time.
func (w *world) addBatch(kinds ...string) {
	w.t.Helper()
	for _, kind := range kinds {
		w.nextID++
		folder := fmt.Sprintf("%s%03d", kind, w.nextID)
		it := &dropItem{files: map[string][]byte{}}
		switch kind {
		case "small":
			it.main = folder + "/clip.mp4"
			it.files[it.main] = testutil.Content(folder, 20_000+w.rng.IntN(50_000))
		case "multi":
			it.main = folder + "/big.mp4"
			it.files[it.main] = testutil.Content(folder, 3<<20+w.rng.IntN(1<<20))
		case "cover":
			it.main, it.cover = folder+"/show.mp4", folder+"/show.jpg"
			it.files[it.main] = testutil.Content(folder, 40_000+w.rng.IntN(10_000))
			it.files[it.cover] = testutil.Content(folder+"jpg", 3000)
		case "hls", "dash":
			src := map[string]string{"hls": "hls_master", "dash": "dash_number"}[kind]
			top, rels := bundleFiles(w.t, src)
			it.bundle, it.main = true, folder+"/"+top
			for _, rel := range rels {
				b, err := os.ReadFile(filepath.Join("..", "manifest", "testdata", src, filepath.FromSlash(rel)))
				if err != nil {
					w.t.Fatal(err)
				}
				it.files[folder+"/"+rel] = b
			}
		}
		it.name = it.main
		for rel, b := range it.files {
			p := filepath.Join(w.stage, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				w.t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				w.t.Fatal(err)
			}
		}
		if err := os.Rename(filepath.Join(w.stage, folder), filepath.Join(w.drop, folder)); err != nil {
			w.t.Fatal(err)
		}
		w.items = append(w.items, it)
	}
}

func bundleFiles(t *testing.T, name string) (string, []string) {
	t.Helper()
	dir := filepath.Join("..", "manifest", "testdata", name)
	top := "manifest.mpd"
	if _, err := os.Stat(filepath.Join(dir, "master.m3u8")); err == nil {
		top = "master.m3u8"
	}
	b, err := manifest.Resolve(context.Background(), filepath.Join(dir, top), manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rels := []string{top}
	for _, f := range b.Files {
		rels = append(rels, f.Rel)
	}
	return top, rels
}

// daemon is one running vodwatchd process.
type daemon struct {
	cmd  *exec.Cmd
	exit chan error
}

func (w *world) start() *daemon {
	w.t.Helper()
	cmd := exec.Command(binary(w.t), "run", "--config", w.cfgPath)
	cmd.Stdout, cmd.Stderr = w.logf, w.logf
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	d := &daemon{cmd: cmd, exit: make(chan error, 1)}
	go func() { d.exit <- cmd.Wait() }()
	// Whatever ends the test (a failure included), the daemon it started
	// does not outlive it.
	w.t.Cleanup(func() { _ = cmd.Process.Kill() }) // os.ErrProcessDone when it already ended
	return d
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-d.exit:
	case <-time.After(10 * time.Second):
		t.Fatal("killed daemon did not exit")
	}
}

// stop sends SIGTERM and returns how long the daemon took to exit.
func (d *daemon) stop(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exit:
		if err != nil {
			t.Errorf("daemon exited with %v after SIGTERM", err)
		}
	case <-time.After(limit):
		d.kill(t)
		t.Errorf("daemon did not stop within %v of SIGTERM", limit)
	}
	return time.Since(start)
}

// doneFiles counts the files in the done folder (post-actions under way).
func (w *world) doneFiles() int {
	n := 0
	_ = filepath.WalkDir(w.done, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// waitMoment waits for the moment a kill should hit: the n-th next request
// of an operation at the emulator, or the next post-action's file, or a
// random time. It returns what happened.
func (w *world) waitMoment(target string, n int, d *daemon) string {
	base := w.emu.Stats().Requests[target]
	baseDone := w.doneFiles()
	deadline := time.Now().Add(4 * time.Second)
	if target == "time" {
		time.Sleep(time.Duration(50+w.rng.IntN(1500)) * time.Millisecond)
		return "time"
	}
	for time.Now().Before(deadline) {
		select {
		case err := <-d.exit:
			w.t.Fatalf("daemon exited by itself: %v\n%s", err, w.logTail())
		default:
		}
		if target == "post" {
			if w.doneFiles() > baseDone {
				return "post"
			}
		} else if w.emu.Stats().Requests[target] >= base+int64(n) {
			return target
		}
		time.Sleep(time.Millisecond)
	}
	return "timeout(" + target + ")"
}

// leftovers names the files still in the drop folder and the log lines
// that mention them, for a run that did not finish.
func (w *world) leftovers() string {
	b, _ := os.ReadFile(w.logf.Name())
	var out strings.Builder
	_ = filepath.WalkDir(w.drop, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(w.drop, p)
		fmt.Fprintf(&out, "left in the drop folder: %s\n", rel)
		n := 0
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, rel) && n < 30 {
				fmt.Fprintf(&out, "  %s\n", line)
				n++
			}
		}
		return nil
	})
	return out.String()
}

func (w *world) logTail() string {
	b, _ := os.ReadFile(w.logf.Name())
	lines := strings.Split(string(b), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// crashKills is how many SIGKILLs a run of a mix deals: the mix's few in
// the normal suite, VODWATCHD_CRASH_KILLS for the long run.
func crashKills(mix crashMix) (int, bool) {
	if v, err := strconv.Atoi(os.Getenv("VODWATCHD_CRASH_KILLS")); err == nil && v > 0 {
		return v, true
	}
	return mix.kills, false
}

// crashMix is one setting of the crash test: how the emulator behaves and
// at which moments the daemon is killed.
type crashMix struct {
	name    string
	emu     func(*emulator.Config) // on top of the base latencies
	targets []string               // kill moments (emulator operations, "post", "time")
	kinds   []string               // drops added between kills; default every kind
	kills   int                    // SIGKILLs in the normal suite
}

// crashMixes: the default mix, and the two settings under which the
// adversarial pass of issue 18 lost or duplicated files: CommitUpload
// answered late (the commit takes effect, the kill loses its answer) with
// a repeated commit refused, and CompleteMultipartUpload answered late.
var crashMixes = []crashMix{
	{name: "default", targets: []string{"ApplyUpload", "UploadPart", "PutObject", "CommitUpload", "post", "time"}, kills: 6},
	{name: "slow-commit-repeat-error", kills: 3,
		emu: func(c *emulator.Config) {
			c.RepeatCommit = emulator.RepeatCommitError
			c.Faults.AnswerLatency = map[string]time.Duration{"CommitUpload": 700 * time.Millisecond}
		},
		targets: []string{"CommitUpload", "CommitUpload", "time"}},
	{name: "slow-complete", kills: 3,
		emu: func(c *emulator.Config) {
			c.RepeatCommit = emulator.RepeatCommitError
			c.Faults.AnswerLatency = map[string]time.Duration{"CompleteMultipartUpload": 700 * time.Millisecond, "CommitUpload": 200 * time.Millisecond}
		},
		targets: []string{"CompleteMultipartUpload", "CommitUpload", "CompleteMultipartUpload", "time"},
		kinds:   []string{"multi", "multi", "cover", "dash"}},
}

// TestCrashKill9 kills the daemon process with SIGKILL at chosen moments
// (during ApplyUpload, COS parts and puts, CommitUpload,
// CompleteMultipartUpload, post-actions, and at random times) over a mixed
// set of small, multipart, covered, HLS and DASH drops, restarting it each
// time, under each crash mix. At the end every drop is in the emulator
// exactly once with its bytes, and every post-action is done.
// VODWATCHD_CRASH_MIX runs one mix only.
func TestCrashKill9(t *testing.T) {
	only := os.Getenv("VODWATCHD_CRASH_MIX")
	ran := false
	for _, mix := range crashMixes {
		if only != "" && mix.name != only {
			continue
		}
		ran = true
		t.Run(mix.name, func(t *testing.T) { crashRun(t, mix) })
	}
	if !ran {
		t.Fatalf("VODWATCHD_CRASH_MIX=%q names no mix", only)
	}
}

func crashRun(t *testing.T, mix crashMix) {
	kills, long := crashKills(mix)
	if testing.Short() && !long {
		t.Skip("process-level crash test; runs without -short")
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("VODWATCHD_CRASH_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("mix %s, seed %d (VODWATCHD_CRASH_MIX and VODWATCHD_CRASH_SEED reproduce the drops and moments)", mix.name, seed)
	w := newWorld(t, seed, mix)
	w.addBatch("small", "multi", "cover", "hls", "dash", "small")
	targets := mix.targets
	hits := map[string]int{}
	start := time.Now()
	for i := 0; i < kills; i++ {
		d := w.start()
		if i > 0 && (long || i%3 == 0) { // the long run keeps work flowing for every kill
			kinds := mix.kinds
			if len(kinds) == 0 {
				kinds = []string{"small", "multi", "cover", "hls", "dash"}
			}
			w.addBatch(kinds[w.rng.IntN(len(kinds))], "small")
		}
		target := targets[i%len(targets)]
		if long {
			target = targets[w.rng.IntN(len(targets))]
		}
		n := 1 + w.rng.IntN(3)
		if target == "CompleteMultipartUpload" {
			n = 1 // one per multipart object: rarer than parts or commits
		}
		what := w.waitMoment(target, n, d)
		d.kill(t)
		hits[what]++
	}
	d := w.start()
	w.waitAllDone(d, 90*time.Second)
	took := d.stop(t, 10*time.Second)
	if took > 5*time.Second {
		t.Errorf("idle daemon took %v to stop", took)
	}
	dups, lost := w.verify()
	var moments []string
	for k, v := range hits {
		moments = append(moments, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(moments)
	summary := fmt.Sprintf("crash run (%s): %d SIGKILLs (%s), %d drops (%d files), %d duplicates, %d lost, %v",
		mix.name, kills, strings.Join(moments, " "), len(w.items), w.fileCount(), dups, lost, time.Since(start).Round(time.Second))
	t.Log(summary)
	if p := os.Getenv("VODWATCHD_CRASH_REPORT"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			_, _ = fmt.Fprintln(f, summary)
			_ = f.Close()
		}
	}
}

func (w *world) fileCount() int {
	n := 0
	for _, it := range w.items {
		n += len(it.files)
	}
	return n
}

// waitAllDone waits until every drop's files are in the done folder.
func (w *world) waitAllDone(d *daemon, timeout time.Duration) {
	w.t.Helper()
	want := 0
	for _, it := range w.items {
		want += len(it.files) + 1 // + sidecar
	}
	deadline := time.Now().Add(timeout)
	for w.doneFiles() < want || len(w.emu.Media()) < len(w.items) {
		if time.Now().After(deadline) {
			w.t.Fatalf("after %v: %d of %d files done, %d of %d media\n%s\n%s", timeout, w.doneFiles(), want, len(w.emu.Media()), len(w.items), w.leftovers(), w.logTail())
		}
		select {
		case err := <-d.exit:
			w.t.Fatalf("daemon exited by itself: %v\n%s", err, w.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
	time.Sleep(500 * time.Millisecond) // a late duplicate would show now
}

// verify checks the emulator and the folders against the drops; it
// returns the number of duplicate and lost media.
func (w *world) verify() (dups, lost int) {
	t := w.t
	byName := map[string][]emulator.MediaInfo{}
	for _, m := range w.emu.Media() {
		byName[m.Name] = append(byName[m.Name], m)
	}
	for _, it := range w.items {
		ms := byName[it.name]
		switch {
		case len(ms) == 0:
			lost++
			t.Errorf("%s: not in the emulator", it.name)
			continue
		case len(ms) > 1:
			dups += len(ms) - 1
			t.Errorf("%s: %d media in the emulator", it.name, len(ms))
		}
		m := ms[0]
		base := m.MediaURL[:strings.LastIndex(m.MediaURL, "/")]
		for rel, want := range it.files {
			at := base + "/" + strings.TrimPrefix(rel, path.Dir(it.main)+"/")
			switch rel {
			case it.main:
				at = m.MediaURL
			case it.cover:
				at = m.CoverURL
			}
			if got := get(t, at); !bytes.Equal(got, want) {
				t.Errorf("%s: %s differs in the emulator (%d vs %d bytes)", it.name, rel, len(got), len(want))
			}
			if got, err := os.ReadFile(filepath.Join(w.done, filepath.FromSlash(rel))); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %s not moved to the done folder intact (%v)", it.name, rel, err)
			}
			if _, err := os.Stat(filepath.Join(w.drop, filepath.FromSlash(rel))); err == nil {
				t.Errorf("%s: %s still in the drop folder", it.name, rel)
			}
		}
		var side struct{ FileId string }
		b, err := os.ReadFile(filepath.Join(w.done, filepath.FromSlash(it.main)+".vod.json"))
		if err != nil || json.Unmarshal(b, &side) != nil || side.FileId != m.FileID {
			t.Errorf("%s: sidecar %v %s, want FileId %s", it.name, err, b, m.FileID)
		}
	}
	if n := len(w.emu.Media()); n != len(w.items) {
		t.Errorf("emulator has %d media for %d drops", n, len(w.items))
	}
	store, err := state.Open(filepath.Join(w.dir, "var", "state.db"), state.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	jobs, err := store.List(context.Background(), state.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.Stage != state.StageDone || j.Post.State != state.PostDone {
			t.Errorf("job %s (%s): stage %s, post %q", j.ID, j.Key.Rel, j.Stage, j.Post.State)
		}
	}
	if len(jobs) != len(w.items) {
		t.Errorf("%d jobs for %d drops", len(jobs), len(w.items))
	}
	return dups, lost
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	return b
}

// crashRules move every upload to done with a sidecar.
func crashRules(done string) string {
	return fmt.Sprintf(`    rules:
      - name: hls
        match: "**/*.m3u8"
        media_name: "{{.Rel}}"
        after: { action: move, to: %[1]s, sidecar: true }
      - name: dash
        match: "**/*.mpd"
        media_name: "{{.Rel}}"
        after: { action: move, to: %[1]s, sidecar: true }
      - name: media
        match: "**/*.mp4"
        media_name: "{{.Rel}}"
        cover: [".jpg"]
        cover_wait: 2s
        after: { action: move, to: %[1]s, sidecar: true }
`, done)
}
