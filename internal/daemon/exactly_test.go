package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/daemon"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// TestIdentity: the same drop seen again (a restart and its catch-up scan)
// is the same job; a replaced file is a new one.
func TestIdentity(t *testing.T) {
	h := startHarnessOf(t, hconf{extra: "    rescan_interval: 1s"})
	h.write("same.mp4", 4000)
	first := h.waitDone(1, 20*time.Second)[0]
	time.Sleep(1500 * time.Millisecond) // a periodic rescan passes
	h.stop()
	h.start(h.cfg)
	time.Sleep(1500 * time.Millisecond) // start-up scan and a settle window
	if jobs := h.jobs(); len(jobs) != 1 || jobs[0].ID != first.ID {
		t.Fatalf("%d jobs after a restart, want the one job %s", len(jobs), first.ID)
	}
	if n := len(h.emu.Media()); n != 1 {
		t.Fatalf("%d media after a restart, want 1", n)
	}

	newer := testutil.Content("replaced", 4000) // same size, new inode and mtime
	tmp := filepath.Join(h.drop, ".same.mp4.tmp")
	if err := os.WriteFile(tmp, newer, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.drop, "same.mp4")); err != nil {
		t.Fatal(err)
	}
	h.eventually(20*time.Second, "the replaced file uploaded", func() bool {
		j := h.jobAt("same.mp4")
		return j.ID != first.ID && j.Stage == state.StageDone
	})
	if n := len(h.emu.Media()); n != 2 {
		t.Fatalf("%d media, want 2 (the replaced file is new)", n)
	}
	if !bytes.Equal(fetch(t, h.jobAt("same.mp4").Result.MediaURL), newer) {
		t.Fatal("the replaced file's bytes differ")
	}
}

// TestResumeAfterStop stops the daemon in the middle of a multipart upload:
// the stop is bounded, no goroutine of the pipeline outlives it, and after a
// restart only the missing parts are sent, in the same session.
func TestResumeAfterStop(t *testing.T) {
	h := startHarnessOf(t, hconf{upload: "workers: 2\n  parts_in_flight: 2"}, func(c *emulator.Config) {
		c.Faults = emulator.FaultConfig{Latency: map[string]time.Duration{"UploadPart": 400 * time.Millisecond}}
	})
	want := h.write("resume.mp4", 12<<20+321) // 13 parts of 1 MiB
	var done map[int]bool
	var id string
	h.eventually(30*time.Second, "some parts recorded", func() bool {
		j, ok, err := h.store.ByPath(context.Background(), h.drop, "resume.mp4")
		if err != nil || !ok {
			return false
		}
		id, done = j.ID, partsDone(t, j)
		return len(done) >= 3
	})
	start := time.Now()
	h.stop()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("stopping with an upload in flight took %v", took)
	}
	assertNoPipelineGoroutines(t)
	j, err := openStore(t, h).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	done = partsDone(t, j)
	if !j.Stage.InFlight() {
		t.Fatalf("stage after stop = %s, want an in-flight stage", j.Stage)
	}

	h.emu.SetFaults(emulator.FaultConfig{})
	h.start(h.cfg)
	j = h.waitStage("resume.mp4", state.StageDone, 30*time.Second)
	if !bytes.Equal(fetch(t, j.Result.MediaURL), want) {
		t.Fatal("bytes differ after the resume")
	}
	st := h.emu.Stats()
	if st.Applies != 1 {
		t.Errorf("%d ApplyUpload sessions, want 1 (the session was resumed)", st.Applies)
	}
	if len(st.COS.PartsReceived) != 1 {
		t.Fatalf("%d multipart uploads, want 1", len(st.COS.PartsReceived))
	}
	for _, parts := range st.COS.PartsReceived {
		sent := 0
		for n, times := range parts {
			sent += times
			if done[n] && times != 1 {
				t.Errorf("part %d was recorded before the stop but received %d times", n, times)
			}
		}
		if len(parts) != 13 {
			t.Errorf("%d distinct parts received, want 13", len(parts))
		}
		// Only parts in flight at the stop (at most parts_in_flight) may
		// have been sent twice.
		if sent > 13+2 {
			t.Errorf("%d parts sent for 13 (%d recorded before the stop)", sent, len(done))
		}
		t.Logf("%d parts recorded before the stop; %d part uploads in all", len(done), sent)
	}
}

