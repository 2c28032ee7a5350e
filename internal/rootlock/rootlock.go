// Package rootlock marks a watch folder as taken by one vodwatchd with a
// lock file held by flock(2), so that a second daemon with a state file of
// its own on the same folder is detected instead of uploading every file
// a second time.
package rootlock

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Name is the lock file's name in the watch root. The watcher always
// ignores it.
const Name = ".vodwatchd.lock"

// maxOwner bounds what is read of another daemon's lock file.
const maxOwner = 512

// Lock is a held watch-root lock; Release lets it go.
type Lock struct {
	f    *os.File
	Path string // the lock file
}

// HeldError says that another process holds the root's lock.
type HeldError struct {
	Root  string
	Path  string // the lock file
	Owner string // what the holder wrote: pid, host, state file ("" when unknown)
}

func (e *HeldError) Error() string {
	who := "another vodwatchd"
	if e.Owner != "" {
		who += " (" + e.Owner + ")"
	}
	return fmt.Sprintf("watch folder %s is already watched by %s, which holds %s; two daemons with their own state files would upload every file twice, so this one does not watch it", e.Root, who, e.Path)
}

// Beside is the lock file used when the root itself cannot hold one (a
// read-only folder): next to the root, named after it.
func Beside(root string) string {
	return filepath.Join(filepath.Dir(root), "."+filepath.Base(root)+Name)
}

// Acquire takes root's lock: the file Name in root, or Beside(root) when
// the root does not let us create it. owner is written into the file for
// the next daemon's message (pid, host, state file; never a secret). A
// lock held by another process is a *HeldError; any other error means the
// lock could not be taken at all.
func Acquire(root, owner string) (*Lock, error) {
	p := filepath.Join(root, Name)
	f, writable, err := open(p)
	if err != nil && (errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)) {
		p = Beside(root)
		f, writable, err = open(p)
	}
	if err != nil {
		return nil, fmt.Errorf("lock file for watch folder %s: %w", root, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &HeldError{Root: root, Path: p, Owner: readOwner(f)}
		}
		return nil, fmt.Errorf("locking %s: %w", p, err)
	}
	if writable {
		// Best effort: the lock itself is what counts.
		if err := f.Truncate(0); err == nil {
			_, _ = f.WriteAt([]byte(owner+"\n"), 0)
		}
	}
	return &Lock{f: f, Path: p}, nil
}

// Owner is the owner text a daemon writes into the lock files it holds:
// its process, host and state file.
func Owner(pid int, host, statePath string) string {
	return fmt.Sprintf("pid %d on %s, state %s", pid, host, statePath)
}

// OwnerState returns the state file that an Owner text names.
func OwnerState(owner string) (string, bool) {
	_, p, ok := strings.Cut(owner, ", state ")
	return p, ok
}

// Holder reports who holds root's lock, without taking it: taking it
// even for a moment could make the daemon that watches the folder find it
// held and back off. The lock file (in the root, else Beside it) is looked
// up among the flock(2) locks the kernel lists in /proc/locks. nil, nil
// when there is no lock file or nobody holds it. A filesystem whose files
// report another device than their superblock's (btrfs subvolumes) reads
// as not held.
func Holder(root string) (*HeldError, error) {
	return holder(root, "/proc/locks")
}

func holder(root, locksFile string) (*HeldError, error) {
	for _, p := range []string{filepath.Join(root, Name), Beside(root)} {
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("lock file %s: %w", p, err)
		}
		held, err := flocked(f, locksFile)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock file %s: %w", p, err)
		}
		if held {
			owner := readOwner(f)
			f.Close()
			return &HeldError{Root: root, Path: p, Owner: owner}, nil
		}
		f.Close()
	}
	return nil, nil
}

// flocked reports whether locksFile (the format of /proc/locks) lists a
// granted FLOCK on f's inode.
func flocked(f *os.File, locksFile string) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, err
	}
	lf, err := os.Open(locksFile)
	if err != nil {
		return false, err
	}
	defer lf.Close()
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	sc := bufio.NewScanner(io.LimitReader(lf, 64<<20))
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a waiter's
		// line has "->" after the number and is not a holder.
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		if fields[5] == want {
			return true, nil
		}
	}
	return false, sc.Err()
}

// open opens (creating) the lock file without following a symlink; a file
// of another user is opened read-only, which flock allows.
func open(p string) (*os.File, bool, error) {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
	if err == nil {
		return f, true, nil
	}
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EROFS) {
		if rf, rerr := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0); rerr == nil {
			return rf, false, nil
		}
	}
	return nil, false, err
}

func readOwner(f *os.File) string {
	b, _ := io.ReadAll(io.LimitReader(f, maxOwner))
	return ownerText(b)
}

// ownerText is the holder's description from its lock file's bytes: one
// line of printable UTF-8, else "" (not what a vodwatchd writes).
func ownerText(b []byte) string {
	if len(b) > maxOwner {
		b = b[:maxOwner]
	}
	s := strings.TrimSpace(string(b))
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return ""
	}
	return s
}

// Current reports whether the lock file at l.Path is still the file this
// lock holds. A root that was unmounted and mounted again (or replaced)
// has a lock file of its own, which this lock does not cover: another
// daemon could take it.
func (l *Lock) Current() bool {
	if l == nil || l.f == nil {
		return false
	}
	var held, now unix.Stat_t
	if err := unix.Fstat(int(l.f.Fd()), &held); err != nil {
		return false
	}
	if err := unix.Lstat(l.Path, &now); err != nil {
		return false
	}
	return held.Dev == now.Dev && held.Ino == now.Ino
}

// Release lets the lock go. The file stays: removing it could let two
// daemons each lock a different file of the same name.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
