package watcher

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

func TestHostileFiles(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "secret.mp4")
	writeFile(t, outside, "secret")
	writeFile(t, filepath.Join(root, "real.mp4"), "real")
	writeFile(t, filepath.Join(root, "dir/inner.mp4"), "inner")
	long := strings.Repeat("n", 251) + ".mp4" // 255 bytes
	names := []string{"with space.mp4", "new\nline.mp4", "bad\xff\xfeutf8.mp4", long}
	for _, n := range names {
		writeFile(t, filepath.Join(root, "names", n), n)
	}
	deep := root
	for i := 0; i < 100; i++ {
		deep = filepath.Join(deep, fmt.Sprintf("d%d", i))
	}
	writeFile(t, filepath.Join(deep, "deep.mp4"), "deep")
	deepRel, _ := filepath.Rel(root, filepath.Join(deep, "deep.mp4"))
	if err := os.Link(filepath.Join(root, "real.mp4"), filepath.Join(root, "hardlink.mp4")); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"out.mp4":   outside,
		"loop1":     filepath.Join(root, "loop2"),
		"loop2":     filepath.Join(root, "loop1"),
		"inside":    "real.mp4",
		"dirlink":   "dir",
		"dangling":  filepath.Join(base, "nowhere"),
		"escapedir": base,
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(root, "pipe.mp4"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(root, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	haveDev := unix.Mknod(filepath.Join(root, "null.mp4"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))) == nil

	h := startWatcher(t, root, nil)
	sum := h.waitScan("startup", 1)

	wantFiles := append([]string{"real.mp4", "hardlink.mp4", "dir/inner.mp4", filepath.ToSlash(deepRel)}, prefixed("names/", names)...)
	for _, rel := range wantFiles {
		if e := h.waitFile(rel); e.Kind != Scanned {
			t.Errorf("%q: %s", rel, e.Kind)
		}
	}
	if sum.Files != len(wantFiles) {
		t.Errorf("scan files = %d, want %d:\n%s", sum.Files, len(wantFiles), dump(h.snapshot()))
	}
	for rel, why := range map[string]string{
		"out.mp4":   "outside the watch root",
		"escapedir": "outside the watch root",
		"loop1":     "loop",
		"loop2":     "loop",
		"inside":    "not followed",
		"dirlink":   "not descended",
		"dangling":  "dangling",
		"pipe.mp4":  "FIFO",
		"sock":      "socket",
	} {
		h.waitRefused(rel, why)
	}
	if haveDev {
		h.waitRefused("null.mp4", "character device")
	}
	evs := h.snapshot()
	var real, hard Event
	for _, e := range evs {
		if strings.HasPrefix(e.Rel, "dirlink/") || strings.HasPrefix(e.Rel, "escapedir/") {
			t.Errorf("descended into a symlinked folder: %+v", e)
		}
		if e.Kind == Scanned && e.Rel == "real.mp4" {
			real = e
		}
		if e.Kind == Scanned && e.Rel == "hardlink.mp4" {
			hard = e
		}
	}
	if real.Stat.Ino == 0 || real.Stat.Ino != hard.Stat.Ino || real.Stat.Dev != hard.Stat.Dev {
		t.Errorf("hard links: %+v vs %+v, want the same dev/ino", real.Stat, hard.Stat)
	}

	// The same kinds arriving after start are refused by the event path.
	if err := unix.Mkfifo(filepath.Join(root, "late.fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "late-link.mp4")); err != nil {
		t.Fatal(err)
	}
	h.waitRefused("late.fifo", "FIFO")
	h.waitRefused("late-link.mp4", "outside the watch root")
	writeFile(t, filepath.Join(root, "after.mp4"), "ok") // the watcher is not stuck
	h.waitFile("after.mp4")
}

func prefixed(p string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p + n
	}
	return out
}

func TestDirectoryReplacedByFile(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "x/inside.mp4"), "i")
	h := startWatcher(t, root, nil)
	h.waitScan("startup", 1)
	if err := os.RemoveAll(filepath.Join(root, "x")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "x"), "now a file")
	h.waitFor("x changed as a file", 5*time.Second, func(evs []Event) bool {
		for _, e := range evs {
			if e.Kind == Changed && e.Rel == "x" && e.Stat.Size == int64(len("now a file")) {
				return true
			}
		}
		return false
	})
	h.waitFor("x removed as a folder", 5*time.Second, func(evs []Event) bool {
		return count(evs, Removed, "x") > 0
	})
	// And back: a file replaced by a folder is watched.
	if err := os.Remove(filepath.Join(root, "x")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "x/again.mp4"), "a")
	h.waitFile("x/again.mp4")
	h.w.Rescan("requested")
	sum := h.waitScan("requested", 1)
	if sum.Files != 1 {
		t.Fatalf("rescan files = %d, want 1", sum.Files)
	}
}

// TestUnreadableFolder needs permissions to matter: as root it runs itself
// again as nobody.
func TestUnreadableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		testutil.RunAsNobody(t, "TestUnreadableFolder", 30*time.Second)
		return
	}
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "ok.mp4"), "ok")
	writeFile(t, filepath.Join(root, "locked/hidden.mp4"), "x")
	writeFile(t, filepath.Join(root, "zz/after.mp4"), "after")
	if err := os.Chmod(filepath.Join(root, "locked"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(root, "locked"), 0o755) })
	h := startWatcher(t, root, nil)
	sum := h.waitScan("startup", 1)
	if sum.Files != 2 || sum.UnreadableCount != 1 || len(sum.Unreadable) != 1 || sum.Unreadable[0] != "locked" {
		t.Fatalf("scan %+v: want 2 files and locked unreadable", sum)
	}
	h.waitRefused("locked", "unreadable folder")
	h.waitFile("zz/after.mp4")
}
