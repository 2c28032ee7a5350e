package faultsuite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/health"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// Regression tests for the bugs this suite found.

// TestInvalidUTF8NameSkipped: a file whose name is not valid UTF-8 cannot
// be recorded faithfully (nor named in VOD): it is left alone with a clear
// warning, never recorded under a mangled name and failed as "missing".
func TestInvalidUTF8NameSkipped(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule})
	recordRow(t, r, "hostile: invalid UTF-8 name", 2, 1, "skipped with a warning")
	rel := "bad\xff\xfename.mp4"
	r.write(rel, testutil.Content(rel, 3002))
	r.write("good.mp4", testutil.Content("good", 3002))
	r.start()
	r.eventually(20*time.Second, "good.mp4 done", func() bool { return len(r.jobs(state.StageDone)) == 1 })
	r.eventually(5*time.Second, "a warning naming the skipped file", func() bool {
		return strings.Contains(r.logs.String(), "not valid UTF-8")
	})
	if n := len(r.jobs()); n != 1 {
		t.Fatalf("%d jobs, want only good.mp4's", n)
	}
	if _, err := os.Stat(filepath.Join(r.drop, rel)); err != nil {
		t.Fatalf("the skipped file was touched: %v", err)
	}
}

// TestSymlinkSwappedIn: a file that settled and was taken is replaced
// by a symlink to a file outside the watch root while its ApplyUpload is
// under way. The outside file must never be read, let alone sent to COS.
func TestSymlinkSwappedIn(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule, emu: func(c *emulator.Config) {
		c.Faults = emulator.FaultConfig{Latency: map[string]time.Duration{"ApplyUpload": time.Second}}
	}})
	recordRow(t, r, "hostile: symlink swapped in mid-upload", 1, 0, "never read, never committed")
	outside := filepath.Join(r.dir, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := testutil.Content("outside-secret", 40<<10)
	target := filepath.Join(outside, "secret.mp4")
	if err := os.WriteFile(target, secret, 0o644); err != nil {
		t.Fatal(err)
	}
	r.write("victim.mp4", testutil.Content("victim", 40<<10))
	r.start()
	r.eventually(20*time.Second, "ApplyUpload for victim.mp4", func() bool {
		return r.emulator().Stats().Requests["ApplyUpload"] > 0
	})
	victim := filepath.Join(r.drop, "victim.mp4")
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	symlink(t, target, victim)
	r.eventually(20*time.Second, "the job to end", func() bool {
		j, ok := r.jobAt("victim.mp4")
		return ok && (j.Stage == state.StageDone || j.LastError != nil)
	})
	time.Sleep(200 * time.Millisecond)
	if cosHolds(t, r, secret[:4096]) {
		t.Error("the bytes of a file outside the watch root were sent to COS (the upload followed a symlink swapped in after the file was taken)")
	}
	for _, m := range r.emulator().Media() {
		if m.Size == int64(len(secret)) && strings.Contains(m.Name, "victim") {
			if b, err := get(m.MediaURL); err == nil && string(b) == string(secret) {
				t.Error("the outside file was committed as media")
			}
		}
	}
}

// TestVanishedFileCode: a file deleted while its parts are sent is
// reported as FileMissing (the daemon's own code for a vanished file), not
// FileChanged.
func TestVanishedFileCode(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule, parts: 1, emu: slowParts})
	r.write("gone.mp4", testutil.Content("gone", 3<<20+5))
	r.start()
	waitUploading(r, "gone.mp4")
	if err := os.Remove(filepath.Join(r.drop, "gone.mp4")); err != nil {
		t.Fatal(err)
	}
	var j *state.Job
	r.eventually(30*time.Second, "gone.mp4 failed", func() bool {
		var ok bool
		j, ok = r.jobAt("gone.mp4")
		return ok && j.LastError != nil
	})
	if j.LastError.Code != "FileMissing" {
		t.Errorf("code %s (%s), want FileMissing", j.LastError.Code, j.LastError.Message)
	}
}

// TestReadyzSaysWhy: with the state disk full, /readyz must say why
// (disk full), not only that the store "is not open" (health.Snapshot has
// no field for the daemon's state error).
func TestReadyzSaysWhy(t *testing.T) {
	stateDir := filepath.Join(t.TempDir(), "state")
	mountTmpfs(t, stateDir, "2m")
	r := newRig(t, rigOpts{rules: allRule, stateDir: stateDir})
	r.start()
	fill(t, filepath.Join(stateDir, "filler"))
	r.write("full.mp4", testutil.Content("full", 4000))
	r.eventually(20*time.Second, "the daemon to notice the full disk", func() bool {
		return !r.run.HealthSnapshot(context.Background()).StateOpen
	})
	for _, c := range health.NewChecker(r.run, health.Options{}).Ready(context.Background()).Checks {
		if c.Name == "state" && !strings.Contains(c.Reason, "disk full") {
			t.Errorf("/readyz state check says %q; want the reason (disk full)", c.Reason)
		}
	}
}
