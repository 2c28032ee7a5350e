package emulator

import (
	"fmt"
	"time"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// The error a failed task reports (a VOD media-processing error code).
const (
	taskFailCode    = 30010
	taskFailCodeExt = "SourceFileError"
	taskFailMessage = "The source file could not be processed (emulated task failure)."
)

// Output definitions every emulated procedure produces.
const (
	transcodeDefinition = 100030
	adaptiveDefinition  = 10
	snapshotDefinition  = 10
)

// commitFlowLocked starts the task flow of a media just committed (when it
// names a procedure) and queues its NewFileUpload event (when the
// application's upload switch is on); e.store.mu is held. The caller
// journals the record with the commit and calls startFlow after unlocking.
func (e *Emulator) commitFlowLocked(m *MediaInfo) flowRecord {
	var r flowRecord
	taskID := ""
	if m.Procedure != "" {
		r.Task = &task{
			ID: fmt.Sprintf("%d-procedurev2-%s", m.AppID, randomString(32, lowerHex)), AppID: m.AppID, SubAppID: m.SubAppID,
			FileID: m.FileID, Bucket: m.Bucket, Procedure: m.Procedure, SessionContext: m.SessionContext,
			Created: e.now(), Duration: e.flows.cfg.Duration, Fail: e.flows.drawFail(),
		}
		taskID = r.Task.ID
	}
	if cfg := e.eventConfigLocked(m.AppID, m.SubAppID); cfg.Mode == "PULL" && cfg.UploadSwitch == "ON" {
		r = e.addEventLocked(r, m.AppID, m.SubAppID, eventNewFileUpload, m.FileID, taskID)
	}
	e.store.data.flowData.apply(r)
	return r
}

// startFlow arms the timer of a task just stored and wakes long polls.
func (e *Emulator) startFlow(r flowRecord) {
	if r.Task != nil {
		e.flows.schedule(r.Task.ID, r.Task.Duration, e.finishTask)
	}
	if len(r.Events) > 0 {
		e.flows.signal()
	}
}

// resumeFlows re-arms the tasks that were running when the emulator
// stopped (Start).
func (e *Emulator) resumeFlows() {
	e.store.mu.Lock()
	var due []*task
	for _, t := range e.store.data.Tasks {
		if !t.done() {
			due = append(due, t)
		}
	}
	now := e.now()
	e.store.mu.Unlock()
	for _, t := range due {
		e.flows.schedule(t.ID, t.Created.Add(t.Duration).Sub(now), e.finishTask)
	}
}

// addEventLocked adds an event to r, dropping the application's oldest
// when it holds MaxEvents; e.store.mu is held.
func (e *Emulator) addEventLocked(r flowRecord, appID, subApp uint64, typ, fileID, taskID string) flowRecord {
	d := &e.store.data.flowData
	d.EventSeq++
	r.Events = append(r.Events, &event{
		ID: randomString(24, lowerHex), Seq: d.EventSeq, AppID: appID, SubAppID: subApp,
		Type: typ, FileID: fileID, TaskID: taskID, Created: e.now(),
	})
	var mine []*event
	for _, ev := range sortedEvents(d.Events) {
		if ev.AppID == appID && ev.SubAppID == subApp {
			mine = append(mine, ev)
		}
	}
	for i := 0; i < len(mine)+len(r.Events)-e.flows.cfg.MaxEvents && i < len(mine); i++ {
		r.DropEvents = append(r.DropEvents, mine[i].ID)
	}
	return r
}

// finishTask ends a task at its time: FINISH, with outputs or the error,
// and a ProcedureStateChanged event in PULL mode.
func (e *Emulator) finishTask(id string) {
	if !e.flows.unschedule(id) {
		return
	}
	e.store.mu.Lock()
	t := e.store.data.Tasks[id]
	if t == nil || t.done() {
		e.store.mu.Unlock()
		return
	}
	finished := *t
	finished.Finished = e.now()
	r := flowRecord{Task: &finished}
	if cfg := e.eventConfigLocked(t.AppID, t.SubAppID); cfg.Mode == "PULL" {
		r = e.addEventLocked(r, t.AppID, t.SubAppID, eventProcedureStateChanged, t.FileID, t.ID)
	}
	e.store.data.flowData.apply(r)
	err := e.store.logLocked(journalRecord{flowRecord: r})
	e.store.mu.Unlock()
	if err != nil {
		e.logger.Warn("task finish not journaled", "task", id, "err", err)
	}
	e.flows.signal()
}

// eventConfigLocked returns the application's event settings (defaults
// when never modified); e.store.mu is held.
func (e *Emulator) eventConfigLocked(appID, subApp uint64) *eventConfig {
	if c, ok := e.store.data.EventConfigs[appKey(appID, subApp)]; ok {
		return c
	}
	return defaultEventConfig(appID, subApp)
}

// taskStatus is a task's status and progress at now.
func (e *Emulator) taskStatus(t *task) (string, int64) {
	if t.done() {
		return taskFinish, 100
	}
	elapsed := e.now().Sub(t.Created)
	if t.Duration <= 0 || elapsed < 0 {
		return taskProcessing, 0
	}
	return taskProcessing, min(int64(elapsed*100/t.Duration), 99)
}

// taskView is a task with its media (nil once deleted), copied under the
// store lock.
type taskView struct {
	t task
	m *MediaInfo
}

func (e *Emulator) taskViewLocked(id string) (taskView, bool) {
	t, ok := e.store.data.Tasks[id]
	if !ok {
		return taskView{}, false
	}
	v := taskView{t: *t}
	if m, ok := e.store.data.Media[t.FileID]; ok {
		mc := *m
		v.m = &mc
	}
	return v, true
}

// procedureTask is the v20180717 ProcedureTask of a task at now.
func (e *Emulator) procedureTask(v taskView) *vod.ProcedureTask {
	status, progress := e.taskStatus(&v.t)
	pt := &vod.ProcedureTask{
		TaskId: ptr(v.t.ID), Status: ptr(status), ErrCode: ptr(int64(0)), Message: ptr("SUCCESS"),
		FileId: ptr(v.t.FileID), TasksPriority: ptr(int64(0)), TasksNotifyMode: ptr("Finish"),
		SessionContext: ptr(v.t.SessionContext), SessionId: ptr(""), Operator: ptr(""), OperationType: ptr("Upload"),
		AiContentReviewResultSet: []*vod.AiContentReviewResult{}, AiAnalysisResultSet: []*vod.AiAnalysisResult{},
		AiRecognitionResultSet: []*vod.AiRecognitionResult{},
	}
	if v.m != nil {
		e.fillURLs(v.m)
		pt.FileName, pt.FileUrl = ptr(v.m.Name), ptr(v.m.MediaURL)
		pt.MetaData = &vod.MediaMetaData{Size: ptr(v.m.Size), Container: ptr(v.m.Type)}
	}
	sub := subtaskState{status: "PROCESSING", progress: progress}
	switch {
	case status == taskFinish && v.t.Fail:
		pt.ErrCode, pt.Message = ptr(int64(taskFailCode)), ptr(taskFailMessage)
		sub = subtaskState{status: "FAIL", progress: 0, failed: true}
	case status == taskFinish:
		sub = subtaskState{status: "SUCCESS", progress: 100, outputs: e.outputsOf(v)}
	}
	pt.MediaProcessResultSet = sub.results(v.t)
	return pt
}

// subtaskState is what every subtask of a task shows.
type subtaskState struct {
	status   string
	progress int64
	failed   bool
	outputs  *taskOutputs // nil until SUCCESS
}

func (s subtaskState) results(t task) []*vod.MediaProcessTaskResult {
	code, ext, msg := int64(0), "", "SUCCESS"
	if s.failed {
		code, ext, msg = taskFailCode, taskFailCodeExt, taskFailMessage
	}
	begin := ptr(t.Created.UTC().Format(time.RFC3339))
	finish := ptr("")
	if t.done() {
		finish = ptr(t.Finished.UTC().Format(time.RFC3339))
	}
	tr := &vod.MediaProcessTaskTranscodeResult{Status: ptr(s.status), ErrCode: ptr(code), ErrCodeExt: ptr(ext), Message: ptr(msg), Progress: ptr(s.progress), BeginProcessTime: begin, FinishTime: finish,
		Input: &vod.TranscodeTaskInput{Definition: ptr(uint64(transcodeDefinition))}}
	ad := &vod.MediaProcessTaskAdaptiveDynamicStreamingResult{Status: ptr(s.status), ErrCode: ptr(code), ErrCodeExt: ptr(ext), Message: ptr(msg), Progress: ptr(s.progress), BeginProcessTime: begin, FinishTime: finish,
		Input: &vod.AdaptiveDynamicStreamingTaskInput{Definition: ptr(uint64(adaptiveDefinition))}}
	sn := &vod.MediaProcessTaskSnapshotByTimeOffsetResult{Status: ptr(s.status), ErrCode: ptr(code), ErrCodeExt: ptr(ext), Message: ptr(msg), Progress: ptr(s.progress), BeginProcessTime: begin, FinishTime: finish,
		Input: &vod.SnapshotByTimeOffsetTaskInput{Definition: ptr(uint64(snapshotDefinition))}}
	cv := &vod.MediaProcessTaskCoverBySnapshotResult{Status: ptr(s.status), ErrCode: ptr(code), ErrCodeExt: ptr(ext), Message: ptr(msg), Progress: ptr(s.progress), BeginProcessTime: begin, FinishTime: finish,
		Input: &vod.CoverBySnapshotTaskInput{Definition: ptr(uint64(snapshotDefinition)), PositionType: ptr("Time"), PositionValue: ptr(0.0)}}
	if o := s.outputs; o != nil {
		tr.Output, ad.Output = o.transcode, o.adaptive
		sn.Output = o.snapshot
		cv.Output = &vod.CoverBySnapshotTaskOutput{CoverUrl: ptr(o.cover)}
	}
	return []*vod.MediaProcessTaskResult{
		{Type: ptr("Transcode"), TranscodeTask: tr},
		{Type: ptr("AdaptiveDynamicStreaming"), AdaptiveDynamicStreamingTask: ad},
		{Type: ptr("SnapshotByTimeOffset"), SnapshotByTimeOffsetTask: sn},
		{Type: ptr("CoverBySnapshot"), CoverBySnapshotTask: cv},
	}
}
