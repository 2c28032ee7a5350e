package daemon_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// migrate replaces the file at p by a copy with body and the original
// mtime, as rsync -a / cp -a leave it: a new inode and ctime, the same
// name, size and mtime.
func migrate(t *testing.T, p string, body []byte) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(p), ".migrating")
	if err := os.WriteFile(tmp, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

// TestIdentitySurvivesMigration (issue 11): after a migration that keeps
// names, sizes and mtimes but not inodes, an unchanged file is the same
// job (its record adopts the new inode, nothing is uploaded) and a file
// whose bytes differ under the same size and mtime is a new version.
func TestIdentitySurvivesMigration(t *testing.T) {
	h := startHarnessOf(t, hconf{})
	same := h.write("news/same.mp4", 300000)
	h.write("news/changed.mp4", 200000)
	done := h.waitDone(2, 30*time.Second)
	h.stop()
	migrate(t, filepath.Join(h.drop, "news", "same.mp4"), same)
	newer := testutil.Content("other bytes", 200000)
	migrate(t, filepath.Join(h.drop, "news", "changed.mp4"), newer)

	h.start(h.cfg)
	h.eventually(30*time.Second, "the changed file uploaded as a new version", func() bool {
		return len(h.jobs(state.StageDone)) == 3
	})
	h.never(1500*time.Millisecond, "a fourth job", func() bool { return len(h.jobs()) > 3 })
	if n := len(h.emu.Media()); n != 3 {
		t.Fatalf("%d media, want 3 (2 before, 1 new version)", n)
	}
	j := h.jobAt("news/same.mp4")
	if j.ID != idOf(done, "news/same.mp4") {
		t.Fatalf("same.mp4 is job %s now, want %s", j.ID, idOf(done, "news/same.mp4"))
	}
	if !strings.Contains(h.logs.String(), "record adopted") {
		t.Fatal("no adoption logged")
	}
	changed := h.jobAt("news/changed.mp4")
	if changed.ID == idOf(done, "news/changed.mp4") || changed.Key.Variant == "" {
		t.Fatalf("changed.mp4 job %+v, want a new version", changed.Key)
	}
	if !bytes.Equal(fetch(t, changed.Result.MediaURL), newer) {
		t.Fatal("the new version's media has other bytes")
	}
	if h.d.ContentBytesRead() < 500000 {
		t.Fatalf("identity checks read %d bytes, want both files read once", h.d.ContentBytesRead())
	}
}

func idOf(jobs []*state.Job, rel string) string {
	for _, j := range jobs {
		if j.Key.Rel == rel {
			return j.ID
		}
	}
	return ""
}

// loopFS is an ext4 image attached to loop devices and mounted.
type loopFS struct {
	t     *testing.T
	image string
	loops []string // attached devices, detached at cleanup
	at    string   // where a device is mounted ("" when none)
}

// needLoop skips the test unless it runs as root with losetup, mkfs.ext4
// and mount working.
func needLoop(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop-device mounts")
	}
	for _, tool := range []string{"losetup", "mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// newLoopFS makes a 64 MiB ext4 image; every mount and loop device it
// makes is undone at cleanup, whatever the test's outcome.
func newLoopFS(t *testing.T) *loopFS {
	t.Helper()
	l := &loopFS{t: t, image: filepath.Join(t.TempDir(), "fs.img")}
	if err := os.WriteFile(l.image, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(l.image, 64<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", l.image).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4 does not work here: %v %s", err, out)
	}
	t.Cleanup(func() {
		if l.at != "" {
			_ = exec.Command("umount", "-l", l.at).Run()
		}
		for _, dev := range l.loops {
			_ = exec.Command("losetup", "-d", dev).Run()
		}
	})
	return l
}

// attach attaches the image to a new loop device (one never used by this
// image before, so the filesystem gets another st_dev).
func (l *loopFS) attach() string {
	l.t.Helper()
	out, err := exec.Command("losetup", "-f", "--show", l.image).CombinedOutput()
	if err != nil {
		l.t.Skipf("losetup does not work here: %v %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	l.loops = append(l.loops, dev)
	return dev
}

func (l *loopFS) mount(dev, at string) {
	l.t.Helper()
	run(l.t, "mount", dev, at)
	l.at = at
}

func (l *loopFS) umount() {
	l.t.Helper()
	run(l.t, "umount", l.at)
	l.at = ""
}

func devOf(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(fi.Sys().(*syscall.Stat_t).Dev)
}

// TestRemountLoopDevice (issue 11): the drop folder is an ext4 filesystem;
// mounted again through another loop device (a new st_dev, as after a
// reboot or a NAS failover) nothing is uploaded again; a file changed
// after the remount is a new media. Then the tree is copied with cp -a
// onto another filesystem mounted at the same path (a migration: new
// device, new inodes): nothing is uploaded again.
func TestRemountLoopDevice(t *testing.T) {
	needLoop(t)
	h := newHarness(t, hconf{})
	fs1 := newLoopFS(t)
	dev1 := fs1.attach()
	fs1.mount(dev1, h.drop)
	h.start(h.cfg)
	h.write("a.mp4", 250000)
	h.write("show/b.mp4", 150000)
	h.waitDone(2, 30*time.Second)
	h.stop()
	before := devOf(t, h.drop)

	// Remount through another loop device.
	dev2 := fs1.attach()
	fs1.umount()
	fs1.mount(dev2, h.drop)
	if devOf(t, h.drop) == before {
		t.Fatalf("the remount kept st_dev %d", before)
	}
	h.start(h.cfg)
	h.never(2*time.Second, "a new job after the remount", func() bool { return len(h.jobs()) != 2 })
	if n := len(h.emu.Media()); n != 2 {
		t.Fatalf("%d media after the remount, want 2", n)
	}
	// A file changed after the remount is a new media.
	newer := h.write("a.mp4", 260000)
	h.eventually(30*time.Second, "the changed file uploaded", func() bool { return len(h.jobs(state.StageDone)) == 3 })
	if !bytes.Equal(fetch(t, h.jobAt("a.mp4").Result.MediaURL), newer) {
		t.Fatal("the changed file's media has other bytes")
	}
	h.stop()

	// cp -a the tree onto another filesystem mounted at the same path.
	stage := t.TempDir()
	run(t, "cp", "-a", h.drop+"/.", stage)
	fs1.umount()
	fs2 := newLoopFS(t)
	fs2.mount(fs2.attach(), h.drop)
	run(t, "cp", "-a", stage+"/.", h.drop)
	h.start(h.cfg)
	h.never(2*time.Second, "a new job after the migration", func() bool { return len(h.jobs()) != 3 })
	if n := len(h.emu.Media()); n != 3 {
		t.Fatalf("%d media after cp -a onto another filesystem, want 3", n)
	}
	if !strings.Contains(h.logs.String(), "record adopted") {
		t.Fatal("no adoption logged")
	}
}

// TestRenameAcrossRemount: a file renamed after its record adopted a new
// inode (the share remounted or migrated while the daemon ran), and a file
// migrated under a new name in one step, are linked to their FileId, not
// uploaded again; a copy beside its original is still a file of its own.
func TestRenameAcrossRemount(t *testing.T) {
	h := startHarnessOf(t, hconf{})
	h.write("a.mp4", 200000)
	b := h.write("b.mp4", 210000)
	c := h.write("c.mp4", 220000)
	h.waitDone(3, 30*time.Second)
	rename := func(from, to string) {
		t.Helper()
		if err := os.Rename(filepath.Join(h.drop, from), filepath.Join(h.drop, to)); err != nil {
			t.Fatal(err)
		}
	}
	linked := func(what, from, to string) {
		t.Helper()
		first := h.jobAt(from)
		j := h.waitStage(to, state.StageDone, 30*time.Second)
		if j.Result.FileID != first.Result.FileID {
			t.Fatalf("%s: %s has FileId %q, want %s's %q", what, to, j.Result.FileID, from, first.Result.FileID)
		}
		// status shows where the first job's file went.
		h.eventually(10*time.Second, from+"'s job noting the rename", func() bool {
			o, err := h.store.Get(context.Background(), first.ID)
			return err == nil && o.RenamedTo == to
		})
	}
	// A rename on the same mount: the daemon has looked renames up since.
	rename("a.mp4", "a2.mp4")
	linked("rename", "a.mp4", "a2.mp4")

	// b gets a new inode in place (a remount or migration); its record adopts it.
	ino := h.jobAt("b.mp4").Key.Ino
	migrate(t, filepath.Join(h.drop, "b.mp4"), b)
	h.eventually(30*time.Second, "b.mp4's record adopting its new inode", func() bool {
		return h.jobAt("b.mp4").Key.Ino != ino
	})
	rename("b.mp4", "b2.mp4")
	linked("rename after an adoption", "b.mp4", "b2.mp4")
	// Renamed again: linked through the job of its latest name, which is
	// the one that notes the rename (the first job keeps b2.mp4).
	rename("b2.mp4", "b3.mp4")
	linked("renamed again", "b2.mp4", "b3.mp4")
	if o := h.jobAt("b.mp4"); o.RenamedTo != "b2.mp4" {
		t.Fatalf("b.mp4's job says renamed to %q, want b2.mp4", o.RenamedTo)
	}

	// c reappears under a new name with a new inode, its old name gone (a
	// migration that also reorganised the tree).
	fi, err := os.Stat(filepath.Join(h.drop, "c.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(h.drop, "moved", "c.mp4")
	h.writeFile("moved/.c.tmp", c)
	if err := os.Chtimes(filepath.Join(h.drop, "moved", ".c.tmp"), fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(h.drop, "c.mp4")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(h.drop, "moved", ".c.tmp"), moved); err != nil {
		t.Fatal(err)
	}
	linked("migrated under a new name", "c.mp4", "moved/c.mp4")
	if n := len(h.emu.Media()); n != 3 {
		t.Fatalf("%d media after the renames, want 3", n)
	}

	// A copy (same bytes, same mtime) beside its original is its own file.
	h.writeFile("a3.mp4", mustRead(t, filepath.Join(h.drop, "a2.mp4")))
	a2, err := os.Stat(filepath.Join(h.drop, "a2.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(h.drop, "a3.mp4"), a2.ModTime(), a2.ModTime()); err != nil {
		t.Fatal(err)
	}
	h.waitStage("a3.mp4", state.StageDone, 30*time.Second)
	if n := len(h.emu.Media()); n != 4 {
		t.Fatalf("%d media after a copy, want 4", n)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
