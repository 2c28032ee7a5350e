package emulator_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
)

// fastTasks makes task flows and event redelivery quick enough for tests.
func fastTasks(d time.Duration, failRate float64) func(*emulator.Config) {
	return func(c *emulator.Config) {
		c.Tasks = emulator.TaskConfig{Duration: d, FailRate: failRate, Seed: 1, PullWait: 300 * time.Millisecond, Redeliver: 400 * time.Millisecond}
	}
}

// uploadWith applies, puts and commits one small mp4 with a procedure.
func uploadWith(t *testing.T, e *emulator.Emulator, vc *vod.Client, procedure, sourceContext string) *vod.CommitUploadResponseParams {
	t.Helper()
	ap := apply(t, vc, func(r *vod.ApplyUploadRequest) {
		if procedure != "" {
			r.Procedure = common.StringPtr(procedure)
		}
		r.SourceContext = common.StringPtr(sourceContext)
	})
	putObject(t, cosClient(t, e, ap), (*ap.MediaStoragePath)[1:], randomBytes(10<<10, 7))
	return commit(t, vc, *ap.VodSessionKey)
}

func procedureTaskOf(t *testing.T, vc *vod.Client, fileID string) string {
	t.Helper()
	req := vod.NewDescribeTasksRequest()
	req.FileId = common.StringPtr(fileID)
	resp, err := vc.DescribeTasks(req)
	if err != nil {
		t.Fatalf("DescribeTasks: %v", err)
	}
	if len(resp.Response.TaskSet) != 1 || *resp.Response.TaskSet[0].TaskType != "Procedure" {
		t.Fatalf("DescribeTasks(%s) = %d tasks", fileID, len(resp.Response.TaskSet))
	}
	return *resp.Response.TaskSet[0].TaskId
}

func taskDetail(t *testing.T, vc *vod.Client, id string) *vod.DescribeTaskDetailResponseParams {
	t.Helper()
	req := vod.NewDescribeTaskDetailRequest()
	req.TaskId = common.StringPtr(id)
	resp, err := vc.DescribeTaskDetail(req)
	if err != nil {
		t.Fatalf("DescribeTaskDetail: %v", err)
	}
	return resp.Response
}

