package emulator

import (
	"sort"
	"time"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// flowActions are the API actions of task flows and event notification.
func (e *Emulator) flowActions() map[string]apiAction {
	return map[string]apiAction{
		"DescribeTaskDetail":  {e.describeTaskDetail, (*vod.DescribeTaskDetailRequestParams)(nil)},
		"DescribeTasks":       {e.describeTasks, (*vod.DescribeTasksRequestParams)(nil)},
		"ModifyEventConfig":   {e.modifyEventConfig, (*vod.ModifyEventConfigRequestParams)(nil)},
		"DescribeEventConfig": {e.describeEventConfig, (*vod.DescribeEventConfigRequestParams)(nil)},
		"PullEvents":          {e.pullEvents, (*vod.PullEventsRequestParams)(nil)},
		"ConfirmEvents":       {e.confirmEvents, (*vod.ConfirmEventsRequestParams)(nil)},
	}
}

// done is closed when the caller's request ends (never without one).
func (c *caller) done() <-chan struct{} {
	if c.ctx == nil {
		return nil
	}
	return c.ctx.Done()
}

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (e *Emulator) describeTaskDetail(c *caller, body []byte) (any, *apiError) {
	var p vod.DescribeTaskDetailRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	id := deref(p.TaskId)
	if id == "" {
		return nil, newAPIError("MissingParameter", "The request is missing the required parameter `TaskId`.")
	}
	sub, aerr := checkSubApp(c.acct, p.SubAppId)
	if aerr != nil {
		return nil, aerr
	}
	e.store.mu.Lock()
	v, ok := e.taskViewLocked(id)
	e.store.mu.Unlock()
	if !ok || v.t.AppID != c.acct.AppID || v.t.SubAppID != sub {
		return nil, newAPIError("ResourceNotFound", "The task %s does not exist.", clipName(id))
	}
	status, _ := e.taskStatus(&v.t)
	return vod.DescribeTaskDetailResponseParams{
		TaskType: ptr("Procedure"), Status: ptr(status), CreateTime: ptr(isoTime(v.t.Created)),
		BeginProcessTime: ptr(isoTime(v.t.Created)), FinishTime: ptr(isoTime(v.t.Finished)),
		ProcedureTask: e.procedureTask(v),
	}, nil
}

func (e *Emulator) describeTasks(c *caller, body []byte) (any, *apiError) {
	var p vod.DescribeTasksRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	sub, aerr := checkSubApp(c.acct, p.SubAppId)
	if aerr != nil {
		return nil, aerr
	}
	limit := uint64(10)
	if p.Limit != nil {
		limit = *p.Limit
	}
	if limit == 0 || limit > 100 {
		return nil, newAPIError("InvalidParameterValue.Limit", "Limit must be 1..100, got %d.", limit)
	}
	status := deref(p.Status)
	switch status {
	case "", "WAITING", taskProcessing, taskFinish:
	default:
		return nil, newAPIError("InvalidParameterValue.Status", "Status `%s` is not WAITING, PROCESSING or FINISH.", clipName(status))
	}
	var hits []task
	e.store.mu.Lock()
	for _, t := range e.store.data.Tasks {
		st, _ := e.taskStatus(t)
		if t.AppID == c.acct.AppID && t.SubAppID == sub && (p.FileId == nil || *p.FileId == t.FileID) && (status == "" || status == st) {
			hits = append(hits, *t)
		}
	}
	e.store.mu.Unlock()
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].Created.Equal(hits[j].Created) {
			return hits[i].Created.After(hits[j].Created)
		}
		return hits[i].ID < hits[j].ID
	})
	start := 0
	if tok := deref(p.ScrollToken); tok != "" {
		start = sort.Search(len(hits), func(i int) bool { return hits[i].ID == tok })
		for start < len(hits) && hits[start].ID != tok {
			start++
		}
	}
	set, next := []*vod.TaskSimpleInfo{}, ""
	for i := start; i < len(hits); i++ {
		if uint64(len(set)) == limit {
			next = hits[i].ID
			break
		}
		t := hits[i]
		st, _ := e.taskStatus(&t)
		set = append(set, &vod.TaskSimpleInfo{
			TaskId: ptr(t.ID), Status: ptr(st), FileId: ptr(t.FileID), TaskType: ptr("Procedure"),
			CreateTime: ptr(isoTime(t.Created)), BeginProcessTime: ptr(isoTime(t.Created)), FinishTime: ptr(isoTime(t.Finished)),
			SessionId: ptr(""), SessionContext: ptr(t.SessionContext),
		})
	}
	return map[string]any{"TaskSet": set, "ScrollToken": next}, nil
}

