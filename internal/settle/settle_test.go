package settle_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/fileid"
	"github.com/vodwatchd/vodwatchd/internal/settle"
	"github.com/vodwatchd/vodwatchd/internal/watcher"
)

// rig runs a Settler, optionally fed by a real Watcher on the same root.
type rig struct {
	t    *testing.T
	root string
	s    *settle.Settler
	out  chan settle.Stable
}

func newRig(t *testing.T, root string, withWatcher bool, mod func(*settle.Config)) *rig {
	t.Helper()
	out := make(chan settle.Stable, 16384)
	cfg := settle.Config{Root: root, Window: 250 * time.Millisecond, Out: out}
	if mod != nil {
		mod(&cfg)
	}
	s, err := settle.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Run(ctx) }()
	if withWatcher {
		startFeed(t, ctx, &wg, root, s)
	}
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("settler or watcher did not stop")
		}
	})
	return &rig{t: t, root: root, s: s, out: out}
}

// startFeed runs a real watcher and feeds its hints to s, the way the
// daemon does.
func startFeed(t testing.TB, ctx context.Context, wg *sync.WaitGroup, root string, s *settle.Settler) {
	t.Helper()
	evs := make(chan watcher.Event, 1024)
	w, err := watcher.New(watcher.Config{Root: root, Out: evs, Mode: watcher.ModeNotify,
		RescanInterval: -1, Ignore: (&config.Watch{Ignore: config.DefaultIgnore}).IgnoreFunc()})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	wg.Add(2)
	go func() { defer wg.Done(); w.Run(ctx) }()
	go func() {
		defer wg.Done()
		ready := ready
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-evs:
				feed(s, ev)
				if ev.Kind == watcher.ScanDone && ready != nil {
					close(ready)
					ready = nil
				}
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("watcher did not finish its start-up scan")
	}
}

func feed(s *settle.Settler, ev watcher.Event) {
	switch ev.Kind {
	case watcher.Changed:
		s.Changed(ev.Rel)
	case watcher.Scanned:
		s.Seen(ev.Rel, ev.Stat)
	case watcher.Removed:
		s.Removed(ev.Rel, ev.Dir)
	}
}

// next waits for a Stable.
func (r *rig) next(d time.Duration) (settle.Stable, bool) {
	select {
	case st := <-r.out:
		return st, true
	case <-time.After(d):
		return settle.Stable{}, false
	}
}

func (r *rig) mustNext(what string, d time.Duration) settle.Stable {
	r.t.Helper()
	st, ok := r.next(d)
	if !ok {
		r.t.Fatalf("no Stable for %s within %v", what, d)
	}
	return st
}

func (r *rig) none(d time.Duration) {
	r.t.Helper()
	if st, ok := r.next(d); ok {
		r.t.Fatalf("unexpected Stable %+v", st)
	}
}

func appendTo(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSlowWriterNeverReportedBeforeComplete(t *testing.T) {
	for _, tc := range []struct {
		name    string
		watcher bool // real fsnotify hints; without it, only one hint at the start
	}{
		{"fsnotify hints", true},
		{"no further events", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			r := newRig(t, root, tc.watcher, func(c *settle.Config) { c.Window = 500 * time.Millisecond })
			path := filepath.Join(root, "slow.mp4")
			appendTo(t, path, "piece")
			if !tc.watcher {
				r.s.Changed("slow.mp4")
			}
			const pieces = 8
			done := time.Now()
			for i := 1; i < pieces; i++ {
				time.Sleep(100 * time.Millisecond) // well under the 500ms window
				if st, ok := r.next(0); ok {
					t.Fatalf("reported after %d of %d pieces: %+v", i, pieces, st)
				}
				appendTo(t, path, "piece")
				done = time.Now()
			}
			st := r.mustNext("slow.mp4", 5*time.Second)
			if st.Size != pieces*5 || st.Rel != "slow.mp4" || st.Path != path || st.Empty {
				t.Fatalf("stable %+v, want all %d bytes", st, pieces*5)
			}
			if lat := time.Since(done); lat < 500*time.Millisecond {
				t.Fatalf("stable %v after the last write, before the window", lat)
			}
			r.none(400 * time.Millisecond)
		})
	}
}

func TestReadyMarkerRequired(t *testing.T) {
	root := t.TempDir()
	r := newRig(t, root, true, func(c *settle.Config) {
		c.Ready = func(p string) bool {
			if strings.HasSuffix(p, ".done") {
				return true
			}
			_, err := os.Stat(p + ".done")
			return err == nil
		}
		c.MarkerPoll = 50 * time.Millisecond
	})
	path := filepath.Join(root, "movie.mp4")
	appendTo(t, path, "complete")
	r.none(700 * time.Millisecond)
	appendTo(t, path+".done", "")
	// The marker settles too (it has no marker of its own): take both.
	got := map[string]bool{}
	for len(got) < 2 {
		st := r.mustNext("movie.mp4 with its marker", 3*time.Second)
		got[st.Rel] = true
	}
	if !got["movie.mp4"] || !got["movie.mp4.done"] {
		t.Fatalf("stable %v, want movie.mp4 and its marker", got)
	}
}

