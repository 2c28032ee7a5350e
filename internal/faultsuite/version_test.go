package faultsuite

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// "A file is one whole version" (issue 18 items 3 and 4): what changed
// after it was read and before the commit is uploaded again as a whole,
// never committed torn or stale.

// rewriteInPlace overwrites n bytes at off with other bytes and puts the
// file's mtime back (dd conv=notrunc, then touch -r): size and mtime are
// those recorded; only the inode's ctime tells.
func rewriteInPlace(t *testing.T, p string, off int64, b []byte) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // past the ctime clock's tick
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// TestRewrittenInPlaceDuringUpload: the first bytes of a file are
// rewritten during its multipart upload, size and mtime put back. The
// committed media is the new version, whole; the torn mix is never
// committed.
func TestRewrittenInPlaceDuringUpload(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule, parts: 1, emu: slowParts})
	recordRow(t, r, "version: rewritten in place, mtime put back", 1, 1, "new bytes whole, once")
	data := testutil.Content("torn", 3<<20+5)
	r.write("torn.mp4", data)
	r.start()
	first := waitUploading(r, "torn.mp4")
	patch := testutil.Content("patch", 4096)
	rewriteInPlace(t, filepath.Join(r.drop, "torn.mp4"), 0, patch)
	want := append(append([]byte(nil), patch...), data[len(patch):]...)
	var j *state.Job
	r.eventually(60*time.Second, "torn.mp4 done", func() bool {
		var ok bool
		j, ok = r.jobAt("torn.mp4")
		return ok && j.Stage == state.StageDone
	})
	r.never(time.Second, "a second job", func() bool { return len(r.jobs()) != 1 })
	if j.ID != first.ID {
		t.Errorf("job %s done, want the first job %s taking the file again", j.ID, first.ID)
	}
	if n := len(r.emulator().Media()); n != 1 {
		t.Fatalf("%d media, want 1", n)
	}
	checkBytes(t, "torn.mp4", mediaURLOf(r.emulator().Media(), j.Result.FileID), want)
}

// writeBundle writes an HLS playlist over n segments of size bytes each
// under dir and returns the segments' bytes by name.
func writeBundle(r *rig, dir string, n, size int) map[string][]byte {
	segs := map[string][]byte{}
	var m strings.Builder
	m.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n")
	for i := range n {
		name := fmt.Sprintf("seg%d.ts", i)
		segs[name] = testutil.Content(dir+name, size)
		r.write(dir+"/"+name, segs[name])
		fmt.Fprintf(&m, "#EXTINF:4.0,\n%s\n", name)
	}
	m.WriteString("#EXT-X-ENDLIST\n")
	r.write(dir+"/index.m3u8", []byte(m.String()))
	return segs
}

// sentObjects lists the bundle files whose PUT finished, by base name.
func sentObjects(j *state.Job) map[string]bool {
	var cp uploader.Checkpoint
	out := map[string]bool{}
	if json.Unmarshal(j.Checkpoint, &cp) != nil {
		return out
	}
	for _, o := range cp.Objects {
		if o.Done {
			out[filepath.Base(o.Path)] = true
		}
	}
	return out
}

