package follow

import (
	"context"
	"errors"
	"fmt"
	"time"

	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// runPoll checks every followed job each Interval (sooner after a Kick).
// It reads only its own jobs' tasks and never takes the account's events.
func (f *Follower) runPoll(ctx context.Context) error {
	for {
		delay := f.cfg.Interval
		if err := f.pollOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			f.log.Warn("following jobs failed; retrying", "err", err, "retry_in", f.cfg.RetryDelay)
			delay = f.cfg.RetryDelay
		}
		if !f.sleep(ctx, delay, true) {
			return nil
		}
	}
}

// pollOnce checks each followed job once; the first error ends the round
// (the rest wait for the next one).
func (f *Follower) pollOnce(ctx context.Context) error {
	jobs, err := f.cfg.Store.Following(ctx)
	if err != nil {
		return fmt.Errorf("listing followed jobs: %w", err)
	}
	if len(jobs) == 0 {
		return nil
	}
	api, err := f.cfg.Client(ctx)
	if err != nil {
		return fmt.Errorf("vod client: %w", err)
	}
	for _, j := range jobs {
		if err := f.pollJob(ctx, api, j); err != nil {
			return fmt.Errorf("job %s (FileId %s): %w", j.ID, j.FileID, err)
		}
	}
	return nil
}

func (f *Follower) pollJob(ctx context.Context, api API, j Job) error {
	if j.FileID == "" {
		return nil // not committed yet as far as the store knows
	}
	taskID := j.TaskID
	if taskID == "" {
		id, err := f.findTask(ctx, api, j)
		if err != nil {
			return err
		}
		if id == "" {
			return f.noTaskYet(ctx, j)
		}
		taskID = id
	}
	if err := f.cfg.Pacer.Wait(ctx, "DescribeTaskDetail"); err != nil {
		return err
	}
	req := vod.NewDescribeTaskDetailRequest()
	req.TaskId = &taskID
	req.SubAppId = subApp(j.SubAppID)
	resp, err := api.DescribeTaskDetailWithContext(ctx, req)
	if err != nil {
		var se *sdkerrors.TencentCloudSDKError
		if errors.As(err, &se) && se.Code == "ResourceNotFound" {
			return f.apply(ctx, j, Update{Stage: Failed, TaskID: taskID, ErrCode: se.Code, Message: "the procedure task is gone: " + se.Message})
		}
		return fmt.Errorf("DescribeTaskDetail %s: %w", taskID, err)
	}
	pt := resp.Response.ProcedureTask
	if pt == nil {
		return fmt.Errorf("DescribeTaskDetail %s: no ProcedureTask in the answer", taskID)
	}
	if deref(resp.Response.Status) != "FINISH" {
		return f.apply(ctx, j, Update{Stage: Processing, TaskID: taskID, Progress: progress(pt)})
	}
	return f.apply(ctx, j, finished(pt, taskID))
}

// TaskNotFound is the error code of a job whose procedure task never
// appeared (Config.TaskWait).
const TaskNotFound = "TaskNotFound"

// noTaskYet gives a job up once VOD has not created its procedure task
// TaskWait after the commit: a procedure that does not exist in the job's
// sub-application, or a task flow VOD never started, would otherwise keep
// the job processing (and a post-action waiting for ready) forever.
func (f *Follower) noTaskYet(ctx context.Context, j Job) error {
	if f.cfg.TaskWait <= 0 || j.Committed.IsZero() {
		return nil
	}
	waited := f.cfg.Now().Sub(j.Committed)
	if waited < f.cfg.TaskWait {
		return nil
	}
	msg := fmt.Sprintf("no procedure task for FileId %s %s after the commit (follow.task_wait %s): check that procedure %q exists in sub-application %d and that its task flow starts on upload",
		j.FileID, waited.Round(time.Second), f.cfg.TaskWait, j.Procedure, j.SubAppID)
	return f.apply(ctx, j, Update{Stage: Failed, ErrCode: TaskNotFound, Message: msg})
}

// findTask looks the job's procedure task up by FileId (CommitUpload does
// not name it); "" while VOD has not created it yet.
func (f *Follower) findTask(ctx context.Context, api API, j Job) (string, error) {
	if err := f.cfg.Pacer.Wait(ctx, "DescribeTasks"); err != nil {
		return "", err
	}
	req := vod.NewDescribeTasksRequest()
	req.FileId = &j.FileID
	req.SubAppId = subApp(j.SubAppID)
	resp, err := api.DescribeTasksWithContext(ctx, req)
	if err != nil {
		return "", fmt.Errorf("DescribeTasks: %w", err)
	}
	for _, t := range resp.Response.TaskSet { // newest first
		if t != nil && deref(t.TaskType) == "Procedure" && deref(t.TaskId) != "" {
			return *t.TaskId, nil
		}
	}
	return "", nil
}

func (f *Follower) apply(ctx context.Context, j Job, u Update) error {
	if err := f.cfg.Store.Apply(ctx, j.ID, u); err != nil {
		return fmt.Errorf("recording %s: %w", u.Stage, err)
	}
	if u.Stage != Processing {
		f.log.Info("job processed", "job", j.ID, "file_id", j.FileID, "stage", string(u.Stage), "code", u.ErrCode, "message", u.Message)
	}
	return nil
}

func subApp(id uint64) *uint64 {
	if id == 0 {
		return nil
	}
	return &id
}
