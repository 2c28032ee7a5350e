package faultsuite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// slowParts makes each part take a while, so a test can act while a
// multipart upload is under way.
func slowParts(c *emulator.Config) {
	c.Faults = emulator.FaultConfig{Latency: map[string]time.Duration{"UploadPart": 250 * time.Millisecond}}
}

// waitUploading waits until rel's job is sending parts.
func waitUploading(r *rig, rel string) *state.Job {
	var j *state.Job
	r.eventually(20*time.Second, rel+" uploading", func() bool {
		var ok bool
		j, ok = r.jobAt(rel)
		return ok && j.Stage == state.StageUploading && r.emulator().Stats().Requests["UploadPart"] > 0
	})
	return j
}

// mediaBySC counts the emulator's media by SourceContext.
func mediaBySC(r *rig) map[string]int {
	out := map[string]int{}
	for _, m := range r.emulator().Media() {
		out[m.SourceContext]++
	}
	return out
}

// TestVanishingDuringUpload removes a file while its parts are sent: the
// job fails with FileMissing, nothing is committed for it, and the daemon
// goes on with other files.
func TestVanishingDuringUpload(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule, parts: 1, emu: slowParts})
	recordRow(t, r, "hostile: file vanishes mid-upload", 2, 1, "FileMissing, others go on")
	r.write("gone.mp4", testutil.Content("gone", 3<<20+5))
	r.start()
	first := waitUploading(r, "gone.mp4")
	if err := os.Remove(filepath.Join(r.drop, "gone.mp4")); err != nil {
		t.Fatal(err)
	}
	r.write("after.mp4", testutil.Content("after", 1000))
	var j *state.Job
	r.eventually(30*time.Second, "gone.mp4 failed and after.mp4 done", func() bool {
		var ok bool
		j, ok = r.jobAt("gone.mp4")
		a, aok := r.jobAt("after.mp4")
		return ok && j.LastError != nil && j.Stage != state.StageUploading && aok && a.Stage == state.StageDone
	})
	// FileMissing would be the precise code; FileChanged is what the
	// commit-time check gives today (faultbugs: TestBugVanishedFileCode).
	if code := j.LastError.Code; j.ID != first.ID || (code != "FileMissing" && code != "FileChanged") || !strings.Contains(j.LastError.Message, "gone.mp4") {
		t.Errorf("job %s: stage %s error %+v; want FileMissing naming gone.mp4", j.ID, j.Stage, j.LastError)
	}
	if j.Stage == state.StageQuarantined {
		t.Errorf("a vanished file was quarantined")
	}
	r.never(time.Second, "a vanished file was committed", func() bool { return mediaBySC(r)[j.SourceContext] > 0 })
}

