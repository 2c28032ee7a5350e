package follow_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/follow"
)

func clientFor(vc *vod.Client) func(context.Context) (follow.API, error) {
	return func(context.Context) (follow.API, error) { return vc, nil }
}

// pullDirect pulls the events still waiting, after the redelivery time.
func pullDirect(t *testing.T, vc *vod.Client) []*vod.EventContent {
	t.Helper()
	time.Sleep(600 * time.Millisecond)
	resp, err := vc.PullEvents(vod.NewPullEventsRequest())
	if err != nil {
		t.Fatalf("PullEvents: %v", err)
	}
	return resp.Response.EventSet
}

func TestPollReachesReadyWithOutputsAndLeavesEvents(t *testing.T) {
	e := startEmulator(t, 300*time.Millisecond, 0)
	vc := client(t, e)
	enableUploadEvents(t, vc)
	s := newMemStore()
	for _, id := range []string{"a", "b"} {
		s.add(follow.Job{ID: id, FileID: upload(t, e, vc, "news-transcode", id), SourceContext: id, Procedure: "news-transcode"})
	}
	pacer := &countingPacer{}
	ctx, cancel := context.WithCancel(context.Background())
	f, err := follow.New(follow.Config{Mode: follow.ModePoll, Client: clientFor(vc), Store: s, Interval: 50 * time.Millisecond, Pacer: pacer})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	for _, id := range []string{"a", "b"} {
		j := waitStage(t, s, id, follow.Ready)
		o := j.update.Outputs
		if len(o.Transcodes) != 1 || len(o.Streams) != 1 || len(o.Snapshots) != 1 || o.CoverURL == "" || j.TaskID == "" {
			t.Fatalf("job %s outputs %+v task %q", id, o, j.TaskID)
		}
		if !slices.Equal(j.history, []follow.Stage{follow.Processing, follow.Ready}) {
			t.Errorf("job %s history %v", id, j.history)
		}
		resp, err := http.Get(o.Transcodes[0].URL)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET transcode: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if pacer.count("DescribeTaskDetail") == 0 || pacer.count("DescribeTasks") == 0 || pacer.count("PullEvents") != 0 {
		t.Errorf("paced actions %v", pacer.actions)
	}
	// Poll mode took no event away from another consumer.
	evs := pullDirect(t, vc)
	if len(evs) != 4 {
		t.Fatalf("events left for other consumers: %d, want 4", len(evs))
	}
}

func TestPollFailedCarriesServiceError(t *testing.T) {
	e := startEmulator(t, 100*time.Millisecond, 1)
	vc := client(t, e)
	s := newMemStore()
	s.add(follow.Job{ID: "f", FileID: upload(t, e, vc, "news-transcode", "f"), Procedure: "news-transcode"})
	run(t, follow.Config{Client: clientFor(vc), Store: s, Interval: 50 * time.Millisecond})
	j := waitStage(t, s, "f", follow.Failed)
	if j.update.ErrCode != "SourceFileError" || j.update.Message == "" || !j.update.Outputs.Empty() {
		t.Fatalf("failure %+v", j.update)
	}
}

// TestPollGivesUpOnATaskThatNeverAppears: a job whose procedure task VOD
// never created (here: committed without one, as when the procedure is
// missing from the sub-application) is processing_failed with
// TaskNotFound once TaskWait has passed since its commit, naming the
// procedure; a job committed more recently keeps waiting, and TaskWait 0
// waits forever.
func TestPollGivesUpOnATaskThatNeverAppears(t *testing.T) {
	e := startEmulator(t, 100*time.Millisecond, 0)
	vc := client(t, e)
	now := time.Now()
	for _, tc := range []struct {
		name     string
		wait     time.Duration
		ago      time.Duration
		wantFail bool
	}{
		{"waited longer than task_wait", time.Hour, 2 * time.Hour, true},
		{"committed recently", time.Hour, time.Minute, false},
		{"task_wait 0 waits forever", 0, 100 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newMemStore()
			s.add(follow.Job{ID: "old", FileID: upload(t, e, vc, "", "old"), Procedure: "missing-flow", Committed: now.Add(-tc.ago)})
			// A job with a task, followed in the same rounds, is a
			// witness that the rounds ran.
			s.add(follow.Job{ID: "witness", FileID: upload(t, e, vc, "news-transcode", "witness"), Procedure: "news-transcode"})
			run(t, follow.Config{Client: clientFor(vc), Store: s, Interval: 50 * time.Millisecond, TaskWait: tc.wait,
				Now: func() time.Time { return now }})
			waitStage(t, s, "witness", follow.Ready)
			if !tc.wantFail {
				time.Sleep(200 * time.Millisecond) // a few more rounds
				if j := s.get("old"); j.stage != "" {
					t.Fatalf("job without a task went %s: %+v", j.stage, j.update)
				}
				return
			}
			j := waitStage(t, s, "old", follow.Failed)
			if j.update.ErrCode != follow.TaskNotFound || !strings.Contains(j.update.Message, `"missing-flow"`) ||
				!strings.Contains(j.update.Message, "follow.task_wait") {
				t.Fatalf("failure %+v", j.update)
			}
		})
	}
}