func TestChangedAfterStableIsReportedAgain(t *testing.T) {
	root := t.TempDir()
	r := newRig(t, root, true, nil)
	path := filepath.Join(root, "a.mp4")
	appendTo(t, path, "first")
	st1 := r.mustNext("first version", 3*time.Second)
	appendTo(t, path, "-second")
	st2 := r.mustNext("second version", 3*time.Second)
	if st1.Size != 5 || st2.Size != 12 || st1.Ino != st2.Ino {
		t.Fatalf("versions %+v then %+v", st1, st2)
	}
	if err := fileid.Check(path, st1.ID); !errors.Is(err, fileid.ErrChanged) {
		t.Fatalf("Verify(first version) = %v, want ErrChanged", err)
	}
	if err := fileid.Check(path, st2.ID); err != nil {
		t.Fatalf("Verify(current version) = %v", err)
	}
}

func TestZeroByteAndVanishedFiles(t *testing.T) {
	root := t.TempDir()
	r := newRig(t, root, false, nil)
	appendTo(t, filepath.Join(root, "empty.mp4"), "")
	appendTo(t, filepath.Join(root, "gone.mp4"), "x")
	r.s.Changed("empty.mp4")
	r.s.Changed("gone.mp4")
	if err := os.Remove(filepath.Join(root, "gone.mp4")); err != nil {
		t.Fatal(err)
	}
	st := r.mustNext("empty.mp4", 3*time.Second)
	if st.Rel != "empty.mp4" || !st.Empty || st.Size != 0 {
		t.Fatalf("stable %+v, want empty.mp4 flagged empty", st)
	}
	r.none(500 * time.Millisecond)
	if n := r.s.Len(); n != 0 {
		t.Fatalf("still tracking %d files", n)
	}
	// Something that is not a regular file is dropped too.
	if err := os.Mkdir(filepath.Join(root, "dir.mp4"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.s.Changed("dir.mp4")
	r.none(500 * time.Millisecond)
}

func TestRemovedForgetsFilesAndFolders(t *testing.T) {
	root := t.TempDir()
	r := newRig(t, root, false, func(c *settle.Config) { c.Window = 300 * time.Millisecond })
	for _, rel := range []string{"a/1.mp4", "a/b/2.mp4", "ab.mp4", "c.mp4"} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755)
		appendTo(t, filepath.Join(root, rel), "x")
		r.s.Changed(rel)
	}
	r.s.Removed("a", true)
	r.s.Removed("c.mp4", false)
	if n := r.s.Len(); n != 1 {
		t.Fatalf("tracking %d, want only ab.mp4", n)
	}
	if st := r.mustNext("ab.mp4", 3*time.Second); st.Rel != "ab.mp4" {
		t.Fatalf("got %+v", st)
	}
	r.none(400 * time.Millisecond)
}

func TestCatchUpScanSettlesOldFilesAfterOneWindow(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "old.mp4")
	appendTo(t, path, "old")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, root, true, nil) // the start-up scan reports it
	start := time.Now()
	st := r.mustNext("old.mp4", 3*time.Second)
	if !st.ModTime.Equal(old) || time.Since(start) > 2*time.Second {
		t.Fatalf("stable %+v after %v", st, time.Since(start))
	}
}

func TestTenThousandFilesAtOnce(t *testing.T) {
	root := fastTempDir(t)
	const n = 10000
	r := newRig(t, root, false, func(c *settle.Config) { c.Window = 300 * time.Millisecond })
	for i := 0; i < n; i++ {
		rel := fmt.Sprintf("f%05d.mp4", i)
		if err := os.WriteFile(filepath.Join(root, rel), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		r.s.Changed(fmt.Sprintf("f%05d.mp4", i))
	}
	seen := make(map[string]bool, n)
	for len(seen) < n {
		st := r.mustNext(fmt.Sprintf("file %d of %d", len(seen)+1, n), 20*time.Second)
		if seen[st.Rel] {
			t.Fatalf("%s reported twice", st.Rel)
		}
		seen[st.Rel] = true
	}
	t.Logf("10,000 files settled %v after their hints (window 300ms)", time.Since(start))
}

func TestRunStopsWhileConsumerIsStuck(t *testing.T) {
	root := t.TempDir()
	appendTo(t, filepath.Join(root, "a"), "x")
	appendTo(t, filepath.Join(root, "b"), "x")
	s, err := settle.New(settle.Config{Root: root, Window: 20 * time.Millisecond, Out: make(chan settle.Stable)})
	if err != nil {
		t.Fatal(err)
	}
	s.Changed("a")
	s.Changed("b")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	out := make(chan settle.Stable)
	for _, tc := range []struct {
		cfg  settle.Config
		want string
	}{
		{settle.Config{Root: "/x"}, "Out channel is nil"},
		{settle.Config{Out: out}, "bad root"},
		{settle.Config{Root: "/x", Out: out, Window: -time.Second}, "negative window"},
	} {
		if _, err := settle.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// fastTempDir is on tmpfs (/dev/shm) when there is one, so creating
// thousands of files measures the settler, not the disk.
func fastTempDir(t *testing.T) string {
	t.Helper()
	if fs, err := watcher.DetectFS("/dev/shm"); err == nil && fs.Name == "tmpfs" {
		if dir, err := os.MkdirTemp("/dev/shm", "vodwatchd-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}
