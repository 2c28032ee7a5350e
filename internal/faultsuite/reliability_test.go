package faultsuite

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/health"
	"github.com/vodwatchd/vodwatchd/internal/rootlock"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// Regression tests for issue 18 (reliability round 2).

// errAnswerLost is what the uploader sees when lossyRT drops an answer.
var errAnswerLost = errors.New("connection reset by peer (answer lost by the test)")

// lossyRT is the uploader's transport in these tests: it lets chosen
// requests reach the emulator (which applies them) and then loses their
// answers, or fails them before they leave, a set number of times.
type lossyRT struct {
	next http.RoundTripper
	mu   sync.Mutex
	lose map[string]int // op -> answers still to lose (the request is applied)
	drop map[string]int // op -> requests still to fail before they leave
	gone map[string]int // op -> requests still to answer 404 (COS: NoSuchUpload) without sending them
	hits map[string]int // op -> answers lost, requests dropped or answered 404 so far
}

func newLossyRT() *lossyRT {
	return &lossyRT{lose: map[string]int{}, drop: map[string]int{}, gone: map[string]int{}, hits: map[string]int{}}
}

func (l *lossyRT) wrap(rt http.RoundTripper) http.RoundTripper { l.next = rt; return l }

// opOf names the request's operation: the API action, or the COS calls
// these tests need.
func opOf(req *http.Request) string {
	if a := req.Header.Get("X-TC-Action"); a != "" {
		return a
	}
	q := req.URL.Query()
	switch {
	case req.Method == http.MethodHead:
		return "HeadObject"
	case req.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case req.Method == http.MethodGet && q.Has("uploadId"):
		return "ListParts"
	}
	return ""
}

func (l *lossyRT) take(m map[string]int, op string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m[op] <= 0 {
		return false
	}
	m[op]--
	l.hits[op]++
	return true
}

func (l *lossyRT) set(m map[string]int, op string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m[op] = n
}

func (l *lossyRT) count(op string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hits[op]
}

func (l *lossyRT) RoundTrip(req *http.Request) (*http.Response, error) {
	op := opOf(req)
	if l.take(l.drop, op) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errAnswerLost
	}
	if l.take(l.gone, op) {
		if req.Body != nil {
			req.Body.Close()
		}
		body := "<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist (test).</Message></Error>"
		if op == "HeadObject" {
			body = ""
		}
		return &http.Response{StatusCode: http.StatusNotFound, Status: "404 Not Found", Proto: "HTTP/1.1",
			ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{"Content-Type": {"application/xml"}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
	}
	resp, err := l.next.RoundTrip(req)
	if err != nil || !l.take(l.lose, op) {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, errAnswerLost
}

// TestCommitAnswerLostTwice: the service answers a repeated CommitUpload
// with an error, and the answers of the first two CommitUploads are lost.
// The job must end done with the media that the first commit created,
// found by searching VOD from whatever stage the job was left in; the
// state stays writable (/readyz ready), and a restart uploads nothing
// again (issue 18 item 1: it became two media).
func TestCommitAnswerLostTwice(t *testing.T) {
	lossy := newLossyRT()
	lossy.set(lossy.lose, "CommitUpload", 2)
	r := newRig(t, rigOpts{rules: allRule, wrapRT: lossy.wrap,
		emu: func(c *emulator.Config) { c.RepeatCommit = emulator.RepeatCommitError }})
	recordRow(t, r, "commit answer lost twice, repeat commit refused", 1, 1, "settled by search, once")
	r.write("lost.mp4", testutil.Content("lost-answer", 30_000))
	r.start()
	r.waitDone("lost.mp4", 30*time.Second)
	if n := lossy.count("CommitUpload"); n != 2 {
		t.Fatalf("%d commit answers lost, want 2 (the test did not reach its case)", n)
	}
	logs := r.logs.String()
	if strings.Contains(logs, state.ErrTransition.Error()) {
		t.Errorf("recording the found media hit an illegal stage transition:\n%s", testutil.Tail(logs, 30))
	}
	checker := health.NewChecker(r.run, health.Options{})
	if rep := checker.Ready(context.Background()); !stateOK(rep) {
		t.Errorf("/readyz reports the state not writable after a job's bookkeeping error: %+v", rep)
	}
	j, _ := r.jobAt("lost.mp4")
	r.stop()
	r.start()
	r.never(2*time.Second, "a second media after the restart", func() bool { return len(r.emulator().Media()) > 1 })
	counts := mediaBySC(r)
	if counts[j.SourceContext] != 1 || len(r.emulator().Media()) != 1 {
		t.Errorf("%d media for lost.mp4 (%d in all), want 1", counts[j.SourceContext], len(r.emulator().Media()))
	}
	if got := r.emulator().Stats().Requests["ApplyUpload"]; got != 1 {
		t.Errorf("%d ApplyUpload, want 1 (a second session was started)", got)
	}
}

// fsImmutableFL is FS_IMMUTABLE_FL of <linux/fs.h> (chattr +i).
const fsImmutableFL = 0x10

// setImmutable sets or clears the immutable attribute of p (chattr +i),
// which makes every write to it fail with EPERM, even through a file
// descriptor opened before; it skips the test where that is not allowed.
func setImmutable(t *testing.T, p string, on bool) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		t.Skipf("cannot read the file attributes of %s here: %v", p, err)
	}
	if on {
		flags |= fsImmutableFL
	} else {
		flags &^= fsImmutableFL
	}
	v := int(flags)
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, v); err != nil {
		if on {
			t.Skipf("cannot make %s immutable here (needs CAP_LINUX_IMMUTABLE): %v", p, err)
		}
		t.Fatalf("clearing the immutable attribute of %s: %v", p, err)
	}
}

