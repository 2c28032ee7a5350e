package faultsuite

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/app"
	"github.com/vodwatchd/vodwatchd/internal/app/apptest"
	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/daemon"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/metrics"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// Fixed test account of every rig's emulator (loopback only).
const (
	testSecretID  = "AKIDfaultsuite000000000000000000000"
	testSecretKey = "faultsuiteEmulatorSecretKey-7Qx9Zr"
)

// rigOpts shape one rig: the YAML of the watch's rules, extra upload keys,
// and emulator settings.
type rigOpts struct {
	rules    string // YAML lines of the watch entry's rules (4-space indent); default: hls + mp4 with covers
	upload   string // extra YAML lines under upload: (2-space indent)
	parts    int    // parts_in_flight, default 4
	workers  int    // upload.workers, default 4
	settle   string // default 300ms
	stateDir string // folder of the state file; default <dir>/var
	emu      func(*emulator.Config)
	wrapRT   func(http.RoundTripper) http.RoundTripper // wraps the uploader's transport
}

const defaultRules = `    rules:
      - name: hls
        match: "**/*.m3u8"
      - name: media
        match: "**/*.mp4"
        cover: [".jpg"]
        cover_wait: 1s
`

// rig is one emulator plus one daemon watching one drop folder, all in a
// temporary folder; the emulator can be restarted on the same address.
type rig struct {
	t       testing.TB
	dir     string
	drop    string
	opts    rigOpts
	logs    *testutil.Buffer
	log     *slog.Logger
	cfg     *config.Config
	metrics *metrics.Metrics
	emuMu   sync.Mutex
	emu     *emulator.Emulator
	emuCfg  emulator.Config
	emuStop context.CancelFunc
	earlier []emulator.Stats // stats of emulator instances before a restart
	run     *apptest.Running
	store   *state.Store
	d       *daemon.Daemon
}

// newRig starts the emulator and prepares the configuration; start runs
// the daemon.
func newRig(t testing.TB, o rigOpts) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{t: t, dir: dir, drop: filepath.Join(dir, "drop"), opts: o, logs: &testutil.Buffer{}}
	r.log = slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := os.MkdirAll(r.drop, 0o755); err != nil {
		t.Fatal(err)
	}
	r.emuCfg = emulator.Config{DataDir: filepath.Join(dir, "emulator"), Listen: "127.0.0.1:0",
		SecretID: testSecretID, SecretKey: testSecretKey, Logger: r.log.With("component", "emulator")}
	if o.emu != nil {
		o.emu(&r.emuCfg)
	}
	r.startEmulator()
	t.Cleanup(r.closeEmulator)
	r.cfg = r.config()
	return r
}

