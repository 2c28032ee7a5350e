package watcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

func TestStartupScanReportsExistingFiles(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.mp4"), "aaaa")
	writeFile(t, filepath.Join(root, "news", "2024", "b.mp4"), "bb")
	writeFile(t, filepath.Join(root, "empty.mp4"), "")
	h := startWatcher(t, root, nil)
	sum := h.waitScan("startup", 1)
	if sum.Files != 3 || sum.Dirs != 3 {
		t.Fatalf("startup scan: files=%d dirs=%d, want 3 and 3", sum.Files, sum.Dirs)
	}
	evs := h.snapshot()
	if evs[0].Kind != State || evs[0].RootStatus != RootPresent || evs[0].Mode != ModeNotify {
		t.Fatalf("first event = %+v, want State present notify", evs[0])
	}
	e := h.waitFile("news/2024/b.mp4")
	if e.Kind != Scanned || e.Stat.Size != 2 || e.Stat.Ino == 0 || e.ScanID != sum.ID {
		t.Fatalf("scanned event = %+v", e)
	}
	if e.Path != filepath.Join(root, "news", "2024", "b.mp4") || e.Root != root {
		t.Fatalf("paths: root=%q path=%q", e.Root, e.Path)
	}
}

func TestNestedFoldersCreatedAfterStart(t *testing.T) {
	root := t.TempDir()
	h := startWatcher(t, root, nil)
	h.waitScan("startup", 1)
	// Files land in new folders before their watches can exist.
	rels := []string{"a/one.mp4", "a/b/two.mp4", "a/b/c/three.mp4", "a/b/c/d/e/four.mp4"}
	for _, rel := range rels {
		writeFile(t, filepath.Join(root, rel), rel)
	}
	for _, rel := range rels {
		h.waitFile(rel)
	}
	// Files written later in the deepest new folder are seen by its watch.
	writeFile(t, filepath.Join(root, "a/b/c/d/e/later.mp4"), "x")
	e := h.waitFile("a/b/c/d/e/later.mp4")
	if e.Kind != Changed {
		t.Fatalf("later file: kind %s, want changed", e.Kind)
	}
}

func TestFolderMovedInWhole(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "staging")
	for _, rel := range []string{"show/ep1.mp4", "show/ep2.mp4", "show/extras/bts.mp4"} {
		writeFile(t, filepath.Join(outside, rel), rel)
	}
	writeFile(t, filepath.Join(root, "keep"), "k")
	h := startWatcher(t, root, nil)
	h.waitScan("startup", 1)
	if err := os.Rename(filepath.Join(outside, "show"), filepath.Join(root, "show")); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"show/ep1.mp4", "show/ep2.mp4", "show/extras/bts.mp4"} {
		h.waitFile(rel)
	}
	writeFile(t, filepath.Join(root, "show/extras/new.mp4"), "n")
	h.waitFile("show/extras/new.mp4")
	// Moving it out again reports the folder removed and drops its watches.
	if err := os.Rename(filepath.Join(root, "show"), filepath.Join(outside, "back")); err != nil {
		t.Fatal(err)
	}
	h.waitFor("show removed", 5*time.Second, func(evs []Event) bool {
		for _, e := range evs {
			if e.Kind == Removed && e.Rel == "show" && e.Dir {
				return true
			}
		}
		return false
	})
	writeFile(t, filepath.Join(outside, "back/extras/after.mp4"), "x")
	time.Sleep(200 * time.Millisecond)
	for _, e := range h.snapshot() {
		if strings.Contains(e.Rel, "after.mp4") {
			t.Fatalf("a folder moved out is still watched: %+v", e)
		}
	}
}