func onOff(v *string, cur string, name string) (string, *apiError) {
	switch s := deref(v); s {
	case "":
		return cur, nil
	case "ON", "OFF":
		return s, nil
	default:
		return "", newAPIError("InvalidParameterValue", "%s must be ON or OFF, got `%s`.", name, clipName(s))
	}
}

func (e *Emulator) modifyEventConfig(c *caller, body []byte) (any, *apiError) {
	var p vod.ModifyEventConfigRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	sub, aerr := checkSubApp(c.acct, p.SubAppId)
	if aerr != nil {
		return nil, aerr
	}
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	cfg := *e.eventConfigLocked(c.acct.AppID, sub)
	switch m := deref(p.Mode); m {
	case "":
	case "PULL", "PUSH":
		cfg.Mode = m
	default:
		return nil, newAPIError("InvalidParameterValue", "Mode must be PUSH or PULL, got `%s`.", clipName(m))
	}
	if p.NotificationUrl != nil {
		cfg.NotificationURL = *p.NotificationUrl
	}
	steps := []struct {
		v    *string
		dst  *string
		name string
	}{
		{p.UploadMediaCompleteEventSwitch, &cfg.UploadSwitch, "UploadMediaCompleteEventSwitch"},
		{p.DeleteMediaCompleteEventSwitch, &cfg.DeleteSwitch, "DeleteMediaCompleteEventSwitch"},
		{p.PersistenceCompleteEventSwitch, &cfg.PersistSwitch, "PersistenceCompleteEventSwitch"},
	}
	for _, s := range steps {
		v, aerr := onOff(s.v, *s.dst, s.name)
		if aerr != nil {
			return nil, aerr
		}
		*s.dst = v
	}
	r := flowRecord{EventConfig: &cfg}
	e.store.data.flowData.apply(r)
	if err := e.store.logLocked(journalRecord{flowRecord: r}); err != nil {
		return nil, newAPIError("InternalError", "The event configuration could not be stored.")
	}
	return struct{}{}, nil
}

func (e *Emulator) describeEventConfig(c *caller, body []byte) (any, *apiError) {
	var p vod.DescribeEventConfigRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	sub, aerr := checkSubApp(c.acct, p.SubAppId)
	if aerr != nil {
		return nil, aerr
	}
	e.store.mu.Lock()
	cfg := *e.eventConfigLocked(c.acct.AppID, sub)
	e.store.mu.Unlock()
	return vod.DescribeEventConfigResponseParams{
		Mode: ptr(cfg.Mode), NotificationUrl: ptr(cfg.NotificationURL),
		UploadMediaCompleteEventSwitch: ptr(cfg.UploadSwitch), DeleteMediaCompleteEventSwitch: ptr(cfg.DeleteSwitch),
		PersistenceCompleteEventSwitch: ptr(cfg.PersistSwitch),
	}, nil
}

// pullEvents is the long poll: it answers at once when events are due,
// else waits up to PullWait for one.
func (e *Emulator) pullEvents(c *caller, body []byte) (any, *apiError) {
	var p vod.PullEventsRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	sub, aerr := checkSubApp(c.acct, p.SubAppId)
	if aerr != nil {
		return nil, aerr
	}
	deadline := time.NewTimer(e.flows.cfg.PullWait)
	defer deadline.Stop()
	for {
		wake := e.flows.waiter()
		set, next := e.takeEvents(c.acct.AppID, sub)
		if len(set) > 0 {
			return vod.PullEventsResponseParams{EventSet: set}, nil
		}
		var retry <-chan time.Time
		var rt *time.Timer
		if next > 0 {
			rt = time.NewTimer(next)
			retry = rt.C
		}
		select {
		case <-wake:
		case <-retry:
		case <-deadline.C:
			set = []*vod.EventContent{}
		case <-c.done():
			set = []*vod.EventContent{}
		}
		if rt != nil {
			rt.Stop()
		}
		if set != nil {
			return vod.PullEventsResponseParams{EventSet: set}, nil
		}
	}
}

// takeEvents delivers up to maxPulledEvents due events of an application
// (each with a new EventHandle, hidden for Redeliver); when none is due,
// next is how long until a hidden one is due again (0: none is hidden).
func (e *Emulator) takeEvents(appID, sub uint64) (set []*vod.EventContent, next time.Duration) {
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	now := e.now()
	f := e.flows
	f.mu.Lock()
	defer f.mu.Unlock()
	for h, d := range f.deliveries {
		if !now.Before(d.expires) {
			delete(f.deliveries, h)
		}
	}
	for id := range f.hiddenTill {
		if _, ok := e.store.data.Events[id]; !ok {
			delete(f.hiddenTill, id)
		}
	}
	for _, ev := range sortedEvents(e.store.data.Events) {
		if ev.AppID != appID || ev.SubAppID != sub {
			continue
		}
		if till, hidden := f.hiddenTill[ev.ID]; hidden && now.Before(till) {
			if wait := till.Sub(now); next == 0 || wait < next {
				next = wait
			}
			continue
		}
		if len(set) == maxPulledEvents {
			break
		}
		handle := randomString(40, alnum)
		f.deliveries[handle] = delivery{eventID: ev.ID, app: appKey(appID, sub), expires: now.Add(f.cfg.Redeliver)}
		f.hiddenTill[ev.ID] = now.Add(f.cfg.Redeliver)
		set = append(set, e.eventContentLocked(ev, handle))
	}
	return set, next
}

