package crashtest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
	cossdk "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/vodwatchd/vodwatchd/internal/app/apptest"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

const playSecret = "crash-hook-secret"

// hookLog is a webhook receiver that checks signatures and records every
// delivery's idempotency key by job and event.
type hookLog struct {
	mu   sync.Mutex
	keys map[string]map[string]bool // job/event -> keys seen
	bad  int
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m := hmac.New(sha256.New, []byte(playSecret))
	m.Write([]byte(r.Header.Get("X-Vodwatchd-Timestamp") + "." + string(body)))
	var doc struct {
		JobID string `json:"job_id"`
		Event string `json:"event"`
		Key   string `json:"idempotency_key"`
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !hmac.Equal([]byte("sha256="+hex.EncodeToString(m.Sum(nil))), []byte(r.Header.Get("X-Vodwatchd-Signature"))) ||
		json.Unmarshal(body, &doc) != nil || doc.Key != r.Header.Get("Idempotency-Key") {
		h.bad++
		http.Error(w, "bad delivery", http.StatusBadRequest)
		return
	}
	k := doc.JobID + "/" + doc.Event
	if h.keys[k] == nil {
		h.keys[k] = map[string]bool{}
	}
	h.keys[k][doc.Key] = true
}

// playWorld is one run of the daemon binary following uploads to ready.
type playWorld struct {
	t                      *testing.T
	dir, drop, done, state string
	cfgPath                string
	emu                    *emulator.Emulator
	hooks                  *hookLog
	log                    *os.File
	names                  []string
}

func newPlayWorld(t *testing.T, mode string) *playWorld {
	dir := t.TempDir()
	w := &playWorld{t: t, dir: dir, drop: filepath.Join(dir, "drop"), done: filepath.Join(dir, "done"),
		state: filepath.Join(dir, "var", "state.db"), hooks: &hookLog{keys: map[string]map[string]bool{}}}
	w.emu = emulatortest.Start(t, func(c *emulator.Config) {
		c.Tasks = emulator.TaskConfig{Duration: 1500 * time.Millisecond, PullWait: 300 * time.Millisecond, Redeliver: time.Second}
		// Widen the windows a kill aims at: an event applied but not yet
		// confirmed, a task being asked about.
		c.Faults = emulator.FaultConfig{Latency: map[string]time.Duration{"ConfirmEvents": 400 * time.Millisecond, "DescribeTaskDetail": 100 * time.Millisecond}}
	})
	srv := httptest.NewServer(w.hooks)
	t.Cleanup(srv.Close)
	for _, d := range []string{w.drop, w.done} {
		os.MkdirAll(d, 0o755)
	}
	w.cfgPath = filepath.Join(dir, "config.yaml")
	t.Setenv("CRASH_HOOK_SECRET", playSecret) // the template is validated here too
	apptest.Template{
		Endpoint: w.emu.Addr(), SecretID: w.emu.SecretID(), SecretKey: w.emu.SecretKey(),
		State: w.state, Drop: w.drop, Log: "{ level: debug, format: json }",
		Extra:   "follow: { mode: " + mode + ", interval: 1s }\nhook_delivery: { backoff: 100ms, max_backoff: 500ms }",
		Retries: "{ max_attempts: 50, initial_backoff: 100ms, max_backoff: 500ms }",
		Settle:  "200ms",
		Watch:   fmt.Sprintf("    hooks: [{name: cms, on: [done, ready], url: %q, secret: \"env:CRASH_HOOK_SECRET\"}]", srv.URL),
		Rules: fmt.Sprintf(`    rules:
      - match: "**/*.mp4"
        media_name: "{{.Rel}}"
        procedure: news-transcode
        after: { action: move, to: %s, sidecar: true, when: ready }
`, w.done),
	}.Write(t, w.cfgPath)
	f, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w.log = f
	return w
}

func (w *playWorld) drop1(name string) {
	w.t.Helper()
	tmp := filepath.Join(w.dir, name)
	if err := os.WriteFile(tmp, testutil.Content(name, 30_000), 0o644); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(w.drop, name)); err != nil {
		w.t.Fatal(err)
	}
	w.names = append(w.names, name)
}

func (w *playWorld) start() *daemon {
	w.t.Helper()
	cmd := exec.Command(binary(w.t), "run", "--config", w.cfgPath)
	cmd.Stdout, cmd.Stderr = w.log, w.log
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=", "CRASH_HOOK_SECRET="+playSecret)
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	d := &daemon{cmd: cmd, exit: make(chan error, 1)}
	go func() { d.exit <- cmd.Wait() }()
	w.t.Cleanup(func() { _ = cmd.Process.Kill() })
	return d
}

