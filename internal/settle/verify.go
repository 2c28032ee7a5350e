package settle

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrChanged matches (errors.Is) every error of Verify: the file is not
// what was taken, so its upload must not be committed; it settles again.
var ErrChanged = errors.New("file changed after it was taken")

// ChangedError says which recorded attributes of a file differ now.
type ChangedError struct {
	Path     string
	Recorded FileState
	Now      FileState
}

func (e *ChangedError) Error() string {
	var diffs []string
	if e.Recorded.Size != e.Now.Size {
		diffs = append(diffs, fmt.Sprintf("size %d -> %d", e.Recorded.Size, e.Now.Size))
	}
	if !e.Recorded.ModTime.Equal(e.Now.ModTime) {
		diffs = append(diffs, fmt.Sprintf("mtime %s -> %s",
			e.Recorded.ModTime.Format(time.RFC3339Nano), e.Now.ModTime.Format(time.RFC3339Nano)))
	}
	if e.Recorded.Dev != e.Now.Dev || e.Recorded.Ino != e.Now.Ino {
		diffs = append(diffs, fmt.Sprintf("inode %d:%d -> %d:%d (replaced)",
			e.Recorded.Dev, e.Recorded.Ino, e.Now.Dev, e.Now.Ino))
	}
	return fmt.Sprintf("%s: %v: %s", e.Path, ErrChanged, strings.Join(diffs, ", "))
}

// Is makes errors.Is(err, ErrChanged) hold.
func (e *ChangedError) Is(target error) bool { return target == ErrChanged }

// Verify checks, before a commit, that the file at path is still the one
// recorded when it was taken: a *ChangedError names what differs; a file
// that vanished or is no longer regular is ErrChanged too.
func Verify(path string, recorded FileState) error {
	now, err := StatFile(path)
	if err != nil {
		return fmt.Errorf("%w: %s is gone or not a regular file: %w", ErrChanged, path, err)
	}
	if !now.Same(recorded) {
		return &ChangedError{Path: path, Recorded: recorded, Now: now}
	}
	return nil
}
