package state

import (
	"errors"
	"fmt"
	"syscall"

	bolterrors "go.etcd.io/bbolt/errors"
)

// Sentinel errors; match them with errors.Is.
var (
	ErrNotFound      = errors.New("no such job")
	ErrAmbiguous     = errors.New("job id prefix matches more than one job")
	ErrTransition    = errors.New("illegal stage transition")
	ErrInFlight      = errors.New("job is in flight")
	ErrNotRetryable  = errors.New("job is not failed or quarantined")
	ErrLocked        = errors.New("locked by another process")
	ErrCorrupt       = errors.New("corrupt or not a vodwatchd state file")
	ErrSchema        = errors.New("schema not supported")
	ErrReadOnly      = errors.New("state store is open read-only")
	ErrNoState       = errors.New("does not exist")
	ErrMode          = errors.New("recorded for another kind of run")
	ErrClosed        = errors.New("state store is closed")
	ErrInvalidSecret = errors.New("invalid job id for a secret")
)

// LockedError says that another process holds the state file's lock.
type LockedError struct {
	Path string
	PID  int // 0 when unknown
}

func (e *LockedError) Error() string {
	who := "another vodwatchd (pid unknown)"
	if e.PID > 0 {
		who = fmt.Sprintf("another vodwatchd (pid %d)", e.PID)
	}
	return fmt.Sprintf("state file %s is locked by %s; stop it, or let `vodwatchd status/retry/forget` talk to it through %s.sock", e.Path, who, e.Path)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// StorageError is a failed write to the state folder; nothing of the
// failed transaction was kept.
type StorageError struct {
	Path string // state file or secret file
	Op   string // what was being written
	Err  error
}

func (e *StorageError) Error() string {
	why := "write failed"
	switch {
	case errors.Is(e.Err, syscall.ENOSPC), errors.Is(e.Err, syscall.EDQUOT):
		why = "disk full"
	case errors.Is(e.Err, syscall.EROFS):
		why = "file system is read-only"
	case errors.Is(e.Err, syscall.EPERM), errors.Is(e.Err, syscall.EACCES):
		why = "not permitted (file mode, owner or attributes such as chattr +i)"
	case errors.Is(e.Err, bolterrors.ErrDatabaseReadOnly), errors.Is(e.Err, ErrReadOnly):
		why = "store opened read-only"
	}
	return fmt.Sprintf("state %s: %s: %s (nothing was recorded): %v", e.Path, e.Op, why, e.Err)
}

func (e *StorageError) Unwrap() error { return e.Err }

// IsStorageFull reports whether err means the state folder cannot take
// writes right now: disk full, quota exceeded, file too large, or a
// read-only file system. The daemon should stop taking new jobs and retry
// later; no record was lost.
func IsStorageFull(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG, syscall.EROFS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func storageErr(path, op string, err error) error {
	if err == nil {
		return nil
	}
	var se *StorageError
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, bolterrors.ErrDatabaseReadOnly) {
		err = fmt.Errorf("%w: %w", ErrReadOnly, err)
	}
	return &StorageError{Path: path, Op: op, Err: err}
}
