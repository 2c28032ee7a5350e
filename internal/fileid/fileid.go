// Package fileid answers "is this still the same file?" for the whole
// daemon: the watcher and settler describe files with an ID, the state
// store keys jobs by one, and the daemon and uploader check one again
// before each step that must not act on a different file.
//
// When attributes are compared (the one place this is decided):
//
//   - Size and ModTime are always compared (mtime with time.Equal, to the
//     nanosecond the filesystem keeps).
//   - Dev and Ino are compared only when the recorded ID has them (Ino
//     != 0). An ID recorded without them (a platform with no inode, or a
//     file the daemon itself moved, see Relocated) matches any inode.
//   - Ctime (the inode's change time) is compared when both IDs have one:
//     an in-place rewrite that puts size and mtime back (dd conv=notrunc,
//     then touch -r) still moves it, so a torn version is never taken for
//     the recorded one. chmod, chown and link(2) move it too: such a file
//     is taken as changed, which costs an upload or a content check, never
//     a wrong answer.
//
// Same answers "unchanged since it was taken" (before a commit). Whether
// a file seen again later is one already uploaded is the state's question
// (state.Store.Reconcile): size and mtime under the same path pick the
// candidate record, dev/ino/ctime are only its fast path, and Content, the
// whole file's CRC-64, confirms a candidate whose inode or ctime moved (a
// remount, an rsync -a/cp -a migration).
package fileid

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"
)

// ID is one version of a file as lstat sees it.
type ID struct {
	Size    int64
	ModTime time.Time
	Dev     uint64 // 0 with Ino: unknown, not compared
	Ino     uint64
	Ctime   time.Time // inode change time; zero: unknown, not compared
}

// FromInfo takes the ID of a FileInfo from lstat or fstat.
func FromInfo(fi fs.FileInfo) ID {
	id := ID{Size: fi.Size(), ModTime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.Dev, id.Ino = uint64(st.Dev), st.Ino
		id.Ctime = time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec))
	}
	return id
}

// Lstat returns the ID of the regular file at path; a symlink or anything
// else that is not a regular file is an error naming path.
func Lstat(path string) (ID, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return ID{}, err
	}
	if !fi.Mode().IsRegular() {
		return ID{}, fmt.Errorf("%s: not a regular file (%v)", path, fi.Mode().Type())
	}
	return FromInfo(fi), nil
}

// Dev returns the device number of the filesystem holding path (following
// symlinks, as a watch root may be one).
func Dev(path string) (uint64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("stat %s: no device number", path)
	}
	return uint64(st.Dev), nil
}

// Relocated is id without its inode and ctime: for a file the daemon moved
// itself (quarantine), whose inode may legitimately differ now and whose
// ctime the rename moved.
func (id ID) Relocated() ID {
	id.Dev, id.Ino, id.Ctime = 0, 0, time.Time{}
	return id
}

// SameVersion reports whether a and b have the same size and mtime: the
// attributes that pick a candidate record, whatever the inode.
func (id ID) SameVersion(b ID) bool {
	return id.Size == b.Size && id.ModTime.Equal(b.ModTime)
}

// Same reports whether now is still the version id recorded, by the rules
// in the package comment.
func (id ID) Same(now ID) bool { return diff(id, now) == nil }

// ErrChanged matches (errors.Is) every error of Compare and Check: the
// file is not the version that was taken.
var ErrChanged = errors.New("file changed after it was taken")

// ChangedError says which recorded attributes of a file differ now.
type ChangedError struct {
	Path     string
	Recorded ID
	Now      ID
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("%s: %v: %s", e.Path, ErrChanged, strings.Join(diff(e.Recorded, e.Now), ", "))
}

// Is makes errors.Is(err, ErrChanged) hold.
func (e *ChangedError) Is(target error) bool { return target == ErrChanged }

// Compare returns a *ChangedError when now is not the version recorded.
func Compare(path string, recorded, now ID) error {
	if diff(recorded, now) == nil {
		return nil
	}
	return &ChangedError{Path: path, Recorded: recorded, Now: now}
}

// Check lstats path and compares it with recorded. A file that vanished
// or is no longer regular is an error matching both ErrChanged and the
// lstat cause (fs.ErrNotExist, fs.ErrPermission); one that differs is a
// *ChangedError.
func Check(path string, recorded ID) error {
	now, err := Lstat(path)
	if err != nil {
		return fmt.Errorf("%w: %s is gone or not a regular file: %w", ErrChanged, path, err)
	}
	return Compare(path, recorded, now)
}

// diff lists what differs between recorded and now (nil: the same file).
func diff(recorded, now ID) []string {
	var d []string
	if recorded.Size != now.Size {
		d = append(d, fmt.Sprintf("size %d -> %d", recorded.Size, now.Size))
	}
	if !recorded.ModTime.Equal(now.ModTime) {
		d = append(d, fmt.Sprintf("mtime %s -> %s",
			recorded.ModTime.Format(time.RFC3339Nano), now.ModTime.Format(time.RFC3339Nano)))
	}
	if recorded.Ino != 0 && (recorded.Dev != now.Dev || recorded.Ino != now.Ino) {
		d = append(d, fmt.Sprintf("inode %d:%d -> %d:%d (replaced)",
			recorded.Dev, recorded.Ino, now.Dev, now.Ino))
	}
	if !recorded.Ctime.IsZero() && !now.Ctime.IsZero() && !recorded.Ctime.Equal(now.Ctime) {
		d = append(d, fmt.Sprintf("ctime %s -> %s (rewritten in place, or its attributes changed)",
			recorded.Ctime.Format(time.RFC3339Nano), now.Ctime.Format(time.RFC3339Nano)))
	}
	return d
}
