package control

import (
	"context"
	"net/http"
	"time"
)

// DaemonInfo is what the running daemon says of itself beside its jobs:
// its throughput controls and its queue.
type DaemonInfo struct {
	BandwidthLimit  int64          `json:"bandwidth_limit"`       // bytes/s in force, 0 = unlimited
	UploadRate      float64        `json:"upload_rate"`           // bytes/s over the last seconds
	Active          int            `json:"active"`                // uploads in progress
	SmallLimit      int            `json:"small_limit,omitempty"` // small jobs allowed at once now (adaptive; 0: fixed at workers)
	QueueByPriority map[string]int `json:"queue_by_priority"`
	StateError      string         `json:"state_error,omitempty"` // why the state cannot be written, if so
	Hooks           *HookInfo      `json:"hooks,omitempty"`       // the hook outbox (hooks.go)
	// Files seen but not jobs yet: the longest waiting (a few hundred at
	// most), and the count of all of them by reason.
	Waiting         []WaitingFile  `json:"waiting,omitempty"`
	WaitingByReason map[string]int `json:"waiting_by_reason,omitempty"`
}

// WaitingFile is a file the daemon has seen but not made a job of yet.
type WaitingFile struct {
	Path     string    `json:"path"`
	Reason   string    `json:"reason"` // settling, being written, cover, ready marker, quiet folder, bundle files, bundle files settling
	Detail   string    `json:"detail,omitempty"`
	Since    time.Time `json:"since"`
	Missing  []string  `json:"missing,omitempty"` // bundles: the first missing files
	NMissing int       `json:"n_missing,omitempty"`
}

// InfoFunc reports the daemon's DaemonInfo.
type InfoFunc func(ctx context.Context) (DaemonInfo, error)

// Info asks the daemon for its DaemonInfo.
func (c *Client) Info(ctx context.Context) (DaemonInfo, error) {
	var out DaemonInfo
	err := c.do(ctx, http.MethodGet, "/v1/info", nil, &out)
	return out, err
}

func infoHandler(info InfoFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if info == nil {
			fail(w, &RemoteError{Code: "not_found", Message: "this daemon reports no info"}, http.StatusNotFound)
			return
		}
		in, err := info(r.Context())
		if err != nil {
			fail(w, &RemoteError{Code: "internal", Message: err.Error()}, http.StatusInternalServerError)
			return
		}
		reply(w, in)
	}
}
