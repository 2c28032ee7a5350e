package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/app"
	"github.com/vodwatchd/vodwatchd/internal/app/apptest"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// playRig runs the real wiring against an emulator whose tasks take
// taskTime and fail at failRate.
type playRig struct {
	dir, drop string
	emu       *emulator.Emulator
	run       *apptest.Running
	logs      *testutil.Buffer
}

func startPlay(t *testing.T, mode string, taskTime time.Duration, failRate float64, after, hooks string) *playRig {
	t.Helper()
	return startPlayWith(t, mode, taskTime, failRate, hooks, `    rules:
      - name: news
        match: "**/*.mp4"
        procedure: news-transcode
        after: `+after+"\n")
}

func startPlayRules(t *testing.T, mode string, taskTime time.Duration, rules string) *playRig {
	t.Helper()
	return startPlayWith(t, mode, taskTime, 0, "", rules)
}

func startPlayWith(t *testing.T, mode string, taskTime time.Duration, failRate float64, hooks, rules string) *playRig {
	t.Helper()
	dir := t.TempDir()
	r := &playRig{dir: dir, drop: filepath.Join(dir, "drop"), logs: &testutil.Buffer{}}
	r.emu = emulatortest.Start(t, func(c *emulator.Config) {
		c.Tasks = emulator.TaskConfig{Duration: taskTime, FailRate: failRate, Seed: 7, PullWait: 300 * time.Millisecond, Redeliver: time.Second}
	})
	tpl := apptest.Template{
		Endpoint: r.emu.Addr(), SecretID: r.emu.SecretID(), SecretKey: r.emu.SecretKey(),
		State: apptest.StatePath(dir), Drop: r.drop, Log: "{ level: debug }",
		Extra: "follow: { mode: " + mode + ", interval: 1s }\nhook_delivery: { backoff: 50ms, max_backoff: 200ms }",
		Watch: hooks,
		Rules: rules,
	}
	cfg := tpl.Config(t, filepath.Join(dir, "config.yaml"))
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.run = apptest.Start(t, app.Options{Config: cfg, Logger: logger}, r.logs)
	return r
}

func (r *playRig) job(t *testing.T) *state.Job {
	t.Helper()
	jobs := apptest.Jobs(t, r.run.Store())
	if len(jobs) != 1 {
		return nil
	}
	return jobs[0]
}

func sidecar(t *testing.T, p string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("sidecar %s: %v", p, err)
	}
	return m
}

// TestDropWithProcedureReachesReadyAndMovesOnlyThen: in both modes, a drop
// whose rule sets a procedure goes done -> processing -> ready with the
// outputs in its record and its sidecar; with after.when: ready the file
// stays in the drop folder until the job is ready.
func TestDropWithProcedureReachesReadyAndMovesOnlyThen(t *testing.T) {
	for _, mode := range []string{"poll", "pull"} {
		t.Run(mode, func(t *testing.T) {
			r := startPlay(t, mode, 1500*time.Millisecond, 0, "{ action: move, to: "+filepath.Join(t.TempDir(), "done")+", sidecar: true, when: ready }", "")
			apptest.WriteFile(t, r.drop, "news/a.mp4", testutil.Content("a", 40_000))
			sawProcessing := false
			testutil.Eventually(t, 20*time.Second, "job ready", func() bool {
				j := r.job(t)
				if j == nil {
					return false
				}
				_, err := os.Stat(filepath.Join(r.drop, "news", "a.mp4"))
				inDrop := err == nil
				switch j.DisplayStage() {
				case "processing":
					sawProcessing = true
					if !inDrop {
						t.Fatalf("the file left the drop folder while its job is processing")
					}
				case "ready":
					return j.Post.State == state.PostDone
				}
				return false
			}, func() string { return r.logs.String() })
			j := r.job(t)
			if !sawProcessing {
				t.Error("the job was never seen processing")
			}
			o := j.Play.Outputs
			if o == nil || len(o.Transcodes) != 1 || len(o.Streams) != 1 || o.CoverURL == "" || j.Play.TaskID == "" || j.Result.FileID == "" {
				t.Fatalf("ready job: %+v", j.Play)
			}
			doneDir := filepath.Dir(filepath.Dir(j.Post.MovedTo))
			if _, err := os.Stat(j.Post.MovedTo); err != nil {
				t.Fatalf("moved file: %v", err)
			}
			side := sidecar(t, j.Post.Sidecar)
			if side == nil || side["Stage"] != "ready" || side["FileId"] != j.Result.FileID || side["Outputs"] == nil || !strings.HasPrefix(j.Post.Sidecar, doneDir) {
				t.Fatalf("sidecar %s: %v", j.Post.Sidecar, side)
			}
			if b := testutil.Fetch(t, o.Transcodes[0].URL); len(b) != 40_000 {
				t.Fatalf("transcode output: %d bytes", len(b))
			}
		})
	}
}