// TestGrowingAfterTaken appends to a file while its parts are sent: the
// old identity is never committed; the grown file is uploaded once as a
// new job with its new bytes.
func TestGrowingAfterTaken(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule, parts: 1, emu: slowParts})
	recordRow(t, r, "hostile: file grows after it was taken", 1, 1, "new bytes, once")
	old := testutil.Content("grow", 3<<20+5)
	r.write("grow.mp4", old)
	r.start()
	first := waitUploading(r, "grow.mp4")
	more := testutil.Content("more", 64<<10)
	f, err := os.OpenFile(filepath.Join(r.drop, "grow.mp4"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(more); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var second *state.Job
	r.eventually(40*time.Second, "the grown file uploaded as a new job", func() bool {
		var ok bool
		second, ok = r.jobAt("grow.mp4")
		return ok && second.ID != first.ID && second.Stage == state.StageDone
	})
	if j, err := r.store.Get(context.Background(), first.ID); err != nil || j.Stage == state.StageDone {
		t.Errorf("first job (old identity): %v, stage %v; want it abandoned", err, j)
	} else if j.LastError == nil || j.LastError.Code != "FileChanged" {
		t.Errorf("first job: error %+v, want FileChanged", j.LastError)
	}
	var names int
	for _, m := range r.emulator().Media() {
		if m.Name == "grow" {
			names++
		}
		if m.Size == int64(len(old)) {
			t.Errorf("media %s was committed with the old identity (%d bytes)", m.FileID, m.Size)
		}
	}
	if names != 1 {
		t.Errorf("%d media named grow, want 1", names)
	}
	if got := mediaBySC(r)[first.SourceContext]; got != 0 {
		t.Errorf("the first job (old identity) committed %d media", got)
	}
	checkBytes(t, "grow.mp4", mediaURLOf(r.emulator().Media(), second.Result.FileID), append(old, more...))
}

// TestDirectoryReplacedByFile replaces a folder by a file of the same name,
// once before its file settled and once after it was uploaded.
func TestDirectoryReplacedByFile(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule})
	r.start()
	r.write("late.mp4/a.mp4", testutil.Content("late-a", 2000))
	r.write("early.mp4/a.mp4", testutil.Content("early-a", 2001))
	if err := os.RemoveAll(filepath.Join(r.drop, "early.mp4")); err != nil {
		t.Fatal(err)
	}
	early := testutil.Content("early", 2002)
	r.write("early.mp4", early)
	r.waitDone("late.mp4/a.mp4", 20*time.Second)
	if err := os.RemoveAll(filepath.Join(r.drop, "late.mp4")); err != nil {
		t.Fatal(err)
	}
	late := testutil.Content("late", 2003)
	r.write("late.mp4", late)
	done := func(rel string) bool {
		j, ok := r.jobAt(rel)
		return ok && j.Stage == state.StageDone
	}
	r.eventually(20*time.Second, "the replacing files done", func() bool { return done("early.mp4") && done("late.mp4") })
	time.Sleep(300 * time.Millisecond)
	counts := mediaBySC(r)
	for rel, want := range map[string][]byte{"early.mp4": early, "late.mp4": late, "late.mp4/a.mp4": testutil.Content("late-a", 2000)} {
		j, _ := r.jobAt(rel)
		if counts[j.SourceContext] != 1 {
			t.Errorf("%s: %d media, want 1", rel, counts[j.SourceContext])
		}
		checkBytes(t, rel, mediaURLOf(r.emulator().Media(), j.Result.FileID), want)
	}
	if j, ok := r.jobAt("early.mp4/a.mp4"); ok && counts[j.SourceContext] != 0 {
		t.Errorf("early.mp4/a.mp4 was committed after its folder was replaced")
	}
	if n := len(r.jobs(state.StageQuarantined)); n != 0 {
		t.Errorf("%d jobs quarantined", n)
	}
}

// TestUnreadableFile drops a file nobody may read (as root permissions
// do not matter, so the test runs itself again as nobody): the other file
// is uploaded, the unreadable one fails with FileUnreadable naming it, it
// is not moved, and nothing of it is committed.
func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		testutil.RunAsNobody(t, "TestUnreadableFile", 60*time.Second)
		return
	}
	r := newRig(t, rigOpts{rules: allRule})
	r.write("ok.mp4", testutil.Content("ok", 1000))
	r.write("locked.mp4", testutil.Content("locked", 1001))
	locked := filepath.Join(r.drop, "locked.mp4")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o644) })
	r.start()
	var j *state.Job
	r.eventually(20*time.Second, "ok.mp4 done and locked.mp4 failed", func() bool {
		ok, found := r.jobAt("ok.mp4")
		var lf bool
		j, lf = r.jobAt("locked.mp4")
		return found && ok.Stage == state.StageDone && lf && j.LastError != nil
	})
	if j.LastError.Code != "FileUnreadable" || !strings.Contains(j.LastError.Message, "locked.mp4") {
		t.Errorf("locked.mp4: stage %s error %+v; want FileUnreadable naming it", j.Stage, j.LastError)
	}
	if _, err := os.Lstat(locked); err != nil {
		t.Errorf("the unreadable file was moved: %v", err)
	}
	if n := mediaBySC(r)[j.SourceContext]; n != 0 {
		t.Errorf("the unreadable file was committed %d times", n)
	}
}