func TestTenThousandFilesDroppedAtOnce(t *testing.T) {
	root := fastTempDir(t)
	h := startWatcher(t, root, func(c *Config) { c.RescanInterval = 2 * time.Second })
	h.waitScan("startup", 1)
	const dirs, per = 10, 1000
	created := time.Now()
	want := make(map[string]bool, dirs*per)
	for d := 0; d < dirs; d++ {
		dir := filepath.Join(root, fmt.Sprintf("batch%02d", d))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < per; i++ {
			name := fmt.Sprintf("clip%04d.mp4", i)
			if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			want[fmt.Sprintf("batch%02d/%s", d, name)] = true
		}
	}
	t.Logf("created %d files in %v", len(want), time.Since(created))
	seen := make(map[string]bool, len(want))
	next := 0
	h.waitFor("all 10,000 files", 40*time.Second, func(evs []Event) bool {
		for ; next < len(evs); next++ {
			if e := evs[next]; (e.Kind == Changed || e.Kind == Scanned) && want[e.Rel] {
				seen[e.Rel] = true
			}
		}
		return len(seen) == len(want)
	})
	t.Logf("all reported %v after the drop began", time.Since(created))
}

func TestOverflowAndWatcherErrorsTriggerRescan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		reason string
	}{
		{"overflow", fsnotify.ErrEventOverflow, "overflow"},
		{"other error", fmt.Errorf("read inotify: %w", unix.EIO), "watcher-error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			h := startWatcher(t, root, nil)
			h.waitScan("startup", 1)
			writeFile(t, filepath.Join(root, "lost.mp4"), "x")
			h.w.errSeam <- tc.err
			sum := h.waitScan(tc.reason, 1)
			if sum.Files != 1 {
				t.Fatalf("rescan files = %d, want 1", sum.Files)
			}
			var found bool
			for _, e := range h.snapshot() {
				if e.Kind == Scanned && e.Rel == "lost.mp4" && e.ScanID == sum.ID {
					found = true
				}
			}
			if !found {
				t.Fatal("the rescan did not report lost.mp4")
			}
		})
	}
}

func TestPeriodicRescan(t *testing.T) {
	root := t.TempDir()
	h := startWatcher(t, root, func(c *Config) { c.RescanInterval = 150 * time.Millisecond })
	h.waitScan("periodic", 2)
}

func TestPollModeWithoutFsnotify(t *testing.T) {
	root := t.TempDir()
	h := startWatcher(t, root, func(c *Config) {
		c.Mode = ModePoll
		c.PollInterval = 100 * time.Millisecond
	})
	h.waitScan("startup", 1)
	writeFile(t, filepath.Join(root, "sub/new.mp4"), "x")
	e := h.waitFile("sub/new.mp4")
	if e.Kind != Scanned {
		t.Fatalf("poll mode reported %s, want scanned", e.Kind)
	}
	evs := h.snapshot()
	if evs[0].Kind != State || evs[0].Mode != ModePoll || !strings.Contains(evs[0].ModeReason, "poll") {
		t.Fatalf("first event %+v, want State with mode poll", evs[0])
	}
	if n := count(evs, Changed, "sub/new.mp4"); n != 0 {
		t.Fatalf("poll mode produced %d fsnotify hints", n)
	}
	h.waitScan("poll", 2)
}

func TestAutoModeByFilesystem(t *testing.T) {
	for _, tc := range []struct {
		magic int64
		want  Mode
		name  string
	}{
		{unix.NFS_SUPER_MAGIC, ModePoll, "nfs"},
		{unix.SMB_SUPER_MAGIC, ModePoll, "smb"},
		{unix.CIFS_SUPER_MAGIC, ModePoll, "cifs"},
		{unix.SMB2_SUPER_MAGIC, ModePoll, "smb2"},
		{unix.FUSE_SUPER_MAGIC, ModePoll, "fuse"},
		{unix.V9FS_MAGIC, ModePoll, "9p"},
		{unix.CEPH_SUPER_MAGIC, ModePoll, "ceph"},
		{unix.EXT4_SUPER_MAGIC, ModeNotify, "ext2/3/4"},
		{unix.TMPFS_MAGIC, ModeNotify, "tmpfs"},
		{unix.XFS_SUPER_MAGIC, ModeNotify, "xfs"},
		{0x12345678, ModeNotify, "unknown (0x12345678)"},
	} {
		fs := ClassifyFS(tc.magic)
		mode, why, err := autoMode(fs)
		if err != nil || mode != tc.want || fs.Name != tc.name || !strings.Contains(why, tc.name) {
			t.Errorf("magic 0x%x: mode %s (%q) name %q err %v; want %s %q", tc.magic, mode, why, fs.Name, err, tc.want, tc.name)
		}
	}
	mode, why, err := ChooseMode(t.TempDir(), ModeAuto)
	if err != nil || mode != ModeNotify || !strings.HasPrefix(why, "auto: local") {
		t.Fatalf("ChooseMode(tempdir) = %s %q %v", mode, why, err)
	}
	if _, err := ParseMode("inotify"); err == nil {
		t.Fatal("ParseMode accepted a bad mode")
	}
}