func (r *rig) startEmulator() {
	r.t.Helper()
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithCancel(context.Background())
		var e *emulator.Emulator
		e, err = emulator.Start(ctx, r.emuCfg)
		if err == nil {
			r.emuMu.Lock()
			r.emu, r.emuStop = e, cancel
			r.emuMu.Unlock()
			r.emuCfg.Listen = e.Addr() // a restart binds the same address
			return
		}
		cancel()
		if time.Now().After(deadline) {
			r.t.Fatalf("emulator: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the old listener's port may still be closing
	}
}

func (r *rig) closeEmulator() {
	r.emuMu.Lock()
	e, stop := r.emu, r.emuStop
	r.emuMu.Unlock()
	if e == nil {
		return
	}
	stop()
	if err := e.Close(); err != nil {
		r.t.Errorf("emulator close: %v", err)
	}
}

// restartEmulator closes the emulator and starts it again on the same data
// folder and address.
func (r *rig) restartEmulator(down time.Duration) {
	r.t.Helper()
	old := r.emulator()
	r.closeEmulator()
	r.earlier = append(r.earlier, old.Stats())
	time.Sleep(down)
	r.startEmulator()
}

func (r *rig) emulator() *emulator.Emulator {
	r.emuMu.Lock()
	defer r.emuMu.Unlock()
	return r.emu
}

// requests sums the requests of every emulator instance, by operation.
func (r *rig) requests() map[string]int64 {
	out := map[string]int64{}
	for _, s := range append(append([]emulator.Stats{}, r.earlier...), r.emulator().Stats()) {
		for k, v := range s.Requests {
			out[k] += v
		}
	}
	return out
}

// faults sums the injected faults of every emulator instance.
func (r *rig) faults() int64 {
	var n int64
	for _, s := range append(append([]emulator.Stats{}, r.earlier...), r.emulator().Stats()) {
		for _, v := range s.Faults {
			n += v
		}
	}
	return n
}

func (r *rig) statePath() string {
	d := r.opts.stateDir
	if d == "" {
		d = filepath.Join(r.dir, "var")
	}
	return filepath.Join(d, "state.db")
}

func (r *rig) config() *config.Config {
	r.t.Helper()
	o := r.opts
	rules := o.rules
	if rules == "" {
		rules = defaultRules
	}
	parts := o.parts
	if parts == 0 {
		parts = 4
	}
	return apptest.Template{
		Endpoint: r.emulator().Addr(), SecretID: testSecretID, SecretKey: testSecretKey,
		State: r.statePath(), Log: "{ level: debug }", PartsInFlight: parts, Workers: o.workers,
		Retries: "{ max_attempts: 8, initial_backoff: 200ms, max_backoff: 1s }", Upload: o.upload,
		Drop: r.drop, Settle: o.settle, Rules: rules,
	}.Config(r.t, filepath.Join(r.dir, "config.yaml"))
}

// start runs the daemon, wired as in production, until the test ends (or
// stop).
func (r *rig) start() {
	r.t.Helper()
	r.run = apptest.Start(r.t, app.Options{Config: r.cfg, Logger: r.log, WrapTransport: r.opts.wrapRT,
		// Tighter than the defaults (500ms..20s) so the suite stays short.
		UploaderRetry: &uploader.RetryPolicy{MaxAttempts: 5, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second},
	}, r.logs)
	r.store, r.d, r.metrics = r.run.Store(), r.run.Daemon(), r.run.Metrics()
}

// stop ends the daemon and closes the state (idempotent).
func (r *rig) stop() {
	if r.run != nil {
		r.run.Stop()
	}
}

// write creates rel under the drop folder with b.
func (r *rig) write(rel string, b []byte) { apptest.WriteFile(r.t, r.drop, rel, b) }

// jobs lists the jobs in the given stages (all when none).
func (r *rig) jobs(stages ...state.Stage) []*state.Job {
	return apptest.Jobs(r.t, r.store, stages...)
}

// eventually waits for cond (testutil.Eventually) and shows the log's
// tail when it times out.
func (r *rig) eventually(timeout time.Duration, what string, cond func() bool) {
	r.t.Helper()
	testutil.Eventually(r.t, timeout, what, cond, func() string { return testutil.Tail(r.logs.String(), 60) })
}

// never fails the test if cond holds at any time during d.
func (r *rig) never(d time.Duration, what string, cond func() bool) {
	r.t.Helper()
	testutil.Never(r.t, d, what, cond, func() string { return testutil.Tail(r.logs.String(), 60) })
}

// jobAt returns the latest job of rel (ok false when there is none).
// waitDone waits until the job of the file at rel is done.
func (r *rig) waitDone(rel string, timeout time.Duration) {
	r.t.Helper()
	r.eventually(timeout, rel+" done", func() bool {
		j, ok := r.jobAt(rel)
		return ok && j.Stage == state.StageDone
	})
}

func (r *rig) jobAt(rel string) (*state.Job, bool) {
	r.t.Helper()
	j, ok, err := r.store.ByPath(context.Background(), r.drop, rel)
	if err != nil {
		r.t.Fatal(err)
	}
	return j, ok
}

// get fetches url from the emulator (bounded).
func get(url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, nil
}
