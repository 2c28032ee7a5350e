package daemon

import (
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
)

// Events receives what the daemon does, for metrics. internal/metrics
// implements it.
type Events interface {
	FileSeen(watch string)
	ObserveUpload(d time.Duration, bytes int64, now time.Time)
	UploadFailed(code string)
	WatcherOverflow(watch string)
	WatcherRescan(watch string, when time.Time)
	SetWatchUp(watch string, up bool)
	ChangedAfterUpload(action string)
	SetWaiting(byReason map[string]int)
}

// events makes every Events call safe when none was given.
type events struct {
	e   Events
	now func() time.Time // the daemon's clock
}

func (ev events) enqueued(watch string) {
	if ev.e != nil {
		ev.e.FileSeen(watch)
	}
}

func (ev events) uploaded(j *state.Job, took time.Duration) {
	if ev.e != nil {
		ev.e.ObserveUpload(took, j.Bytes, ev.now())
	}
}

func (ev events) failed(_ *state.Job, code string) {
	if ev.e != nil {
		ev.e.UploadFailed(code)
	}
}

func (ev events) rescan(watch string, overflow bool) {
	if ev.e == nil {
		return
	}
	if overflow {
		ev.e.WatcherOverflow(watch)
	}
	ev.e.WatcherRescan(watch, ev.now())
}

func (ev events) waiting(byReason map[string]int) {
	if ev.e != nil {
		ev.e.SetWaiting(byReason)
	}
}

func (ev events) watchUp(watch string, up bool) {
	if ev.e != nil {
		ev.e.SetWatchUp(watch, up)
	}
}

func (ev events) changedAfterUpload(action string) {
	if ev.e != nil {
		ev.e.ChangedAfterUpload(action)
	}
}