// openStore gives a stopped harness's store back for reading (the harness
// closed it); it is closed again before the harness restarts.
func openStore(t *testing.T, h *harness) *state.Store {
	t.Helper()
	s, err := state.Open(h.cfg.State, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h.reopen = append(h.reopen, s)
	return s
}

func partsDone(t *testing.T, j *state.Job) map[int]bool {
	t.Helper()
	var cp uploader.Checkpoint
	if len(j.Checkpoint) > 0 {
		if err := json.Unmarshal(j.Checkpoint, &cp); err != nil {
			t.Fatal(err)
		}
	}
	out := map[int]bool{}
	for _, o := range cp.Objects {
		for _, p := range o.Parts {
			out[p.Number] = true
		}
	}
	return out
}

// assertNoPipelineGoroutines fails when a goroutine of the daemon, the
// watcher or the settler is still running.
func assertNoPipelineGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var left []string
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "internal/daemon.Test") || strings.Contains(g, "testing.tRunner") {
				continue
			}
			for _, pkg := range []string{"internal/daemon.", "internal/watcher.", "internal/settle.", "internal/uploader."} {
				if strings.Contains(g, "vodwatchd/"+pkg) {
					left = append(left, g)
					break
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines outlived the daemon:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// commitCrash lets the real CommitUpload happen, then holds the checkpoint
// save that would record its answer until the daemon stops: the job stays
// in committing, as after a crash at that moment.
type commitCrash struct {
	daemon.Uploader
	once sync.Once
	hit  chan struct{}
}

func (c *commitCrash) Upload(ctx context.Context, req uploader.Request, cp *uploader.Checkpoint, p uploader.Progress) (uploader.Result, error) {
	outer := ctx // the uploader saves a commit's answer with a context that is never cancelled
	return c.Uploader.Upload(ctx, req, cp, uploader.ProgressFunc(func(ctx context.Context, cp *uploader.Checkpoint) error {
		if cp.Result != nil {
			c.once.Do(func() { close(c.hit) })
			<-outer.Done()
			return outer.Err()
		}
		return p.Save(ctx, cp)
	}))
}

// TestCommittingSettledAfterCrash: a job left in committing after its
// CommitUpload succeeded is settled without a second copy, whether the
// service answers a repeated CommitUpload with the same FileId or refuses
// the session key.
func TestCommittingSettledAfterCrash(t *testing.T) {
	for _, mode := range []string{emulator.RepeatCommitSame, emulator.RepeatCommitError} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, hconf{}, func(c *emulator.Config) { c.RepeatCommit = mode })
			crash := &commitCrash{hit: make(chan struct{})}
			h.wrap = func(u daemon.Uploader) daemon.Uploader { crash.Uploader = u; return crash }
			h.start(h.cfg)
			want := h.write("commit.mp4", 5<<20+1)
			select {
			case <-crash.hit:
			case <-time.After(30 * time.Second):
				t.Fatalf("CommitUpload never answered\n%s", testutil.Tail(h.logs.String(), 40))
			}
			id := h.jobAt("commit.mp4").ID
			h.stop()
			j, err := openStore(t, h).Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if j.Stage != state.StageCommitting {
				t.Fatalf("stage after the crash = %s, want committing", j.Stage)
			}
			h.closeReopened()

			h.wrap = nil // the app gives the daemon the production MediaFinder
			h.start(h.cfg)
			j = h.waitStage("commit.mp4", state.StageDone, 20*time.Second)
			media := h.emu.Media()
			if len(media) != 1 || media[0].FileID != j.Result.FileID {
				t.Fatalf("%d media (job FileId %s), want the one committed before the crash", len(media), j.Result.FileID)
			}
			if !bytes.Equal(fetch(t, j.Result.MediaURL), want) {
				t.Fatal("bytes differ")
			}
			st := h.emu.Stats()
			if st.Applies != 1 {
				t.Errorf("%d ApplyUpload sessions, want 1 (nothing uploaded again)", st.Applies)
			}
			if mode == emulator.RepeatCommitError && st.Errors["InvalidParameterValue.VodSessionKey"] == 0 {
				t.Errorf("the repeated commit was not refused: %v", st.Errors)
			}
		})
	}
}