func TestRootMovedAwayAndBack(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "drop")
	writeFile(t, filepath.Join(root, "a.mp4"), "a")
	writeFile(t, filepath.Join(root, "sub/b.mp4"), "b")
	h := startWatcher(t, root, nil)
	h.waitScan("startup", 1)
	if err := os.Rename(root, filepath.Join(base, "gone")); err != nil {
		t.Fatal(err)
	}
	h.waitFor("root missing", 10*time.Second, func(evs []Event) bool {
		for _, e := range evs {
			if e.Kind == State && e.RootStatus == RootMissing {
				return true
			}
		}
		return false
	})
	if err := os.Rename(filepath.Join(base, "gone"), root); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "sub/c.mp4"), "c")
	sum := h.waitScan("root-back", 1)
	if sum.Files != 3 {
		t.Fatalf("root-back scan files = %d, want 3", sum.Files)
	}
	for _, e := range h.snapshot() {
		if e.Kind == Removed {
			t.Fatalf("a missing root reported its contents removed: %+v", e)
		}
	}
	// Watches are back.
	writeFile(t, filepath.Join(root, "sub/d.mp4"), "d")
	if e := h.waitFile("sub/d.mp4"); e.Kind != Changed {
		t.Fatalf("after root-back: %s, want changed", e.Kind)
	}
}

// TestRootMissingReasonFollowsChanges: while a root is waited for, a new
// reason (gone, then a symlink put in its place) is reported again, not
// only the first one (a stale "missing" hid the symlink from /readyz).
func TestRootMissingReasonFollowsChanges(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "drop")
	writeFile(t, filepath.Join(root, "a.mp4"), "a")
	h := startWatcher(t, root, nil)
	h.waitScan("startup", 1)
	elsewhere := filepath.Join(base, "elsewhere")
	if err := os.Rename(root, elsewhere); err != nil {
		t.Fatal(err)
	}
	missing := func(substr string) func([]Event) bool {
		return func(evs []Event) bool {
			for _, e := range evs {
				if e.Kind == State && e.RootStatus == RootMissing && strings.Contains(e.Reason, substr) {
					return true
				}
			}
			return false
		}
	}
	h.waitFor("root missing", 10*time.Second, missing("missing"))
	if err := os.Symlink(elsewhere, root); err != nil {
		t.Fatal(err)
	}
	h.waitFor("root reported as a symlink", 10*time.Second, missing("symlink"))
	if err := os.Remove(root); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitFor("root reported as not a folder", 10*time.Second, missing("not a folder"))
}

func TestRootMissingAtStartIsWaitedFor(t *testing.T) {
	root := filepath.Join(t.TempDir(), "later")
	h := startWatcher(t, root, nil)
	h.waitFor("root missing", 5*time.Second, func(evs []Event) bool {
		return len(evs) > 0 && evs[0].Kind == State && evs[0].RootStatus == RootMissing
	})
	writeFile(t, filepath.Join(root, "x.mp4"), "x")
	h.waitScan("startup", 1)
	h.waitFile("x.mp4")
}