// eventContentLocked builds an event as the service sends it.
func (e *Emulator) eventContentLocked(ev *event, handle string) *vod.EventContent {
	out := &vod.EventContent{EventHandle: ptr(handle), EventType: ptr(ev.Type)}
	switch ev.Type {
	case eventNewFileUpload:
		fu := &vod.FileUploadTask{FileId: ptr(ev.FileID), ProcedureTaskId: ptr(ev.TaskID), ReviewAudioVideoTaskId: ptr("")}
		if m, ok := e.store.data.Media[ev.FileID]; ok {
			mc := *m
			e.fillURLs(&mc)
			fu.MediaBasicInfo = &vod.MediaBasicInfo{
				Name: ptr(mc.Name), CreateTime: ptr(isoTime(mc.Created)), UpdateTime: ptr(isoTime(mc.Created)),
				ClassId: ptr(mc.ClassID), CoverUrl: ptr(mc.CoverURL), Type: ptr(mc.Type), MediaUrl: ptr(mc.MediaURL),
				SourceInfo:    &vod.MediaSourceData{SourceType: ptr("Upload"), SourceContext: ptr(mc.SourceContext)},
				StorageRegion: ptr(mc.StorageRegion), StoragePath: ptr("/" + mc.MediaKey),
				Category: ptr(categoryOf(mc.Type)), Status: ptr("Normal"), StorageClass: ptr("STANDARD"),
			}
			fu.MetaData = &vod.MediaMetaData{Size: ptr(mc.Size), Container: ptr(mc.Type)}
		}
		out.FileUploadEvent = fu
	case eventProcedureStateChanged:
		if v, ok := e.taskViewLocked(ev.TaskID); ok {
			out.ProcedureStateChangeEvent = e.procedureTask(v)
		} else {
			out.ProcedureStateChangeEvent = &vod.ProcedureTask{TaskId: ptr(ev.TaskID), FileId: ptr(ev.FileID), Status: ptr(taskFinish)}
		}
	}
	return out
}

func (e *Emulator) confirmEvents(c *caller, body []byte) (any, *apiError) {
	var p vod.ConfirmEventsRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	sub, aerr := checkSubApp(c.acct, p.SubAppId)
	if aerr != nil {
		return nil, aerr
	}
	if len(p.EventHandles) == 0 {
		return nil, newAPIError("MissingParameter", "The request is missing the required parameter `EventHandles`.")
	}
	if len(p.EventHandles) > maxPulledEvents {
		return nil, newAPIError("InvalidParameterValue", "EventHandles names %d handles; at most %d are allowed.", len(p.EventHandles), maxPulledEvents)
	}
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	ids, aerr := e.flows.confirm(p.EventHandles, appKey(c.acct.AppID, sub), e.now())
	if aerr != nil {
		return nil, aerr
	}
	var r flowRecord
	for _, id := range ids {
		if _, ok := e.store.data.Events[id]; ok {
			r.ConfirmEvents = append(r.ConfirmEvents, id)
		}
	}
	if r.empty() {
		return struct{}{}, nil
	}
	e.store.data.flowData.apply(r)
	if err := e.store.logLocked(journalRecord{flowRecord: r}); err != nil {
		return nil, newAPIError("InternalError", "The confirmation could not be stored.")
	}
	return struct{}{}, nil
}

// confirm checks every handle (known, of this application, not expired)
// and forgets the deliveries of their events; it returns the event ids.
func (f *flows) confirm(handles []*string, app string, now time.Time) ([]string, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, h := range handles {
		d, ok := f.deliveries[deref(h)]
		if !ok || d.app != app || !now.Before(d.expires) {
			return nil, newAPIError("InvalidParameter", "The EventHandle `%s` is invalid or expired (an event must be confirmed within %s of PullEvents).", clipName(deref(h)), f.cfg.Redeliver)
		}
		ids = append(ids, d.eventID)
	}
	confirmed := map[string]bool{}
	for _, id := range ids {
		confirmed[id] = true
		delete(f.hiddenTill, id)
	}
	for h, d := range f.deliveries {
		if confirmed[d.eventID] {
			delete(f.deliveries, h)
		}
	}
	return ids, nil
}