// logBuffer collects log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func TestPullAppliesThenConfirms(t *testing.T) {
	e := startEmulator(t, 200*time.Millisecond, 0)
	vc := client(t, e)
	enableUploadEvents(t, vc)
	s := newMemStore()
	s.failApply = 1 // the first event is not applied: it must come again
	s.add(follow.Job{ID: "p", FileID: upload(t, e, vc, "news-transcode", "p"), SourceContext: "p", Procedure: "news-transcode"})
	s.add(follow.Job{ID: "plain", FileID: upload(t, e, vc, "", "plain"), SourceContext: "plain"})
	f := run(t, follow.Config{Mode: follow.ModePull, Client: clientFor(vc), Store: s, RetryDelay: 50 * time.Millisecond, SafetyPoll: -1})
	if f.Mode() != follow.ModePull {
		t.Fatal(f.Mode())
	}
	j := waitStage(t, s, "p", follow.Ready)
	// The failed first apply may have been the NewFileUpload event: then
	// the job goes to ready straight from done.
	okHistory := slices.Equal(j.history, []follow.Stage{follow.Processing, follow.Ready}) || slices.Equal(j.history, []follow.Stage{follow.Ready})
	if !okHistory || len(j.update.Outputs.Transcodes) != 1 {
		t.Fatalf("history %v outputs %+v", j.history, j.update.Outputs)
	}
	if got := s.get("plain"); len(got.history) != 0 {
		t.Fatalf("a job without procedure was updated: %v", got.history)
	}
	// Every event was ours and is confirmed (the one not applied at first
	// came again): none comes again.
	waitNoEvents(t, vc)
}

// waitNoEvents waits until the confirmations in flight are done and no
// event comes again.
func waitNoEvents(t *testing.T, vc *vod.Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := pullDirect(t, vc)
		if len(evs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events still unconfirmed, first %s", len(evs), *evs[0].EventType)
		}
	}
}