// TestUnmountedRoot mounts a tmpfs on the root and unmounts it: the empty
// mount point must read as a missing root, not as an empty folder.
func TestUnmountedRoot(t *testing.T) {
	root := t.TempDir()
	if err := unix.Mount("vodwatchd-test", root, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount tmpfs here (needs CAP_SYS_ADMIN): %v", err)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			_ = unix.Unmount(root, unix.MNT_DETACH)
		}
	})
	writeFile(t, filepath.Join(root, "nas/a.mp4"), "a")
	h := startWatcher(t, root, nil)
	h.waitScan("startup", 1)
	if err := unix.Unmount(root, 0); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	mounted = false
	h.waitFor("root missing", 10*time.Second, func(evs []Event) bool {
		for _, e := range evs {
			if e.Kind == State && e.RootStatus == RootMissing && strings.Contains(e.Reason, "mount point") {
				return true
			}
		}
		return false
	})
	time.Sleep(300 * time.Millisecond)
	if err := unix.Mount("vodwatchd-test", root, "tmpfs", 0, "size=4m"); err != nil {
		t.Fatalf("remount: %v", err)
	}
	mounted = true
	writeFile(t, filepath.Join(root, "nas/b.mp4"), "b")
	h.waitScan("root-back", 1)
	h.waitFile("nas/b.mp4")
	for _, e := range h.snapshot() {
		if e.Kind == Removed || (e.Kind == ScanDone && e.Scan.Files == 0) {
			t.Fatalf("an unmounted root read as deleted files: %+v", e)
		}
	}
}

func TestTempNameRenamedIntoPlace(t *testing.T) {
	root := t.TempDir()
	h := startWatcher(t, root, func(c *Config) { c.Ignore = defaultIgnore })
	h.waitScan("startup", 1)
	for _, tmp := range []string{"movie.mp4.part", ".movie2.mp4.Ab12Cd", "movie3.mp4.tmp"} {
		writeFile(t, filepath.Join(root, tmp), "data")
	}
	time.Sleep(100 * time.Millisecond)
	for _, mv := range [][2]string{{"movie.mp4.part", "movie.mp4"}, {".movie2.mp4.Ab12Cd", "movie2.mp4"}, {"movie3.mp4.tmp", "movie3.mp4"}} {
		if err := os.Rename(filepath.Join(root, mv[0]), filepath.Join(root, mv[1])); err != nil {
			t.Fatal(err)
		}
		if e := h.waitFile(mv[1]); e.Kind != Changed || e.Stat.Size != 4 {
			t.Fatalf("%s: %+v", mv[1], e)
		}
	}
	for _, e := range h.snapshot() {
		if strings.HasSuffix(e.Rel, ".part") || strings.HasSuffix(e.Rel, ".tmp") || strings.Contains(e.Rel, "Ab12Cd") {
			t.Fatalf("temporary name reported: %+v", e)
		}
	}
}

func TestIgnoredFolderNotWatched(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, ".cache/x.mp4"), "x")
	h := startWatcher(t, root, func(c *Config) { c.Ignore = defaultIgnore })
	sum := h.waitScan("startup", 1)
	if sum.Files != 0 || sum.Ignored != 1 {
		t.Fatalf("scan %+v: want 0 files, 1 ignored", sum)
	}
	writeFile(t, filepath.Join(root, ".cache/y.mp4"), "y")
	writeFile(t, filepath.Join(root, "z.mp4"), "z")
	h.waitFile("z.mp4")
	for _, e := range h.snapshot() {
		if strings.HasPrefix(e.Rel, ".cache") {
			t.Fatalf("ignored folder reported: %+v", e)
		}
	}
}

func TestCancelReturnsWhileConsumerIsStuck(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 50; i++ {
		writeFile(t, filepath.Join(root, fmt.Sprintf("f%d", i)), "x")
	}
	out := make(chan Event) // never read
	w, err := New(Config{Root: root, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil on cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	out := make(chan Event)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Out: out}, "root is empty"},
		{Config{Root: "/x"}, "Out channel is nil"},
		{Config{Root: "/x", Out: out, Mode: "fast"}, `mode "fast"`},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
