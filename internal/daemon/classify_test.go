package daemon

import (
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// TestClassifyByCause: an error is classified by what failed, not by the
// errno it carries or the call it came through (issue 18 items 1 and 7).
func TestClassifyByCause(t *testing.T) {
	stateErr := func(errno error) error {
		return &state.StorageError{Path: "/var/lib/vodwatchd/state.db", Op: "update job x", Err: errno}
	}
	lost := &uploader.Error{Op: "CommitUpload", Code: "NetworkError", Message: "connection reset", Retryable: true}
	for _, tc := range []struct {
		name  string
		err   error
		code  string
		retry bool
	}{
		{"EPERM on the state file", fmt.Errorf("upload x: saving progress: %w", stateErr(syscall.EPERM)), CodeState, true},
		{"EROFS on the state file", stateErr(syscall.EROFS), CodeState, true},
		{"ENOSPC on the state file", stateErr(syscall.ENOSPC), CodeState, true},
		{"EACCES on the media file", fmt.Errorf("open clip.mp4: %w", fs.ErrPermission), CodeFileUnreadable, false},
		{"commit answer lost", &uploader.CommitUnknownError{SessionKey: "k", Err: lost}, CodeCommitUnknown, true},
		{"service error", lost, "NetworkError", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := classify(tc.err, nil)
			if f.code != tc.code || f.retry != tc.retry {
				t.Errorf("classify(%v) = %s retry=%v, want %s retry=%v", tc.err, f.code, f.retry, tc.code, tc.retry)
			}
		})
	}
}