// TestInFlightAfterStateWritable: the state file refuses writes (EPERM)
// while a multipart upload is sending parts, then takes them again. The
// upload that was in flight must finish without a restart (issue 18 item
// 7: it stayed uploading until the daemon restarted), once, with its
// bytes; the failure is a state error, not FileUnreadable.
func TestInFlightAfterStateWritable(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule, parts: 1, emu: slowParts})
	recordRow(t, r, "state unwritable (EPERM) mid-upload, then writable", 1, 1, "in-flight job resumes, no restart")
	content := testutil.Content("stranded", 3<<20+11)
	r.write("stranded.mp4", content)
	r.start()
	waitUploading(r, "stranded.mp4")
	setImmutable(t, r.statePath(), true)
	t.Cleanup(func() { setImmutable(t, r.statePath(), false) })
	r.eventually(20*time.Second, "the daemon to notice the unwritable state", func() bool {
		return !r.run.HealthSnapshot(context.Background()).StateOpen
	})
	time.Sleep(time.Second) // the upload meets the unwritable state
	setImmutable(t, r.statePath(), false)
	r.waitDone("stranded.mp4", 60*time.Second)
	logs := r.logs.String()
	if logHas(logs, "code=FileUnreadable") {
		t.Errorf("a state write failure was reported as FileUnreadable")
	}
	if !logHas(logs, "the state file cannot be written", "not permitted") {
		t.Errorf("no log line says the state file cannot be written, and why (not permitted)")
	}
	media := r.emulator().Media()
	if len(media) != 1 {
		t.Fatalf("%d media, want 1", len(media))
	}
	checkBytes(t, "stranded.mp4", media[0].MediaURL, content)
}

// TestCompleteAnswerLost: the answer of CompleteMultipartUpload is lost
// (COS completed the object), so the retried Complete meets NoSuchUpload;
// the HEAD that looks for the object fails once and then does not see it
// yet. The object must be adopted: the job is done at its first attempt
// with one media holding the file's bytes (issue 18 item 2: quarantined
// at attempt 1).
func TestCompleteAnswerLost(t *testing.T) {
	lossy := newLossyRT()
	lossy.set(lossy.lose, "CompleteMultipartUpload", 1)
	lossy.set(lossy.drop, "HeadObject", 1)
	lossy.set(lossy.gone, "HeadObject", 1)
	r := newRig(t, rigOpts{rules: allRule, parts: 2, wrapRT: lossy.wrap})
	recordRow(t, r, "complete answer lost, HEAD fails then 404", 1, 1, "object adopted at attempt 1")
	content := testutil.Content("complete-lost", 3<<20+7)
	r.write("big.mp4", content)
	r.start()
	var j *state.Job
	r.eventually(40*time.Second, "big.mp4 done or given up", func() bool {
		var ok bool
		j, ok = r.jobAt("big.mp4")
		return ok && (j.Stage == state.StageDone || j.Stage == state.StageQuarantined || j.LastError != nil)
	})
	if j.Stage != state.StageDone || j.Attempts != 0 {
		t.Fatalf("big.mp4: stage %s after %d failed attempts (%+v), want done at the first", j.Stage, j.Attempts, j.LastError)
	}
	if lossy.count("CompleteMultipartUpload") != 1 || lossy.count("HeadObject") != 2 {
		t.Fatalf("lost %d Complete answers and faulted %d HEADs, want 1 and 2 (the test did not reach its case)",
			lossy.count("CompleteMultipartUpload"), lossy.count("HeadObject"))
	}
	media := r.emulator().Media()
	if len(media) != 1 {
		t.Fatalf("%d media, want 1", len(media))
	}
	checkBytes(t, "big.mp4", media[0].MediaURL, content)
	if n := r.emulator().Stats().Requests["InitiateMultipartUpload"]; n != 1 {
		t.Errorf("%d multipart uploads started, want 1 (the object was not adopted)", n)
	}
}

