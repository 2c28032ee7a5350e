package rootlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSecondHolderRefused(t *testing.T) {
	root := t.TempDir()
	a, err := Acquire(root, "pid 1 on host-a, state /var/lib/a/state.db")
	if err != nil {
		t.Fatal(err)
	}
	if a.Path != filepath.Join(root, Name) {
		t.Fatalf("lock at %s, want in the root", a.Path)
	}
	_, err = Acquire(root, "pid 2 on host-b, state /var/lib/b/state.db")
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: %v, want a *HeldError", err)
	}
	for _, want := range []string{root, "pid 1 on host-a", "/var/lib/a/state.db", "twice"} {
		if !strings.Contains(held.Error(), want) {
			t.Errorf("message %q does not name %q", held.Error(), want)
		}
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	b, err := Acquire(root, "pid 2 on host-b, state /var/lib/b/state.db")
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	defer b.Release()
	if got, _ := os.ReadFile(b.Path); !strings.Contains(string(got), "pid 2 on host-b") {
		t.Errorf("lock file holds %q, want the new owner", got)
	}
}

func TestReadOnlyRootLocksBeside(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "drop")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("rootlock-test", root, "tmpfs", unix.MS_RDONLY, "size=64k"); err != nil {
		t.Skipf("cannot mount a read-only tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(root, unix.MNT_DETACH) })
	a, err := Acquire(root, "pid 1")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	if a.Path != Beside(root) || a.Path != filepath.Join(parent, ".drop"+Name) {
		t.Fatalf("lock at %s, want beside the read-only root (%s)", a.Path, Beside(root))
	}
	var held *HeldError
	if _, err := Acquire(root, "pid 2"); !errors.As(err, &held) {
		t.Fatalf("second Acquire on a read-only root: %v, want a *HeldError", err)
	}
}

func TestSymlinkedLockFileRefused(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(outside, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, Name)); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(root, "pid 1"); err == nil {
		t.Fatal("a lock file that is a symlink was followed")
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep" {
		t.Fatalf("the symlink's target was written: %q", b)
	}
}

func TestOwnerText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"pid 7 on h, state /s\n", "pid 7 on h, state /s"},
		{"bad\x1b[31m", ""},
		{"\xff\xfe", ""},
		{strings.Repeat("a", 2*maxOwner), strings.Repeat("a", maxOwner)},
	} {
		if got := ownerText([]byte(tc.in)); got != tc.want {
			t.Errorf("ownerText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzOwnerText(f *testing.F) {
	f.Add([]byte("pid 1 on host, state /var/lib/vodwatchd/state.db\n"))
	f.Add([]byte("\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := ownerText(b)
		if len(s) > maxOwner || strings.ContainsAny(s, "\n\r\x00") {
			t.Fatalf("ownerText(%q) = %q", b, s)
		}
	})
}

// TestHolderReadsWithoutTaking: Holder names the daemon holding a root's
// lock from /proc/locks, never takes the lock itself (the holder keeps it,
// and a free lock stays free for the next Acquire), and reports nil for a
// root without a lock file or with one that nobody holds.
func TestHolderReadsWithoutTaking(t *testing.T) {
	root := t.TempDir()
	if h, err := Holder(root); h != nil || err != nil {
		t.Fatalf("no lock file: Holder = %v, %v", h, err)
	}
	a, err := Acquire(root, "pid 1 on host-a, state /var/lib/a/state.db")
	if err != nil {
		t.Fatal(err)
	}
	h, err := Holder(root)
	if err != nil || h == nil {
		t.Fatalf("held lock: Holder = %v, %v", h, err)
	}
	if h.Owner != "pid 1 on host-a, state /var/lib/a/state.db" || h.Path != a.Path || h.Root != root {
		t.Fatalf("Holder = %+v", h)
	}
	if _, err := Acquire(root, "pid 2"); err == nil {
		t.Fatal("the lock was free after Holder: Holder let the holder's lock go")
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	if h, err := Holder(root); h != nil || err != nil {
		t.Fatalf("released lock: Holder = %v, %v", h, err)
	}
	b, err := Acquire(root, "pid 3")
	if err != nil {
		t.Fatalf("Acquire after Holder looked at a free lock: %v", err)
	}
	b.Release()
}

// TestHolderLocksFileFormat: only a granted FLOCK on the lock file's own
// device and inode counts; waiters ("->"), POSIX locks and other inodes
// do not, and an unreadable locks file is an error.
func TestHolderLocksFileFormat(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, Name)
	if err := os.WriteFile(p, []byte("pid 9 on host-z, state /s.db\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	other := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino+1)
	for _, tc := range []struct {
		name, locks string
		held        bool
	}{
		{"granted flock", "1: FLOCK  ADVISORY  WRITE 4242 " + id + " 0 EOF\n", true},
		{"waiter only", "1: -> FLOCK  ADVISORY  WRITE 4243 " + id + " 0 EOF\n", false},
		{"posix lock", "1: POSIX  ADVISORY  WRITE 4244 " + id + " 0 EOF\n", false},
		{"another inode", "1: FLOCK  ADVISORY  WRITE 4245 " + other + " 0 EOF\n", false},
		{"garbage", "not a lock line\n\n1:\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			locks := filepath.Join(t.TempDir(), "locks")
			if err := os.WriteFile(locks, []byte(tc.locks), 0o644); err != nil {
				t.Fatal(err)
			}
			h, err := holder(root, locks)
			if err != nil || (h != nil) != tc.held {
				t.Fatalf("holder = %+v, %v; want held %v", h, err, tc.held)
			}
			if h != nil && h.Owner != "pid 9 on host-z, state /s.db" {
				t.Fatalf("owner %q", h.Owner)
			}
		})
	}
	if _, err := holder(root, filepath.Join(root, "no-such-locks")); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("unreadable locks file: %v, want an error naming %s", err, p)
	}
}

// TestCurrentSeesAReplacedLockFile: a lock is current while its file is
// the one at its path, and not once the file was replaced (a remounted
// root has a lock file of its own) or removed.
func TestCurrentSeesAReplacedLockFile(t *testing.T) {
	root := t.TempDir()
	l, err := Acquire(root, "pid 1")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if !l.Current() {
		t.Fatal("a fresh lock is not current")
	}
	if err := os.Rename(l.Path, l.Path+".old"); err != nil {
		t.Fatal(err)
	}
	if l.Current() {
		t.Fatal("current with no lock file at its path")
	}
	if err := os.WriteFile(l.Path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if l.Current() {
		t.Fatal("current while another file is at its path")
	}
	var nilLock *Lock
	if nilLock.Current() {
		t.Fatal("a nil lock is current")
	}
}

// TestOwnerStateRoundTrip: the state file written into Owner is the one
// OwnerState reads back, whatever the host or path; other texts name none.
func TestOwnerStateRoundTrip(t *testing.T) {
	for _, tc := range []struct{ host, state string }{
		{"nas-1", "/var/lib/vodwatchd/state.db"},
		{"host, with comma", "/srv/a b/state.db"},
		{"", "relative/state.db"},
	} {
		got, ok := OwnerState(Owner(42, tc.host, tc.state))
		if !ok || got != tc.state {
			t.Errorf("host %q state %q: read back %q, %v", tc.host, tc.state, got, ok)
		}
	}
	for _, other := range []string{"", "pid 1 on x", "someone else's lock"} {
		if p, ok := OwnerState(other); ok {
			t.Errorf("%q names state %q", other, p)
		}
	}
}
