package faultsuite

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

const allRule = `    rules:
      - name: hls
        match: "**/*.m3u8"
      - name: all
        match: "**/*"
`

// fifoProbe watches a FIFO for a reader: opening its write end without
// blocking succeeds only while someone has (or waits to have) it open for
// reading. A reader found is released at once, so nothing hangs on it.
type fifoProbe struct {
	path   string
	opened atomic.Int32
	stop   chan struct{}
	done   chan struct{}
}

func newFIFOProbe(t testing.TB, p string) *fifoProbe {
	t.Helper()
	if err := unix.Mkfifo(p, 0o644); err != nil {
		t.Fatalf("mkfifo %s: %v", p, err)
	}
	f := &fifoProbe{path: p, stop: make(chan struct{}), done: make(chan struct{})}
	go f.run()
	t.Cleanup(f.close)
	return f
}

func (f *fifoProbe) run() {
	defer close(f.done)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		fd, err := unix.Open(f.path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == nil {
			f.opened.Add(1)
			unix.Close(fd)
		}
	}
}

func (f *fifoProbe) close() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
}

// hostileTree is the static part of the hostile input: every case laid
// out before the daemon starts.
type hostileTree struct {
	uploads  map[string][]byte // rel -> bytes that must be committed once
	refused  map[string]string // rel -> reason text expected in the log
	bundles  map[string]string // manifest rel -> the bad reference
	outside  string            // folder outside the watch root
	secret   []byte            // content of outside/secret.mp4
	fifos    []*fifoProbe
	deepRel  string
	longName string
}