func waitFinish(t *testing.T, vc *vod.Client, id string) *vod.DescribeTaskDetailResponseParams {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := taskDetail(t, vc, id)
		if *d.Status == "FINISH" {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still %s", id, *d.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTaskFlowFinishesWithServedOutputs(t *testing.T) {
	e := emulatortest.Start(t, fastTasks(300*time.Millisecond, 0))
	vc := defaultClient(t, e)
	cm := uploadWith(t, e, vc, "news-transcode", "job-a")
	id := procedureTaskOf(t, vc, *cm.FileId)
	if d := taskDetail(t, vc, id); *d.Status != "PROCESSING" || *d.ProcedureTask.MediaProcessResultSet[0].TranscodeTask.Status != "PROCESSING" {
		t.Fatalf("just committed: %s", *d.Status)
	}
	d := waitFinish(t, vc, id)
	pt := d.ProcedureTask
	if *pt.ErrCode != 0 || *pt.FileId != *cm.FileId || len(pt.MediaProcessResultSet) != 4 {
		t.Fatalf("finished task: code %d file %s results %d", *pt.ErrCode, *pt.FileId, len(pt.MediaProcessResultSet))
	}
	tr := pt.MediaProcessResultSet[0].TranscodeTask
	ad := pt.MediaProcessResultSet[1].AdaptiveDynamicStreamingTask
	sn := pt.MediaProcessResultSet[2].SnapshotByTimeOffsetTask
	cv := pt.MediaProcessResultSet[3].CoverBySnapshotTask
	if *tr.Status != "SUCCESS" || *tr.Progress != 100 {
		t.Fatalf("transcode %s %d", *tr.Status, *tr.Progress)
	}
	checks := []struct{ url, ctype string }{
		{*tr.Output.Url, "video/mp4"},
		{*ad.Output.Url, "application/vnd.apple.mpegurl"},
		{*sn.Output.PicInfoSet[0].Url, "image/jpeg"},
		{*cv.Output.CoverUrl, "image/jpeg"},
	}
	for _, c := range checks {
		r, body := fetch(t, c.url, nil)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != c.ctype || len(body) == 0 {
			t.Errorf("GET %s: %d %s %d bytes", c.url, r.StatusCode, r.Header.Get("Content-Type"), len(body))
		}
	}
	_, playlist := fetch(t, *ad.Output.Url, nil)
	if !strings.Contains(string(playlist), *tr.Output.Url) {
		t.Errorf("playlist does not point at the transcode:\n%s", playlist)
	}
	req := vod.NewDescribeMediaInfosRequest()
	req.FileIds = []*string{cm.FileId}
	mi, err := vc.DescribeMediaInfos(req)
	if err != nil {
		t.Fatal(err)
	}
	m := mi.Response.MediaInfoSet[0]
	if m.TranscodeInfo == nil || *m.TranscodeInfo.TranscodeSet[0].Url != *tr.Output.Url ||
		m.AdaptiveDynamicStreamingInfo == nil || *m.AdaptiveDynamicStreamingInfo.AdaptiveDynamicStreamingSet[0].Url != *ad.Output.Url ||
		m.SnapshotByTimeOffsetInfo == nil || *m.BasicInfo.CoverUrl != *cv.Output.CoverUrl {
		t.Fatalf("DescribeMediaInfos lacks the outputs: %+v", m)
	}
}

func TestTaskFlowFailsAtRate(t *testing.T) {
	e := emulatortest.Start(t, fastTasks(100*time.Millisecond, 1))
	vc := defaultClient(t, e)
	cm := uploadWith(t, e, vc, "news-transcode", "job-f")
	d := waitFinish(t, vc, procedureTaskOf(t, vc, *cm.FileId))
	if *d.ProcedureTask.ErrCode == 0 || *d.ProcedureTask.Message == "" || *d.ProcedureTask.MediaProcessResultSet[0].TranscodeTask.Status != "FAIL" {
		t.Fatalf("failed task: code %d message %q", *d.ProcedureTask.ErrCode, *d.ProcedureTask.Message)
	}
	if d.ProcedureTask.MediaProcessResultSet[0].TranscodeTask.Output != nil {
		t.Fatal("a failed transcode has an output")
	}
	// Without a procedure there is no task.
	plain := uploadWith(t, e, vc, "", "job-p")
	req := vod.NewDescribeTasksRequest()
	req.FileId = plain.FileId
	resp, err := vc.DescribeTasks(req)
	if err != nil || len(resp.Response.TaskSet) != 0 {
		t.Fatalf("DescribeTasks without procedure: %v %d", err, len(resp.Response.TaskSet))
	}
	unknown := vod.NewDescribeTaskDetailRequest()
	unknown.TaskId = common.StringPtr("nope")
	if _, err := vc.DescribeTaskDetail(unknown); codeOf(err) != "ResourceNotFound" {
		t.Fatalf("unknown task: %v", err)
	}
}

func pull(t *testing.T, vc *vod.Client) []*vod.EventContent {
	t.Helper()
	resp, err := vc.PullEventsWithContext(context.Background(), vod.NewPullEventsRequest())
	if err != nil {
		t.Fatalf("PullEvents: %v", err)
	}
	return resp.Response.EventSet
}

func confirm(vc *vod.Client, handles ...*string) error {
	req := vod.NewConfirmEventsRequest()
	req.EventHandles = handles
	_, err := vc.ConfirmEvents(req)
	return err
}

func enableUploadEvents(t *testing.T, vc *vod.Client) {
	t.Helper()
	req := vod.NewModifyEventConfigRequest()
	req.Mode = common.StringPtr("PULL")
	req.UploadMediaCompleteEventSwitch = common.StringPtr("ON")
	if _, err := vc.ModifyEventConfig(req); err != nil {
		t.Fatalf("ModifyEventConfig: %v", err)
	}
}

func TestEventsPullConfirmRedeliver(t *testing.T) {
	e := emulatortest.Start(t, fastTasks(200*time.Millisecond, 0))
	vc := defaultClient(t, e)
	enableUploadEvents(t, vc)
	dc, err := vc.DescribeEventConfig(vod.NewDescribeEventConfigRequest())
	if err != nil || *dc.Response.Mode != "PULL" || *dc.Response.UploadMediaCompleteEventSwitch != "ON" {
		t.Fatalf("DescribeEventConfig: %v", err)
	}
	start := time.Now()
	if evs := pull(t, vc); len(evs) != 0 || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("empty long poll: %d events after %s", len(evs), time.Since(start))
	}
	cm := uploadWith(t, e, vc, "news-transcode", "job-e")
	evs := pull(t, vc)
	if len(evs) != 1 || *evs[0].EventType != "NewFileUpload" || *evs[0].FileUploadEvent.FileId != *cm.FileId ||
		*evs[0].FileUploadEvent.MediaBasicInfo.SourceInfo.SourceContext != "job-e" || *evs[0].FileUploadEvent.ProcedureTaskId == "" {
		t.Fatalf("first pull: %d events", len(evs))
	}
	upload := evs[0]
	// The long poll wakes when the task finishes.
	evs = pull(t, vc)
	if len(evs) != 1 || *evs[0].EventType != "ProcedureStateChanged" || *evs[0].ProcedureStateChangeEvent.Status != "FINISH" ||
		*evs[0].ProcedureStateChangeEvent.TaskId != *upload.FileUploadEvent.ProcedureTaskId {
		t.Fatalf("second pull: %d events", len(evs))
	}
	if err := confirm(vc, evs[0].EventHandle); err != nil {
		t.Fatalf("ConfirmEvents: %v", err)
	}
	// The unconfirmed upload event comes back with a new handle after Redeliver.
	time.Sleep(450 * time.Millisecond)
	if err := confirm(vc, upload.EventHandle); codeOf(err) != "InvalidParameter" {
		t.Fatalf("expired handle: %v", err)
	}
	evs = pull(t, vc)
	if len(evs) != 1 || *evs[0].EventType != "NewFileUpload" || *evs[0].EventHandle == *upload.EventHandle {
		t.Fatalf("redelivery: %d events", len(evs))
	}
	if err := confirm(vc, evs[0].EventHandle); err != nil {
		t.Fatal(err)
	}
	time.Sleep(450 * time.Millisecond)
	if evs := pull(t, vc); len(evs) != 0 {
		t.Fatalf("confirmed events delivered again: %d", len(evs))
	}
}