// TestProcessingFailedCarriesTheServiceError: a failed task makes the job
// processing_failed with the service's code and message, rewrites the
// sidecar written at done, and fires the processing_failed hook with the
// error in its environment.
func TestProcessingFailedCarriesTheServiceError(t *testing.T) {
	out := filepath.Join(t.TempDir(), "hook.out")
	hooks := `    hooks:
      - name: notify
        on: [processing_failed]
        command: ["sh", "-c", "echo \"$VODWATCHD_EVENT|$VODWATCHD_FILE_ID|$VODWATCHD_ERROR\" >> ` + out + `"]`
	r := startPlay(t, "poll", 300*time.Millisecond, 1, "{ action: keep, sidecar: true, when: done }", hooks)
	apptest.WriteFile(t, r.drop, "news/bad.mp4", testutil.Content("bad", 20_000))
	testutil.Eventually(t, 20*time.Second, "processing_failed and its hook", func() bool {
		j := r.job(t)
		b, _ := os.ReadFile(out)
		return j != nil && j.DisplayStage() == "processing_failed" && len(b) > 0
	}, func() string { return r.logs.String() })
	j := r.job(t)
	if e := j.Play.Error; e == nil || e.Code != "SourceFileError" || !strings.Contains(e.Message, "source file") || j.Play.Outputs != nil {
		t.Fatalf("play %+v", j.Play)
	}
	testutil.Eventually(t, 5*time.Second, "sidecar rewritten", func() bool {
		s := sidecar(t, filepath.Join(r.drop, "news", "bad.mp4.vod.json"))
		return s != nil && s["Stage"] == "processing_failed"
	}, func() string { return r.logs.String() })
	s := sidecar(t, filepath.Join(r.drop, "news", "bad.mp4.vod.json"))
	if !strings.HasPrefix(s["Error"].(string), "SourceFileError: ") {
		t.Fatalf("sidecar error %v", s["Error"])
	}
	b, _ := os.ReadFile(out)
	if got := strings.TrimSpace(string(b)); !strings.HasPrefix(got, "processing_failed|"+j.Result.FileID+"|SourceFileError: ") || strings.Count(got, "\n") != 0 {
		t.Fatalf("hook saw %q", got)
	}
	testutil.Eventually(t, 5*time.Second, "delivery recorded", func() bool {
		st, err := r.run.Store().Outbox().Stats(context.Background())
		return err == nil && st.Pending == 0 && st.Dead == 0
	}, func() string { return r.logs.String() })
}

// TestLinkedDuplicateSharesTheMediaReadiness: a duplicate linked to media
// already followed to ready (content dedupe) is ready at once, even in pull
// mode where no new event will come for that media.
func TestLinkedDuplicateSharesTheMediaReadiness(t *testing.T) {
	r := startPlayRules(t, "pull", 300*time.Millisecond, `    rules:
      - name: news
        match: "**/*.mp4"
        procedure: news-transcode
        dedupe: true
`)
	body := testutil.Content("same", 30_000)
	apptest.WriteFile(t, r.drop, "a.mp4", body)
	testutil.Eventually(t, 20*time.Second, "first ready", func() bool {
		j := r.job(t)
		return j != nil && j.DisplayStage() == "ready"
	}, func() string { return r.logs.String() })
	apptest.WriteFile(t, r.drop, "copy/b.mp4", body)
	testutil.Eventually(t, 20*time.Second, "duplicate ready", func() bool {
		jobs := apptest.Jobs(t, r.run.Store())
		return len(jobs) == 2 && jobs[0].DisplayStage() == "ready" && jobs[1].DisplayStage() == "ready"
	}, func() string { return r.logs.String() })
	jobs := apptest.Jobs(t, r.run.Store())
	if jobs[0].Result.FileID != jobs[1].Result.FileID || jobs[1].Play.Outputs == nil || len(r.emu.Media()) != 1 {
		t.Fatalf("jobs %+v / %+v, %d media", jobs[0].Play, jobs[1].Play, len(r.emu.Media()))
	}
}