func buildHostileTree(t *testing.T, r *rig) *hostileTree {
	h := &hostileTree{uploads: map[string][]byte{}, refused: map[string]string{}, bundles: map[string]string{},
		outside: filepath.Join(r.dir, "outside")}
	if err := os.MkdirAll(h.outside, 0o755); err != nil {
		t.Fatal(err)
	}
	h.secret = testutil.Content("outside-secret", 40<<10)
	if err := os.WriteFile(filepath.Join(h.outside, "secret.mp4"), h.secret, 0o644); err != nil {
		t.Fatal(err)
	}
	h.fifos = append(h.fifos, newFIFOProbe(t, filepath.Join(h.outside, "fifo.mp4")))
	up := func(rel string, n int) {
		b := testutil.Content(rel, n)
		r.write(rel, b)
		h.uploads[rel] = b
	}
	up("with space.mp4", 3000)
	up("new\nline.mp4", 3001)
	r.write("empty.mp4", nil)
	h.refused["empty.mp4"] = "zero-byte file"
	h.longName = strings.Repeat("n", 251) + ".mp4"
	up(h.longName, 3003)
	var deep []string
	for i := range 60 {
		deep = append(deep, fmt.Sprintf("d%02d", i))
	}
	h.deepRel = strings.Join(deep, "/") + "/deep.mp4"
	up(h.deepRel, 3004)
	up("hard-a.mp4", 3005)
	if err := os.Link(filepath.Join(r.drop, "hard-a.mp4"), filepath.Join(r.drop, "hard-b.mp4")); err != nil {
		t.Fatal(err)
	}
	h.uploads["hard-b.mp4"] = h.uploads["hard-a.mp4"]
	symlink(t, filepath.Join(h.outside, "secret.mp4"), filepath.Join(r.drop, "escape.mp4"))
	h.refused["escape.mp4"] = "outside the watch root"
	symlink(t, filepath.Join(h.outside, "fifo.mp4"), filepath.Join(r.drop, "escape-fifo.mp4"))
	h.refused["escape-fifo.mp4"] = "outside the watch root"
	symlink(t, "loop-b.mp4", filepath.Join(r.drop, "loop-a.mp4"))
	symlink(t, "loop-a.mp4", filepath.Join(r.drop, "loop-b.mp4"))
	h.refused["loop-a.mp4"] = "loop"
	h.refused["loop-b.mp4"] = "loop"
	h.fifos = append(h.fifos, newFIFOProbe(t, filepath.Join(r.drop, "pipe.mp4")))
	h.refused["pipe.mp4"] = "FIFO"
	if err := unix.Mknod(filepath.Join(r.drop, "null.mp4"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))); err == nil {
		h.refused["null.mp4"] = "device"
	} else {
		t.Logf("no device file (mknod: %v); that case is not covered here", err)
	}
	seg := filepath.Join(h.outside, "seg.ts")
	if err := os.WriteFile(seg, testutil.Content("seg", 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{"badrel": "../../outside/seg.ts", "badabs": seg, "badurl": "http://127.0.0.1:1/seg.ts"}
	for dir, ref := range bad {
		r.write(dir+"/index.m3u8", []byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n"+ref+"\n#EXT-X-ENDLIST\n"))
		h.bundles[dir+"/index.m3u8"] = ref
	}
	return h
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestHostileTree lays out every static hostile case in one drop folder
// and checks each: uploaded once with its bytes, or refused with a reason
// in the log, and nothing outside the watch root read or moved.
func TestHostileTree(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule})
	h := buildHostileTree(t, r)
	r.start()
	r.eventually(30*time.Second, "the uploads and bundle failures", func() bool {
		for rel := range h.uploads {
			if j, ok := r.jobAt(rel); !ok || j.Stage != state.StageDone {
				return false
			}
		}
		for rel := range h.bundles {
			if j, ok := r.jobAt(rel); !ok || j.LastError == nil {
				return false
			}
		}
		return true
	})
	time.Sleep(500 * time.Millisecond) // a late duplicate or job would show now
	jobs := r.jobs()
	r.stop()
	checkHostileTree(t, r, h, jobs)
}

func checkHostileTree(t *testing.T, r *rig, h *hostileTree, jobs []*state.Job) {
	byRel := map[string]*state.Job{}
	for _, j := range jobs {
		byRel[j.Key.Rel] = j
	}
	bySC := map[string]int{}
	media := r.emulator().Media()
	for _, m := range media {
		bySC[m.SourceContext]++
	}
	logs := r.logs.String()
	up := row{scenario: "hostile: odd names, deep, empty, hard links", files: len(h.uploads)}
	refused := row{scenario: "hostile: symlinks, loops, FIFOs, devices", files: len(h.refused), note: "skipped with a log line"}
	bad := row{scenario: "hostile: bundle refs (.., absolute, URL)", files: len(h.bundles), note: "failed BundleInvalid"}
	defer func() {
		for _, rw := range []row{up, refused, bad} {
			suite.add(rw)
		}
	}()
	t.Run("uploaded once", func(t *testing.T) {
		defer func() { up.result = outcome(t) }()
		for rel := range h.uploads {
			j := byRel[rel]
			if j == nil || j.Stage != state.StageDone {
				up.lost++
				continue
			}
			n := bySC[j.SourceContext]
			up.committed += min(n, 1)
			up.duplicates += max(n-1, 0)
		}
		for rel, want := range h.uploads {
			j := byRel[rel]
			if j == nil || j.Stage != state.StageDone {
				t.Errorf("%q: not done: %+v", rel, j)
				continue
			}
			if n := bySC[j.SourceContext]; n != 1 {
				t.Errorf("%q: %d media, want 1", rel, n)
			}
			checkBytes(t, rel, mediaURLOf(media, j.Result.FileID), want)
		}
	})
	t.Run("refused and logged", func(t *testing.T) {
		defer func() { refused.result = outcome(t) }()
		for rel, reason := range h.refused {
			if j := byRel[rel]; j != nil {
				refused.committed++
				t.Errorf("%q became job %s (%s)", rel, j.ID, j.Stage)
			}
			if !logHas(logs, `msg="path skipped"`, "path="+rel+" ", reason) {
				t.Errorf("%q: no log line saying it was skipped (%s)", rel, reason)
			}
		}
	})
	t.Run("bad bundle references", func(t *testing.T) {
		defer func() { bad.result = outcome(t) }()
		for rel, ref := range h.bundles {
			j := byRel[rel]
			if j != nil {
				bad.committed += min(bySC[j.SourceContext], 1)
			}
			if j == nil || j.LastError == nil {
				t.Errorf("%s: no failed job: %+v", rel, j)
				continue
			}
			if j.LastError.Code != "BundleInvalid" || !strings.Contains(j.LastError.Message, ref) || !strings.Contains(j.LastError.Message, rel) {
				t.Errorf("%s: error %+v does not name the manifest and %q", rel, j.LastError, ref)
			}
			if bySC[j.SourceContext] != 0 {
				t.Errorf("%s: committed despite the bad reference", rel)
			}
		}
		if got, want := r.requests()["ApplyUpload"], int64(len(h.uploads)); got != want {
			t.Errorf("%d ApplyUpload calls for %d good files: a refused bundle reached the service", got, want)
		}
	})
	t.Run("nothing outside read or moved", func(t *testing.T) {
		got, err := os.ReadFile(filepath.Join(h.outside, "secret.mp4"))
		if err != nil || string(got) != string(h.secret) {
			t.Errorf("outside target changed or moved: %v", err)
		}
		if _, err := os.Stat(filepath.Join(h.outside, "seg.ts")); err != nil {
			t.Errorf("outside segment: %v", err)
		}
		for _, f := range h.fifos {
			if n := f.opened.Load(); n != 0 {
				t.Errorf("%s was opened for reading %d times", f.path, n)
			}
		}
		for _, m := range media {
			if m.Size == int64(len(h.secret)) {
				t.Errorf("media %s has the outside file's size", m.FileID)
			}
		}
		if cosHolds(t, r, h.secret[:4096]) {
			t.Error("the outside file's bytes reached COS")
		}
	})
	t.Run("hard links", func(t *testing.T) {
		a, b := byRel["hard-a.mp4"], byRel["hard-b.mp4"]
		if a == nil || b == nil || a.Key.Ino != b.Key.Ino || a.ID == b.ID {
			t.Errorf("want two jobs on one inode, got %+v / %+v", a, b)
		}
	})
}

// logHas reports whether one log line holds every part.
func logHas(logs string, parts ...string) bool {
	for _, line := range strings.Split(logs, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func mediaURLOf(media []emulator.MediaInfo, fileID string) string {
	for _, m := range media {
		if m.FileID == fileID {
			return m.MediaURL
		}
	}
	return ""
}

// cosHolds reports whether any file the emulator stored holds needle.
func cosHolds(t testing.TB, r *rig, needle []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(r.emuCfg.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found = bytes.Contains(b, needle)
		return nil
	})
	if err != nil {
		t.Errorf("walking the emulator's data: %v", err)
	}
	return found
}