func TestEventsAtMost16AndPersist(t *testing.T) {
	dir := t.TempDir()
	start := func(d time.Duration) *emulator.Emulator {
		cfg := emulator.Config{DataDir: dir, SecretID: emulatortest.SecretID, SecretKey: emulatortest.SecretKey, AppID: emulatortest.AppID}
		fastTasks(d, 0)(&cfg)
		e, err := emulator.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := start(time.Hour)
	vc := defaultClient(t, e)
	enableUploadEvents(t, vc)
	for i := 0; i < 18; i++ {
		uploadWith(t, e, vc, "news-transcode", "job")
	}
	if evs := pull(t, vc); len(evs) != 16 {
		t.Fatalf("pulled %d events, want 16", len(evs))
	}
	if evs := pull(t, vc); len(evs) != 2 {
		t.Fatalf("second pull %d events, want 2", len(evs))
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// After a restart the unconfirmed events are there again, and the
	// tasks that were running keep running (their duration is stored).
	e = start(100 * time.Millisecond)
	vc = defaultClient(t, e)
	if evs := pull(t, vc); len(evs) != 16 {
		t.Fatalf("after restart: %d events, want 16", len(evs))
	}
	req := vod.NewDescribeTasksRequest()
	req.Status = common.StringPtr("PROCESSING")
	req.Limit = common.Uint64Ptr(100)
	resp, err := vc.DescribeTasks(req)
	if err != nil || len(resp.Response.TaskSet) != 18 {
		t.Fatalf("processing tasks after restart: %v", err)
	}
	e.Close()
	// A task running when the emulator stopped finishes after it restarts.
	e = start(300 * time.Millisecond)
	vc = defaultClient(t, e)
	short := uploadWith(t, e, vc, "news-transcode", "short")
	e.Close()
	e = start(time.Hour)
	defer e.Close()
	vc = defaultClient(t, e)
	waitFinish(t, vc, procedureTaskOf(t, vc, *short.FileId))
}

func TestModifyEventConfigRejectsBadValues(t *testing.T) {
	e := emulatortest.Start(t)
	vc := defaultClient(t, e)
	for _, mutate := range []func(*vod.ModifyEventConfigRequest){
		func(r *vod.ModifyEventConfigRequest) { r.Mode = common.StringPtr("POLL") },
		func(r *vod.ModifyEventConfigRequest) { r.UploadMediaCompleteEventSwitch = common.StringPtr("yes") },
	} {
		req := vod.NewModifyEventConfigRequest()
		mutate(req)
		if _, err := vc.ModifyEventConfig(req); codeOf(err) != "InvalidParameterValue" {
			t.Errorf("got %v", err)
		}
	}
	if err := confirm(vc, common.StringPtr("made-up")); codeOf(err) != "InvalidParameter" {
		t.Errorf("made-up handle: %v", err)
	}
}