// killAt waits until op's request count at the emulator grows (a request
// in flight, its effect not yet taken), then SIGKILLs the daemon.
func (w *playWorld) killAt(d *daemon, op string) bool {
	w.t.Helper()
	base := w.emu.Stats().Requests[op]
	deadline := time.Now().Add(15 * time.Second)
	for w.emu.Stats().Requests[op] <= base {
		if time.Now().After(deadline) {
			d.kill(w.t)
			return false
		}
		time.Sleep(time.Millisecond)
	}
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exit
	return true
}

// jobs reads the state file (the daemon stopped).
func (w *playWorld) jobs() []*state.Job {
	w.t.Helper()
	s, err := state.Open(w.state, state.Options{ReadOnly: true})
	if err != nil {
		w.t.Fatal(err)
	}
	defer s.Close()
	jobs, err := s.List(context.Background(), state.Filter{})
	if err != nil {
		w.t.Fatal(err)
	}
	return jobs
}

// waitReady waits until every dropped file was moved with a ready sidecar.
func (w *playWorld) waitReady(d *daemon) {
	w.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := 0
		for _, n := range w.names {
			var side struct{ Stage string }
			b, err := os.ReadFile(filepath.Join(w.done, n+".vod.json"))
			if err == nil && json.Unmarshal(b, &side) == nil && side.Stage == "ready" {
				ready++
			}
		}
		if ready == len(w.names) && w.delivered(len(w.names)) {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(w.log.Name())
			lines := strings.Split(string(b), "\n")
			w.t.Fatalf("%d of %d ready after 60s\n%s", ready, len(w.names), strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
		select {
		case err := <-d.exit:
			w.t.Fatalf("daemon exited by itself: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// delivered reports whether done and ready hooks arrived for n jobs.
func (w *playWorld) delivered(n int) bool {
	w.hooks.mu.Lock()
	defer w.hooks.mu.Unlock()
	return len(w.hooks.keys) >= 2*n
}

// verify: each drop is one media, its job ready with outputs and its
// post-action done; every (job, event) was delivered under one key.
func (w *playWorld) verify() {
	t := w.t
	byName := map[string]int{}
	for _, m := range w.emu.Media() {
		byName[m.Name]++
	}
	for _, n := range w.names {
		if byName[n] != 1 {
			t.Errorf("%s: %d media in the emulator", n, byName[n])
		}
	}
	jobs := w.jobs()
	if len(jobs) != len(w.names) {
		t.Errorf("%d jobs for %d drops", len(jobs), len(w.names))
	}
	for _, j := range jobs {
		if j.DisplayStage() != "ready" || j.Play.Outputs == nil || len(j.Play.Outputs.Transcodes) == 0 || j.Post.State != state.PostDone {
			t.Errorf("job %s (%s): %s, post %q", j.ID, j.Key.Rel, j.DisplayStage(), j.Post.State)
		}
		for _, ev := range []string{"done", "ready"} {
			w.hooks.mu.Lock()
			keys := w.hooks.keys[j.ID+"/"+ev]
			w.hooks.mu.Unlock()
			if len(keys) != 1 {
				t.Errorf("job %s: %s delivered under %d keys, want exactly 1", j.ID, ev, len(keys))
			}
		}
	}
	if w.hooks.bad != 0 {
		t.Errorf("%d deliveries failed the receiver's checks", w.hooks.bad)
	}
}

// pullLeft pulls, as another consumer would, the events still waiting
// (after their redelivery time) and returns their SourceContexts or
// FileIds.
func (w *playWorld) pullLeft() []string {
	time.Sleep(1200 * time.Millisecond)
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint, cpf.HttpProfile.Scheme = w.emu.Addr(), "http"
	c, err := vod.NewClient(common.NewCredential(w.emu.SecretID(), w.emu.SecretKey()), "ap-guangzhou", cpf)
	if err != nil {
		w.t.Fatal(err)
	}
	resp, err := c.PullEvents(vod.NewPullEventsRequest())
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, ev := range resp.Response.EventSet {
		switch {
		case ev.FileUploadEvent != nil:
			out = append(out, "upload "+*ev.FileUploadEvent.MediaBasicInfo.SourceInfo.SourceContext)
		case ev.ProcedureStateChangeEvent != nil:
			out = append(out, "procedure "+*ev.ProcedureStateChangeEvent.FileId)
		}
	}
	return out
}

// uploadForeign commits a media with a procedure that no job of ours
// owns (another application on the same account).
func (w *playWorld) uploadForeign() string {
	w.t.Helper()
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint, cpf.HttpProfile.Scheme = w.emu.Addr(), "http"
	c, _ := vod.NewClient(common.NewCredential(w.emu.SecretID(), w.emu.SecretKey()), "ap-guangzhou", cpf)
	cfg := vod.NewModifyEventConfigRequest()
	cfg.Mode, cfg.UploadMediaCompleteEventSwitch = common.StringPtr("PULL"), common.StringPtr("ON")
	if _, err := c.ModifyEventConfig(cfg); err != nil {
		w.t.Fatal(err)
	}
	return uploadVia(w.t, w.emu, c, "someone-else")
}

// TestCrashFollowToReady kills the daemon with SIGKILL while jobs are
// processing and, in pull mode, between applying an event and its
// ConfirmEvents; after restarts every job is ready exactly once (one
// idempotency key per hook event), moved only once ready, no event of ours
// is left unconfirmed and a foreign event is never confirmed.
func TestCrashFollowToReady(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level crash test; runs without -short")
	}
	for _, mode := range []string{"poll", "pull"} {
		t.Run(mode, func(t *testing.T) {
			w := newPlayWorld(t, mode)
			foreign := ""
			if mode == "pull" {
				foreign = w.uploadForeign()
			}
			w.drop1("a.mp4")
			w.drop1("b.mp4")
			kills := []string{"CommitUpload", "DescribeTaskDetail"}
			if mode == "pull" {
				kills = []string{"CommitUpload", "ConfirmEvents", "PullEvents", "ConfirmEvents"}
			}
			hit := 0
			for i, op := range kills {
				d := w.start()
				if i == 1 {
					w.drop1("c.mp4")
				}
				if w.killAt(d, op) {
					hit++
				}
			}
			t.Logf("%s: %d of %d kills hit their moment", mode, hit, len(kills))
			d := w.start()
			w.waitReady(d)
			if mode == "pull" {
				// An event that came before its job was recorded (or
				// across a kill) comes again after the redelivery time
				// and is confirmed then.
				time.Sleep(2500 * time.Millisecond)
			}
			d.stop(t, 10*time.Second)
			w.verify()
			w.verifyStatus()
			if mode != "pull" {
				return
			}
			left := w.pullLeft()
			for _, l := range left {
				if l != "upload someone-else" && l != "procedure "+foreign {
					t.Errorf("an event of ours was left unconfirmed: %s", l)
				}
			}
			if len(left) != 2 {
				t.Errorf("events left %v, want the foreign upload's two", left)
			}
		})
	}
}

// uploadVia commits a small media with a procedure through the official
// clients.
func uploadVia(t *testing.T, e *emulator.Emulator, c *vod.Client, sourceContext string) string {
	t.Helper()
	req := vod.NewApplyUploadRequest()
	req.MediaType, req.SourceContext, req.Procedure = common.StringPtr("mp4"), common.StringPtr(sourceContext), common.StringPtr("news-transcode")
	ap, err := c.ApplyUpload(req)
	if err != nil {
		t.Fatal(err)
	}
	r := ap.Response
	u, _ := url.Parse("http://" + e.Addr())
	cc := cossdk.NewClient(&cossdk.BaseURL{BucketURL: u}, &http.Client{Transport: &cossdk.AuthorizationTransport{
		SecretID: *r.TempCertificate.SecretId, SecretKey: *r.TempCertificate.SecretKey, SessionToken: *r.TempCertificate.Token}})
	cc.Host = *r.StorageBucket + ".cos." + *r.StorageRegion + ".myqcloud.com"
	if _, err := cc.Object.Put(context.Background(), (*r.MediaStoragePath)[1:], strings.NewReader("foreign"), nil); err != nil {
		t.Fatal(err)
	}
	cr := vod.NewCommitUploadRequest()
	cr.VodSessionKey = r.VodSessionKey
	cm, err := c.CommitUpload(cr)
	if err != nil {
		t.Fatal(err)
	}
	return *cm.Response.FileId
}

// verifyStatus: `vodwatchd status` shows every job ready with its outputs.
func (w *playWorld) verifyStatus() {
	w.t.Helper()
	out, err := exec.Command(binary(w.t), "status", "--config", w.cfgPath).CombinedOutput()
	if err != nil {
		w.t.Fatalf("status: %v\n%s", err, out)
	}
	for _, n := range w.names {
		line := ""
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "/"+n) {
				line = l
			}
		}
		if !strings.Contains(line, " ready ") || !strings.Contains(line, "/vodout/") || !strings.Contains(line, "outputs)") {
			w.t.Errorf("status line of %s: %q", n, line)
		}
	}
}