// TestCompleteGoneStartsOver: CompleteMultipartUpload meets NoSuchUpload
// and COS holds no object (the upload was aborted behind the daemon's
// back): the object is uploaded again, never final.
func TestCompleteGoneStartsOver(t *testing.T) {
	lossy := newLossyRT()
	lossy.set(lossy.gone, "CompleteMultipartUpload", 1)
	lossy.set(lossy.gone, "HeadObject", 100)
	r := newRig(t, rigOpts{rules: allRule, parts: 2, wrapRT: lossy.wrap})
	recordRow(t, r, "complete meets NoSuchUpload, no object", 1, 1, "object started over")
	content := testutil.Content("complete-gone", 3<<20+9)
	r.write("over.mp4", content)
	r.start()
	r.waitDone("over.mp4", 60*time.Second)
	media := r.emulator().Media()
	if len(media) != 1 {
		t.Fatalf("%d media, want 1", len(media))
	}
	checkBytes(t, "over.mp4", media[0].MediaURL, content)
	if n := r.emulator().Stats().Requests["InitiateMultipartUpload"]; n != 2 {
		t.Errorf("%d multipart uploads started, want 2 (the object was not started over)", n)
	}
}

// TestTruncatedDuringUpload: a file truncated while its parts are sent
// fails FileChanged at its first attempt, without the request retries a
// network error gets (issue 18: ~8 s of retries as NetworkError first),
// and nothing is committed for it.
func TestTruncatedDuringUpload(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule, parts: 1, emu: slowParts})
	recordRow(t, r, "hostile: file truncated mid-upload", 1, 1, "FileChanged at once, new version once")
	r.write("cut.mp4", testutil.Content("cut", 4<<20+3))
	r.start()
	first := waitUploading(r, "cut.mp4")
	if err := os.Truncate(filepath.Join(r.drop, "cut.mp4"), 1<<20+100); err != nil {
		t.Fatal(err)
	}
	var j *state.Job
	r.eventually(30*time.Second, "cut.mp4's first version failed", func() bool {
		var err error
		j, err = r.store.Get(context.Background(), first.ID)
		return err == nil && j.LastError != nil && !j.Stage.InFlight()
	})
	var code string
	for _, h := range j.History {
		if h.To == state.StageFailed || h.To == state.StageQuarantined {
			code = h.Code
			break
		}
	}
	if code != "FileChanged" {
		t.Errorf("first failure %q (last %s: %s), want FileChanged", code, j.LastError.Code, j.LastError.Message)
	}
	if logHas(r.logs.String(), "msg=retrying", "op=UploadPart") {
		t.Errorf("a part of a truncated file was retried as a network error")
	}
	// The truncated file is a new version: it settles and is uploaded
	// whole, once; the torn first version never is.
	r.eventually(30*time.Second, "the truncated version uploaded", func() bool {
		j, ok := r.jobAt("cut.mp4")
		return ok && j.ID != first.ID && j.Stage == state.StageDone
	})
	media := r.emulator().Media()
	if len(media) != 1 || media[0].Size != 1<<20+100 {
		t.Fatalf("media %+v, want one of the truncated version's %d bytes", media, 1<<20+100)
	}
	checkBytes(t, "cut.mp4", media[0].MediaURL, testutil.Content("cut", 4<<20+3)[:1<<20+100])
}