// TestBundleFileChangedAfterPut: one segment is appended to and another
// replaced after its PUT, while later segments are still being sent. The
// bundle is uploaded again as a whole and committed once, with every
// segment's new bytes: never left failed, never committed stale.
func TestBundleFileChangedAfterPut(t *testing.T) {
	// One bundle file at a time, so later segments are still being sent
	// when the first ones change.
	r := newRig(t, rigOpts{rules: allRule, parts: 1, upload: "  objects_in_flight: 1", emu: func(c *emulator.Config) {
		c.Faults = emulator.FaultConfig{Latency: map[string]time.Duration{"PutObject": 200 * time.Millisecond}}
	}})
	recordRow(t, r, "version: bundle segments change after their PUT", 1, 1, "whole bundle again, once")
	segs := writeBundle(r, "show", 8, 20000)
	r.start()
	r.eventually(30*time.Second, "two segments sent", func() bool {
		j, ok := r.jobAt("show/index.m3u8")
		if !ok {
			return false
		}
		sent := sentObjects(j)
		return sent["seg0.ts"] && sent["seg1.ts"]
	})
	more := testutil.Content("appended", 5000)
	f, err := os.OpenFile(filepath.Join(r.drop, "show", "seg0.ts"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(more); err != nil {
		t.Fatal(err)
	}
	f.Close()
	segs["seg0.ts"] = append(segs["seg0.ts"], more...)
	segs["seg1.ts"] = testutil.Content("replaced", 20000)
	tmp := filepath.Join(r.drop, "show", ".seg1.tmp")
	if err := os.WriteFile(tmp, segs["seg1.ts"], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(r.drop, "show", "seg1.ts")); err != nil {
		t.Fatal(err)
	}
	var j *state.Job
	r.eventually(60*time.Second, "the bundle done", func() bool {
		var ok bool
		j, ok = r.jobAt("show/index.m3u8")
		return ok && (j.Stage == state.StageDone || j.Stage == state.StageQuarantined || (j.Stage == state.StageFailed && j.NextRetry.IsZero()))
	})
	if j.Stage != state.StageDone {
		t.Fatalf("bundle %s: %+v, want done", j.Stage, j.LastError)
	}
	r.never(time.Second, "a second job", func() bool { return len(r.jobs()) != 1 })
	media := r.emulator().Media()
	if len(media) != 1 {
		t.Fatalf("%d media, want 1", len(media))
	}
	u := mediaURLOf(media, j.Result.FileID)
	base := u[:strings.LastIndex(u, "/")+1]
	for _, name := range []string{"seg0.ts", "seg1.ts", "seg7.ts"} {
		checkBytes(t, "show/"+name, base+name, segs[name])
	}
}

// TestSessionExpiredDuringStop (issue 11): the daemon stops in the middle
// of an upload for longer than a VodSessionKey lives. On restart the
// certificate still works, the parts are finished, and CommitUpload
// refuses the session: nothing was committed, so the file is uploaded
// again from a new session in the same attempt: done, one media, never
// quarantined.
func TestSessionExpiredDuringStop(t *testing.T) {
	// Long enough for a whole upload of the file (4 slow parts) under
	// -race on a busy machine, shorter than the stop.
	const lifetime = 5 * time.Second
	r := newRig(t, rigOpts{rules: allRule, parts: 1, emu: func(c *emulator.Config) {
		slowParts(c)
		c.SessionLifetime = lifetime
	}})
	recordRow(t, r, "session: expired during a stop", 1, 1, "uploaded again, not quarantined")
	data := testutil.Content("expiring", 3<<20+5)
	r.write("expiring.mp4", data)
	r.start()
	first := waitUploading(r, "expiring.mp4")
	r.stop()
	time.Sleep(lifetime + 500*time.Millisecond)
	r.start()
	var j *state.Job
	r.eventually(60*time.Second, "expiring.mp4 to rest", func() bool {
		var ok bool
		j, ok = r.jobAt("expiring.mp4")
		return ok && (j.Stage == state.StageDone || j.Stage == state.StageQuarantined || (j.Stage == state.StageFailed && j.NextRetry.IsZero()))
	})
	if j.Stage != state.StageDone || j.ID != first.ID {
		t.Fatalf("job %s is %s (%+v), want %s done", j.ID, j.Stage, j.LastError, first.ID)
	}
	if !strings.Contains(r.logs.String(), "session refused before any commit") {
		t.Fatal("the refused session was not the path taken (the stop did not outlive the session?)")
	}
	if n := len(r.emulator().Media()); n != 1 {
		t.Fatalf("%d media, want 1", n)
	}
	checkBytes(t, "expiring.mp4", mediaURLOf(r.emulator().Media(), j.Result.FileID), data)
}