func TestPullLeavesForeignEventsUnconfirmedAndLogsThemOnce(t *testing.T) {
	for _, confirmForeign := range []bool{false, true} {
		t.Run(map[bool]string{false: "leave", true: "confirm"}[confirmForeign], func(t *testing.T) {
			e := startEmulator(t, 200*time.Millisecond, 0)
			vc := client(t, e)
			enableUploadEvents(t, vc)
			s := newMemStore()
			s.add(follow.Job{ID: "ours", FileID: upload(t, e, vc, "news-transcode", "ours"), SourceContext: "ours", Procedure: "news-transcode"})
			upload(t, e, vc, "news-transcode", "someone-else")
			logs := &logBuffer{}
			ctx, cancel := context.WithCancel(context.Background())
			f, err := follow.New(follow.Config{Mode: follow.ModePull, Client: clientFor(vc), Store: s, ConfirmForeign: confirmForeign,
				SafetyPoll: -1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- f.Run(ctx) }()
			waitStage(t, s, "ours", follow.Ready)
			// Let the foreign events come around at least twice.
			time.Sleep(1500 * time.Millisecond)
			cancel()
			<-done
			if n := logs.count("event matches no job"); n != 2 {
				t.Errorf("foreign events logged %d times, want once each (2)", n)
			}
			evs := pullDirect(t, vc)
			if confirmForeign {
				if len(evs) != 0 {
					t.Fatalf("confirm_foreign left %d events", len(evs))
				}
				return
			}
			if len(evs) != 2 {
				t.Fatalf("foreign events left: %d, want 2", len(evs))
			}
			for _, ev := range evs {
				if ev.FileUploadEvent != nil && *ev.FileUploadEvent.MediaBasicInfo.SourceInfo.SourceContext != "someone-else" {
					t.Errorf("an event of ours was left: %s", *ev.EventType)
				}
			}
		})
	}
}

func TestPullSafetyPollFindsJobsWithoutEvents(t *testing.T) {
	e := startEmulator(t, 100*time.Millisecond, 0)
	vc := client(t, e)
	// Events are pulled, but the job's own events were taken by another
	// consumer: the safety poll still brings the job to ready.
	s := newMemStore()
	s.add(follow.Job{ID: "q", FileID: upload(t, e, vc, "news-transcode", "q"), Procedure: "news-transcode"})
	time.Sleep(300 * time.Millisecond)
	for _, ev := range pullDirect(t, vc) {
		req := vod.NewConfirmEventsRequest()
		req.EventHandles = []*string{ev.EventHandle}
		if _, err := vc.ConfirmEvents(req); err != nil {
			t.Fatal(err)
		}
	}
	run(t, follow.Config{Mode: follow.ModePull, Client: clientFor(vc), Store: s, SafetyPoll: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	waitStage(t, s, "q", follow.Ready)
}

func TestNewRejectsBadConfig(t *testing.T) {
	s := newMemStore()
	for _, cfg := range []follow.Config{
		{Mode: "push", Client: clientFor(nil), Store: s},
		{Mode: follow.ModePoll, Store: s},
		{Mode: follow.ModePull, Client: clientFor(nil)},
		{Mode: follow.ModePoll, Client: clientFor(nil), Store: s, TaskWait: -time.Second},
	} {
		if _, err := follow.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg.Mode)
		}
	}
}

// TestPullWaitsForAJobNotRecordedYet: events that come before the daemon
// recorded the commit (or across a crash there) are left for VOD to
// deliver again, not taken for foreign ones, and applied once the job is
// recorded.
func TestPullWaitsForAJobNotRecordedYet(t *testing.T) {
	e := startEmulator(t, 100*time.Millisecond, 0)
	vc := client(t, e)
	enableUploadEvents(t, vc)
	s := newMemStore()
	s.add(follow.Job{ID: "late", SourceContext: "late", Procedure: "news-transcode"})
	fileID := upload(t, e, vc, "news-transcode", "late")
	logs := &logBuffer{}
	run(t, follow.Config{Mode: follow.ModePull, Client: clientFor(vc), Store: s, SafetyPoll: -1,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	deadline := time.Now().Add(5 * time.Second)
	for logs.count("not recorded as committed yet") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the early event was not seen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.get("late"); len(got.history) != 0 {
		t.Fatalf("an update was applied to a job not committed yet: %v", got.history)
	}
	s.mu.Lock()
	s.jobs["late"].FileID = fileID // the daemon records done
	s.mu.Unlock()
	waitStage(t, s, "late", follow.Ready)
	if n := logs.count("event matches no job"); n != 0 {
		t.Fatalf("our own early event was logged as foreign %d times", n)
	}
	waitNoEvents(t, vc)
}
