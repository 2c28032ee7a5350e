package control

import (
	"context"
	"net/http"
)

// DaemonInfo is what the running daemon says of itself beside its jobs:
// its throughput controls and its queue.
type DaemonInfo struct {
	BandwidthLimit  int64          `json:"bandwidth_limit"` // bytes/s in force, 0 = unlimited
	UploadRate      float64        `json:"upload_rate"`     // bytes/s over the last seconds
	Active          int            `json:"active"`          // uploads in progress
	QueueByPriority map[string]int `json:"queue_by_priority"`
	StateError      string         `json:"state_error,omitempty"` // why the state cannot be written, if so
	Hooks           *HookInfo      `json:"hooks,omitempty"`       // the hook outbox (hooks.go)
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
