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
//
// Later checks extend Compare here and nowhere else: an inode that changed
// but whose content CRC-64 matches the one recorded at upload (a NAS that
// renumbers inodes), or a ctime that moved while size and mtime were put
// back (an in-place rewrite), each become one more field and one more case.
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
}

// FromInfo takes the ID of a FileInfo from lstat or fstat.
func FromInfo(fi fs.FileInfo) ID {
	id := ID{Size: fi.Size(), ModTime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.Dev, id.Ino = uint64(st.Dev), st.Ino
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

// Relocated is id without its inode: for a file the daemon moved itself
// (quarantine), whose inode may legitimately differ now.
func (id ID) Relocated() ID {
	id.Dev, id.Ino = 0, 0
	return id
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
	return d
}