// TestSecondDaemonOnOneFolder: a second daemon, with a state file of its
// own, started on a folder that a first one watches must not upload its
// files again (issue 18: everything twice, no warning). It refuses the
// folder, says so naming the first daemon's state file, reports the root
// down in /readyz, and takes the folder over once the first stops.
func TestSecondDaemonOnOneFolder(t *testing.T) {
	a := newRig(t, rigOpts{rules: allRule})
	recordRow(t, a, "second daemon, own state, same folder", 2, 2, "refused with the other's name; no second copy")
	a.write("one.mp4", testutil.Content("one", 3000))
	a.start()
	a.waitDone("one.mp4", 20*time.Second)
	b := newRig(t, rigOpts{rules: allRule})
	b.drop = a.drop
	b.cfg = b.config()
	b.start()
	a.write("two.mp4", testutil.Content("two", 3000))
	b.eventually(20*time.Second, "the second daemon to refuse the folder", func() bool {
		return logHas(b.logs.String(), "level=ERROR", "another vodwatchd watches it", a.statePath())
	})
	a.waitDone("two.mp4", 20*time.Second)
	b.never(2*time.Second, "the second daemon uploaded a file of the folder", func() bool {
		return len(b.emulator().Media()) > 0
	})
	refused := false
	for _, c := range health.NewChecker(b.run, health.Options{}).Ready(context.Background()).Checks {
		refused = refused || strings.Contains(c.Reason, "already watched by another vodwatchd")
	}
	if !refused {
		t.Errorf("the second daemon's /readyz does not say why its folder is not watched")
	}
	if n := len(a.emulator().Media()); n != 2 {
		t.Errorf("first daemon committed %d media, want 2", n)
	}
	a.stop()
	b.eventually(20*time.Second, "the second daemon to take the folder over", func() bool {
		return logHas(b.logs.String(), "watch folder released by the other daemon")
	})
}

// TestLockTakenWhenRootAppears: a watch folder that does not exist at
// start (a NAS export not mounted yet) is reported missing, then locked
// and watched once it appears, so a second daemon started later is still
// detected.
func TestLockTakenWhenRootAppears(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule})
	if err := os.Remove(r.drop); err != nil {
		t.Fatal(err)
	}
	r.cfg.Watch[0].Create = false // an export, not a folder of ours
	r.start()
	r.eventually(10*time.Second, "the missing root reported", func() bool {
		for _, c := range health.NewChecker(r.run, health.Options{}).Ready(context.Background()).Checks {
			if c.Name == "watch_root" && !c.OK && strings.Contains(c.Reason, "no such file") {
				return true
			}
		}
		return false
	})
	if err := os.Mkdir(r.drop, 0o755); err != nil {
		t.Fatal(err)
	}
	r.write("late.mp4", testutil.Content("late", 3000))
	r.waitDone("late.mp4", 30*time.Second)
	_, err := rootlock.Acquire(r.drop, "the test")
	var held *rootlock.HeldError
	if !errors.As(err, &held) || !strings.Contains(held.Owner, r.statePath()) {
		t.Fatalf("Acquire on the watched folder: %v, want it held by the daemon (state %s)", err, r.statePath())
	}
}

// TestRemountedRootLockedAgain: a watch folder that is a mount (a NAS
// export) unmounted and mounted again has a lock file of its own, which
// the daemon's old lock does not cover. When the new mount's lock is held
// by another vodwatchd (it took the export while this one waited), the
// daemon must refuse the folder, not watch it and upload its files a
// second time; once the other lets go, it locks the new file and goes on.
func TestRemountedRootLockedAgain(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule})
	mountTmpfs := func(dir string) {
		t.Helper()
		if err := unix.Mount("vodwatchd-remount", dir, "tmpfs", 0, "size=16m"); err != nil {
			t.Skipf("cannot mount a tmpfs here (needs CAP_SYS_ADMIN): %v", err)
		}
		t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	}
	mountTmpfs(r.drop)
	recordRow(t, r, "root remounted, new lock held by another daemon", 2, 2, "refused until released; no second copy")
	r.write("one.mp4", testutil.Content("one", 3000))
	r.start()
	r.waitDone("one.mp4", 20*time.Second)

	// The export as another server mounted it: its own lock file, held.
	other := filepath.Join(r.dir, "other-mount")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(other)
	held, err := rootlock.Acquire(other, "pid 7 on host-b, state /var/lib/b/state.db")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	if err := os.WriteFile(filepath.Join(other, "two.mp4"), testutil.Content("two", 3000), 0o644); err != nil {
		t.Fatal(err)
	}

	// Unmounted, then mounted again (the other server's mount, bound here).
	if err := unix.Unmount(r.drop, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	r.eventually(20*time.Second, "the unmounted root reported", func() bool {
		return logHas(r.logs.String(), "watch root missing")
	})
	if err := unix.Mount(other, r.drop, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(r.drop, unix.MNT_DETACH) })
	r.eventually(20*time.Second, "the remounted folder refused", func() bool {
		return logHas(r.logs.String(), "another vodwatchd watches it", "pid 7 on host-b")
	})
	r.never(3*time.Second, "two.mp4 uploaded while another daemon holds the folder", func() bool {
		return len(r.emulator().Media()) > 1
	})
	if err := held.Release(); err != nil {
		t.Fatal(err)
	}
	r.waitDone("two.mp4", 30*time.Second)
	if n := len(r.emulator().Media()); n != 2 {
		t.Fatalf("%d media, want 2", n)
	}
}
