package settle

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// OpenForWrite reports whether any process holds the file at path open
// for writing. It asks the kernel for a read lease (fcntl F_SETLEASE,
// F_RDLCK) and gives it back at once: Linux refuses a read lease with
// EAGAIN exactly while the file is open for writing, by any process of
// any user, whenever it was opened (also before the daemon started), so
// the answer comes from the kernel's open-file table rather than from an
// event stream that may have missed the open. An error means "cannot
// tell": the lease needs the file's owner or CAP_LEASE (EACCES), and a
// local filesystem (network and FUSE filesystems refuse leases: EINVAL).
func OpenForWrite(path string) (bool, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_RDLCK)
	switch {
	case err == nil:
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
		return false, nil
	case errors.Is(err, unix.EAGAIN):
		return true, nil
	}
	return false, fmt.Errorf("read lease on %s: %w", path, err)
}
