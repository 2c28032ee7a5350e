// Package control lets the CLI read and change the running daemon's jobs
// through a local unix socket beside the state file.
package control

import (
	"context"
	"errors"

	"github.com/vodwatchd/vodwatchd/internal/state"
)

// Jobs is what status, retry and forget need; *state.Store (direct access)
// and *Client (through the daemon) both provide it.
type Jobs interface {
	List(ctx context.Context, f state.Filter) ([]*state.Job, error)
	Get(ctx context.Context, id string) (*state.Job, error)
	FindPath(ctx context.Context, path string) ([]*state.Job, error)
	Retry(ctx context.Context, id string) (*state.Job, error)
	Forget(ctx context.Context, id string, force bool) error
}

var (
	_ Jobs = (*state.Store)(nil)
	_ Jobs = (*Client)(nil)
)

// ErrNoDaemon means no daemon answers on the socket (missing or refused):
// the caller may open the state file itself.
var ErrNoDaemon = errors.New("no daemon is listening")

// SocketPath is the control socket of the state file statePath.
func SocketPath(statePath string) string { return statePath + ".sock" }

// error codes on the wire, mapped to state's sentinel errors.
var codes = []struct {
	code string
	err  error
	http int
}{
	{"not_found", state.ErrNotFound, 404},
	{"ambiguous", state.ErrAmbiguous, 409},
	{"in_flight", state.ErrInFlight, 409},
	{"not_retryable", state.ErrNotRetryable, 409},
	{"transition", state.ErrTransition, 409},
	{"read_only", state.ErrReadOnly, 503},
}

func codeOf(err error) (string, int) {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code, c.http
		}
	}
	if state.IsStorageFull(err) {
		return "storage_full", 507
	}
	return "internal", 500
}

// RemoteError is an error the daemon answered with; errors.Is matches the
// state sentinel its code stands for (state.ErrNotFound, ...).
type RemoteError struct {
	Code    string `json:"code"`
	Message string `json:"error"`
}

func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns the state sentinel for e.Code, if any.
func (e *RemoteError) Unwrap() error {
	for _, c := range codes {
		if c.code == e.Code {
			return c.err
		}
	}
	return nil
}
