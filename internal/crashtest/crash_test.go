package crashtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
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
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
	"github.com/vodwatchd/vodwatchd/internal/testutil/drops"
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

// world is one crash run: emulator, folders, the daemon process.
type world struct {
	t       *testing.T
	dir     string
	drop    string
	stage   string
	done    string
	cfgPath string
	emu     *emulator.Emulator
	set     *drops.Set
	logf    *os.File
	rng     *rand.Rand
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
	w.set = drops.NewSet(t, w.stage, w.drop, w.done, w.rng)
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
	w.set.Add(t, drops.Small, drops.Multi, drops.Covers, drops.HLS, drops.DASH, drops.Small)
	targets := mix.targets
	hits := map[string]int{}
	start := time.Now()
	for i := 0; i < kills; i++ {
		d := w.start()
		if i > 0 && (long || i%3 == 0) { // the long run keeps work flowing for every kill
			kinds := mix.kinds
			if len(kinds) == 0 {
				kinds = []string{drops.Small, drops.Multi, drops.Covers, drops.HLS, drops.DASH}
			}
			w.set.Add(t, kinds[w.rng.IntN(len(kinds))], drops.Small)
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
		mix.name, kills, strings.Join(moments, " "), len(w.set.Items), w.set.Files(), dups, lost, time.Since(start).Round(time.Second))
	t.Log(summary)
	if p := os.Getenv("VODWATCHD_CRASH_REPORT"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			_, _ = fmt.Fprintln(f, summary)
			_ = f.Close()
		}
	}
}

// waitAllDone waits until every drop's files are in the done folder.
func (w *world) waitAllDone(d *daemon, timeout time.Duration) {
	w.t.Helper()
	want := w.set.Files() + len(w.set.Items) // + a sidecar each
	deadline := time.Now().Add(timeout)
	for w.doneFiles() < want || len(w.emu.Media()) < len(w.set.Items) {
		if time.Now().After(deadline) {
			w.t.Fatalf("after %v: %d of %d files done, %d of %d media\n%s\n%s", timeout, w.doneFiles(), want, len(w.emu.Media()), len(w.set.Items), w.leftovers(), w.logTail())
		}
		select {
		case err := <-d.exit:
			w.t.Fatalf("daemon exited by itself: %v\n%s", err, w.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
	time.Sleep(500 * time.Millisecond) // a late duplicate would show now
}

// verify checks VOD and the folders against the drops (drops.Set.Verify)
// and every job's record: done, its post-action done. It returns the
// numbers of duplicate and lost media.
func (w *world) verify() (dups, lost int) {
	t := w.t
	dups, lost = w.set.Verify(t, w.emu.Media())
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
	if len(jobs) != len(w.set.Items) {
		t.Errorf("%d jobs for %d drops", len(jobs), len(w.set.Items))
	}
	return dups, lost
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
