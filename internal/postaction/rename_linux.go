package postaction

import (
	"errors"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames src to dst and fails when dst exists, so that a
// race with another writer can never overwrite a file.
func renameNoReplace(src, dst string) error {
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// The filesystem cannot do it atomically: link + unlink does.
		if err := unix.Link(src, dst); err != nil {
			return err
		}
		return unix.Unlink(src)
	}
	return err
}

func isCrossDevice(err error) bool { return errors.Is(err, unix.EXDEV) }
