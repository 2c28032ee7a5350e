package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/app"
	"github.com/vodwatchd/vodwatchd/internal/app/apptest"
	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/daemon"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// harness is a daemon running against the emulator, with its drop folder,
// state file and log in a temporary folder.
type harness struct {
	t     testing.TB
	dir   string
	drop  string
	emu   *emulator.Emulator
	run   *apptest.Running // the daemon wired as in production (nil when stopped)
	store *state.Store
	d     *daemon.Daemon
	logs  *testutil.Buffer
	cfg   *config.Config

	// wrap, when set, wraps the uploader the daemon is given (tests that
	// interrupt an upload at a chosen moment).
	wrap   func(daemon.Uploader) daemon.Uploader
	reopen []*state.Store // stores opened between stop and start
	// logLevel is the daemon's log level (default debug; benchmarks log
	// at info, as a production daemon does).
	logLevel slog.Level
}

// closeReopened closes the stores a test opened while the daemon was
// stopped.
func (h *harness) closeReopened() {
	for _, s := range h.reopen {
		s.Close()
	}
	h.reopen = nil
}

// hconf is a test configuration: YAML fragments for the watch entry.
type hconf struct {
	watch  string // rules etc., inserted into the watch entry
	mode   string // default notify
	settle string // default 300ms
	upload string // extra keys of upload:
	extra  string // extra watch keys (poll_interval, rescan_interval...)
}

// testConfig is a configuration for one watch at drop; extra is YAML
// inserted into the watch entry (rules etc.).
func testConfig(t testing.TB, dir string, emu *emulator.Emulator, watchYAML string) *config.Config {
	return testConfigOf(t, dir, emu, hconf{watch: watchYAML})
}

func testConfigOf(t testing.TB, dir string, emu *emulator.Emulator, hc hconf) *config.Config {
	t.Helper()
	rules := strings.ReplaceAll(hc.watch, "$DIR", dir)
	if rules != "" {
		rules += "\n"
	}
	upload := hc.upload
	workers := 4
	if strings.HasPrefix(upload, "workers: ") {
		first, rest, _ := strings.Cut(upload, "\n")
		fmt.Sscanf(first, "workers: %d", &workers)
		upload = rest
	}
	return apptest.Template{
		Endpoint: emu.Addr(), SecretID: emu.SecretID(), SecretKey: emu.SecretKey(),
		State: apptest.StatePath(dir), Drop: filepath.Join(dir, "drop"),
		Workers: workers, Upload: upload, Mode: hc.mode, Settle: hc.settle, Watch: hc.extra, Rules: rules,
	}.Config(t, filepath.Join(dir, "config.yaml"))
}

func startHarness(t testing.TB, watchYAML string, emuOpts ...func(*emulator.Config)) *harness {
	t.Helper()
	return startHarnessOf(t, hconf{watch: watchYAML}, emuOpts...)
}

// newHarness prepares a harness without starting the daemon.
func newHarness(t testing.TB, hc hconf, emuOpts ...func(*emulator.Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	emu := emulatortest.Start(t, emuOpts...)
	h := &harness{t: t, dir: dir, drop: filepath.Join(dir, "drop"), emu: emu, logs: &testutil.Buffer{}, logLevel: slog.LevelDebug}
	if err := os.MkdirAll(h.drop, 0o755); err != nil {
		t.Fatal(err)
	}
	h.cfg = testConfigOf(t, dir, emu, hc)
	return h
}

func startHarnessOf(t testing.TB, hc hconf, emuOpts ...func(*emulator.Config)) *harness {
	t.Helper()
	h := newHarness(t, hc, emuOpts...)
	h.start(h.cfg)
	return h
}

func (h *harness) start(cfg *config.Config) {
	h.closeReopened()
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: h.logLevel}))
	h.run = apptest.Start(h.t, app.Options{Config: cfg, Logger: log, WrapUploader: h.wrap,
		UploaderRetry: &uploader.RetryPolicy{MaxAttempts: 3, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
	}, h.logs)
	h.store, h.d = h.run.Store(), h.run.Daemon()
}

// stop ends the daemon and closes the store (idempotent).
func (h *harness) stop() {
	if h.run != nil {
		h.run.Stop()
	}
}

// exists reports whether p exists.
func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// write creates a file under the drop folder with n pseudo-random bytes.
func (h *harness) write(rel string, n int) []byte {
	h.t.Helper()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + len(rel) + i/251)
	}
	h.writeFile(rel, b)
	return b
}

// waitJobs waits until n jobs are done (or fails the test after timeout).
func (h *harness) waitDone(n int, timeout time.Duration) []*state.Job {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		// Stats counts index entries; List would decode every record.
		counts, err := h.store.Stats(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		if counts[state.StageDone] >= n {
			return h.jobs(state.StageDone)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d of %d jobs done after %v (%v)\n%s", counts[state.StageDone], n, timeout, counts, testutil.Tail(h.logs.String(), 60))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fetch GETs a MediaUrl from the emulator.
func fetch(t testing.TB, url string) []byte { return testutil.Fetch(t, url) }

// eventually waits for cond (testutil.Eventually) and shows the log's
// tail when it times out.
func (h *harness) eventually(timeout time.Duration, what string, cond func() bool) {
	h.t.Helper()
	testutil.Eventually(h.t, timeout, what, cond, func() string { return testutil.Tail(h.logs.String(), 60) })
}

// jobs lists the jobs in the given stages (all when none).
func (h *harness) jobs(stages ...state.Stage) []*state.Job {
	return apptest.Jobs(h.t, h.store, stages...)
}

// jobAt returns the latest job of rel, failing the test when there is none.
func (h *harness) jobAt(rel string) *state.Job {
	h.t.Helper()
	j, ok, err := h.store.ByPath(context.Background(), h.drop, rel)
	if err != nil || !ok {
		h.t.Fatalf("no job for %s (%v)\n%s", rel, err, testutil.Tail(h.logs.String(), 40))
	}
	return j
}

// waitStage waits until rel's latest job is in stage.
func (h *harness) waitStage(rel string, stage state.Stage, timeout time.Duration) *state.Job {
	h.t.Helper()
	var j *state.Job
	h.eventually(timeout, rel+" in stage "+string(stage), func() bool {
		var ok bool
		var err error
		j, ok, err = h.store.ByPath(context.Background(), h.drop, rel)
		return err == nil && ok && j.Stage == stage
	})
	return j
}

// mediaNamed counts the emulator's media by name.
func (h *harness) mediaNamed() map[string]int {
	out := map[string]int{}
	for _, m := range h.emu.Media() {
		out[m.Name]++
	}
	return out
}

// writeFile writes b at rel under the drop folder.
func (h *harness) writeFile(rel string, b []byte) { apptest.WriteFile(h.t, h.drop, rel, b) }

// noneFor asserts that cond stays false for d.
func (h *harness) never(d time.Duration, what string, cond func() bool) {
	h.t.Helper()
	testutil.Never(h.t, d, what, cond, func() string { return testutil.Tail(h.logs.String(), 40) })
}

// poke wakes the scheduler (the CLI's retry reaches it through the store).
func (h *harness) poke() { h.d.Poke() }
