package rootlock

import (
	"errors"
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
