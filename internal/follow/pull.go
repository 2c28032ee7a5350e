package follow

import (
	"context"
	"fmt"
	"time"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// runPull consumes the account's events: PullEvents (a long poll), the
// effect of each event made durable through the store, then ConfirmEvents
// for exactly those. An event that could not be applied stays unconfirmed
// and VOD delivers it again; applying it again changes nothing.
func (f *Follower) runPull(ctx context.Context) error {
	lastPoll := time.Now()
	for {
		if f.cfg.SafetyPoll > 0 && time.Since(lastPoll) >= f.cfg.SafetyPoll {
			lastPoll = time.Now()
			if err := f.pollOnce(ctx); err != nil && ctx.Err() == nil {
				f.log.Warn("safety poll of followed jobs failed", "err", err)
			}
		}
		err := f.pullOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			f.log.Warn("pulling events failed; retrying", "err", err, "retry_in", f.cfg.RetryDelay)
			if !f.sleep(ctx, f.cfg.RetryDelay, false) {
				return nil
			}
		}
	}
}

func (f *Follower) pullOnce(ctx context.Context) error {
	api, err := f.cfg.Client(ctx)
	if err != nil {
		return fmt.Errorf("vod client: %w", err)
	}
	if err := f.cfg.Pacer.Wait(ctx, "PullEvents"); err != nil {
		return err
	}
	req := vod.NewPullEventsRequest()
	req.SubAppId = subApp(f.cfg.SubAppID)
	resp, err := api.PullEventsWithContext(ctx, req)
	if err != nil {
		return fmt.Errorf("PullEvents: %w", err)
	}
	var confirm []*string
	var firstErr error
	for _, ev := range resp.Response.EventSet {
		if ev == nil || deref(ev.EventHandle) == "" {
			continue
		}
		ok, err := f.handle(ctx, ev)
		if err != nil {
			f.log.Warn("event not applied; it stays unconfirmed and comes again", "type", deref(ev.EventType), "err", err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if ok {
			confirm = append(confirm, ev.EventHandle)
		}
	}
	if len(confirm) > 0 {
		if err := f.confirm(ctx, api, confirm); err != nil {
			return err
		}
	}
	return firstErr
}

func (f *Follower) confirm(ctx context.Context, api API, handles []*string) error {
	if err := f.cfg.Pacer.Wait(ctx, "ConfirmEvents"); err != nil {
		return err
	}
	req := vod.NewConfirmEventsRequest()
	req.EventHandles = handles
	req.SubAppId = subApp(f.cfg.SubAppID)
	if _, err := api.ConfirmEventsWithContext(ctx, req); err != nil {
		return fmt.Errorf("ConfirmEvents (%d events, applied already; they come again and change nothing): %w", len(handles), err)
	}
	return nil
}

// handle applies one event; confirm reports whether it may be confirmed
// (its effect is durable, or it is foreign and ConfirmForeign is set).
func (f *Follower) handle(ctx context.Context, ev *vod.EventContent) (confirm bool, err error) {
	typ := deref(ev.EventType)
	fileID, sc, taskID := eventKeys(ev)
	var jobs []Job
	if fileID != "" || sc != "" {
		jobs, err = f.cfg.Store.Match(ctx, fileID, sc)
		if err != nil {
			return false, fmt.Errorf("matching %s event of FileId %s: %w", typ, fileID, err)
		}
	}
	if len(jobs) == 0 {
		if f.foreign.add(typ + "/" + fileID + "/" + taskID) {
			f.log.Info("event matches no job", "type", typ, "file_id", fileID, "task_id", taskID, "confirmed", f.cfg.ConfirmForeign)
		}
		return f.cfg.ConfirmForeign, nil
	}
	for _, j := range jobs {
		if j.FileID == "" {
			f.log.Debug("event for a job not recorded as committed yet; it comes again", "type", typ, "job", j.ID, "file_id", fileID)
			return false, nil
		}
	}
	for _, j := range jobs {
		u, has := f.update(ev, j)
		if !has {
			continue
		}
		if err := f.apply(ctx, j, u); err != nil {
			return false, err
		}
	}
	return true, nil
}

// eventKeys are what an event is matched by.
func eventKeys(ev *vod.EventContent) (fileID, sourceContext, taskID string) {
	switch {
	case ev.FileUploadEvent != nil:
		u := ev.FileUploadEvent
		if u.MediaBasicInfo != nil && u.MediaBasicInfo.SourceInfo != nil {
			sourceContext = deref(u.MediaBasicInfo.SourceInfo.SourceContext)
		}
		return deref(u.FileId), sourceContext, deref(u.ProcedureTaskId)
	case ev.ProcedureStateChangeEvent != nil:
		p := ev.ProcedureStateChangeEvent
		return deref(p.FileId), "", deref(p.TaskId)
	}
	return "", "", ""
}

// update is what an event of a matched job means for it; has is false
// when it means nothing (an upload without a procedure, other types).
func (f *Follower) update(ev *vod.EventContent, j Job) (Update, bool) {
	switch {
	case ev.FileUploadEvent != nil:
		id := deref(ev.FileUploadEvent.ProcedureTaskId)
		if id == "" || j.Procedure == "" {
			return Update{}, false
		}
		return Update{Stage: Processing, TaskID: id}, true
	case ev.ProcedureStateChangeEvent != nil:
		pt := ev.ProcedureStateChangeEvent
		if deref(pt.Status) != "FINISH" {
			return Update{Stage: Processing, TaskID: deref(pt.TaskId), Progress: progress(pt)}, true
		}
		return finished(pt, deref(pt.TaskId)), true
	}
	return Update{}, false
}