// TestDedupe: with dedupe: true the same bytes under another name, later
// or at the same moment, are linked to the existing FileId.
func TestDedupe(t *testing.T) {
	h := startHarness(t, `    rules:
      - name: all
        match: "**/*"
        dedupe: true`)
	same := testutil.Content("dup", 300_000)
	h.writeFile("first.mp4", same)
	first := h.waitStage("first.mp4", state.StageDone, 20*time.Second)
	h.writeFile("again/second.mp4", same)
	second := h.waitStage("again/second.mp4", state.StageDone, 20*time.Second)
	if second.Result.FileID != first.Result.FileID || second.ContentHash == "" || second.ContentHash != first.ContentHash {
		t.Fatalf("second: FileId %s hash %s; want linked to %s (hash %s)", second.Result.FileID, second.ContentHash, first.Result.FileID, first.ContentHash)
	}
	twin := testutil.Content("twin", 200_000)
	h.writeFile("x.mp4", twin)
	h.writeFile("y.mp4", twin)
	x := h.waitStage("x.mp4", state.StageDone, 20*time.Second)
	y := h.waitStage("y.mp4", state.StageDone, 20*time.Second)
	if x.Result.FileID != y.Result.FileID {
		t.Fatalf("twins dropped together got FileIds %s and %s", x.Result.FileID, y.Result.FileID)
	}
	if n := len(h.emu.Media()); n != 2 {
		t.Fatalf("%d media, want 2 (one per content)", n)
	}
	h.writeFile("other.mp4", testutil.Content("other", 300_000))
	if o := h.waitStage("other.mp4", state.StageDone, 20*time.Second); o.Result.FileID == first.Result.FileID {
		t.Fatal("different bytes linked to the same FileId")
	}
}

// TestTornCertificateMeansNewSession: session certificates are not
// fsynced (state.Store.PutSecret), so one read back torn after a power cut
// must cost a new session, never a failed job or a second copy.
func TestTornCertificateMeansNewSession(t *testing.T) {
	h := startHarnessOf(t, hconf{upload: "workers: 1\n  parts_in_flight: 1"}, func(c *emulator.Config) {
		c.Faults = emulator.FaultConfig{Latency: map[string]time.Duration{"UploadPart": 300 * time.Millisecond}}
	})
	want := h.write("torn.mp4", 4<<20+17) // 5 parts of 1 MiB: multipart, so the certificate is kept
	var id string
	h.eventually(30*time.Second, "a part recorded", func() bool {
		j, ok, err := h.store.ByPath(context.Background(), h.drop, "torn.mp4")
		if err != nil || !ok {
			return false
		}
		id = j.ID
		return len(partsDone(t, j)) >= 1
	})
	h.stop()
	cert := filepath.Join(h.cfg.State+".secrets", id)
	if _, err := os.Stat(cert); err != nil {
		t.Fatalf("no certificate kept for a multipart session: %v", err)
	}
	if err := os.WriteFile(cert, []byte(`{"SecretId":"AKID`), 0o600); err != nil { // torn
		t.Fatal(err)
	}
	h.emu.SetFaults(emulator.FaultConfig{})
	h.start(h.cfg)
	j := h.waitStage("torn.mp4", state.StageDone, 30*time.Second)
	if !bytes.Equal(fetch(t, j.Result.MediaURL), want) {
		t.Fatal("bytes differ after the new session")
	}
	for _, tr := range j.History {
		if tr.To == state.StageFailed {
			t.Fatalf("the torn certificate failed an attempt: %+v", j.History)
		}
	}
	if st := h.emu.Stats(); st.Applies != 2 || st.Commits != 1 {
		t.Fatalf("%d ApplyUpload, %d CommitUpload; want 2 sessions (the torn one dropped) and 1 commit", st.Applies, st.Commits)
	}
	if got := len(h.emu.Media()); got != 1 {
		t.Fatalf("%d media in VOD, want 1", got)
	}
}
