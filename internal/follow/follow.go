// Package follow follows committed uploads to "playable": it learns from
// VOD when a job's procedure is processing, ready or failed, either by
// polling the job's own task (mode poll) or by consuming the account's
// event notifications (mode pull), and hands each finding to the job store.
package follow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/vodoutput"
)

// Modes.
const (
	ModePoll = "poll"
	ModePull = "pull"
)

// Stage is what a job became.
type Stage string

// Stages after done.
const (
	Processing Stage = "processing"
	Ready      Stage = "ready"
	Failed     Stage = "processing_failed"
)

// Job is a committed job the follower may learn about.
type Job struct {
	ID            string
	FileID        string
	SourceContext string
	SubAppID      uint64
	TaskID        string    // the procedure task, once known
	Procedure     string    // "" when the rule sets none
	Committed     time.Time // when the commit was recorded (zero: unknown)
}

// Update is one finding about a job.
type Update struct {
	Stage    Stage
	TaskID   string
	Progress int // 0..100
	Outputs  vodoutput.Outputs
	ErrCode  string // the service's error code (processing_failed)
	Message  string // the service's error message
}

// Store is the job store. Apply must make the update durable before it
// returns nil, and applying an update the job already went past (or the
// same one twice) must change nothing: the follower may learn a thing
// again after a restart.
type Store interface {
	// Following lists the jobs waiting to become playable: committed
	// with a procedure, not yet ready or processing_failed.
	Following(ctx context.Context) ([]Job, error)
	// Match finds the committed jobs an event is about, by FileId or by
	// SourceContext (either may be empty): usually one, several when jobs
	// share one media (content dedupe), none when the event is not ours.
	// A job without FileID is ours but not recorded as committed yet: the
	// event is left for VOD to deliver again.
	Match(ctx context.Context, fileID, sourceContext string) ([]Job, error)
	// Apply records an update of a job.
	Apply(ctx context.Context, jobID string, u Update) error
}

// API is the part of the VOD client the follower calls (*vod.Client).
type API interface {
	DescribeTasksWithContext(context.Context, *vod.DescribeTasksRequest) (*vod.DescribeTasksResponse, error)
	DescribeTaskDetailWithContext(context.Context, *vod.DescribeTaskDetailRequest) (*vod.DescribeTaskDetailResponse, error)
	PullEventsWithContext(context.Context, *vod.PullEventsRequest) (*vod.PullEventsResponse, error)
	ConfirmEventsWithContext(context.Context, *vod.ConfirmEventsRequest) (*vod.ConfirmEventsResponse, error)
}

// Pacer paces API calls. The daemon's client already goes through its API
// pacer (an http.RoundTripper shared with the uploads, per action), so it
// leaves Pacer nil; a caller whose client is not paced sets one.
type Pacer interface {
	Wait(ctx context.Context, action string) error
}

// Config configures a Follower. Zero values take the defaults.
type Config struct {
	Mode           string                                 // poll (default) | pull
	Client         func(ctx context.Context) (API, error) // a client with current credentials (required)
	Store          Store                                  // required
	SubAppID       uint64                                 // the application whose events are pulled
	Interval       time.Duration                          // poll: each job is checked this often, default 10s
	RetryDelay     time.Duration                          // after a failed API call, default 5s
	ConfirmForeign bool                                   // pull: confirm events that match no job (default: leave them)
	SafetyPoll     time.Duration                          // pull: also poll followed jobs this often (a lost or foreign-confirmed event), default 10m; <0 = never
	TaskWait       time.Duration                          // a job whose procedure task VOD has not created this long after the commit is processing_failed; 0 = wait forever
	Pacer          Pacer                                  // optional
	Now            func() time.Time                       // default time.Now
	Logger         *slog.Logger
}

// Follower runs one mode until its context ends.
type Follower struct {
	cfg     Config
	log     *slog.Logger
	kick    chan struct{}
	foreign *seenSet // pull: foreign events already logged
}

// New checks cfg.
func New(cfg Config) (*Follower, error) {
	switch cfg.Mode {
	case "":
		cfg.Mode = ModePoll
	case ModePoll, ModePull:
	default:
		return nil, fmt.Errorf("follow: mode %q: want %q or %q", cfg.Mode, ModePoll, ModePull)
	}
	if cfg.Client == nil || cfg.Store == nil {
		return nil, errors.New("follow: Client and Store are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 5 * time.Second
	}
	if cfg.SafetyPoll == 0 {
		cfg.SafetyPoll = 10 * time.Minute
	}
	if cfg.Pacer == nil {
		cfg.Pacer = noPacer{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TaskWait < 0 {
		return nil, fmt.Errorf("follow: TaskWait %v: must not be negative (0 waits forever)", cfg.TaskWait)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Follower{
		cfg: cfg, log: cfg.Logger.With("component", "follow", "mode", cfg.Mode),
		kick: make(chan struct{}, 1), foreign: newSeenSet(4096),
	}, nil
}

// Mode is the mode the follower runs.
func (f *Follower) Mode() string { return f.cfg.Mode }

// Kick asks a polling follower to look at its jobs now (a job was just
// committed); it never blocks.
func (f *Follower) Kick() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Run follows until ctx ends; it returns nil then.
func (f *Follower) Run(ctx context.Context) error {
	if f.cfg.Mode == ModePull {
		return f.runPull(ctx)
	}
	return f.runPoll(ctx)
}

// sleep waits d (or a kick); false when ctx ended.
func (f *Follower) sleep(ctx context.Context, d time.Duration, kickable bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var kick <-chan struct{}
	if kickable {
		kick = f.kick
	}
	select {
	case <-t.C:
	case <-kick:
	case <-ctx.Done():
		return false
	}
	return true
}

type noPacer struct{}

func (noPacer) Wait(ctx context.Context, _ string) error { return ctx.Err() }

// finished turns a finished ProcedureTask into ready or processing_failed.
func finished(pt *vod.ProcedureTask, taskID string) Update {
	code, msg := failure(pt)
	if code != "" {
		return Update{Stage: Failed, TaskID: taskID, ErrCode: code, Message: msg}
	}
	return Update{Stage: Ready, TaskID: taskID, Progress: 100, Outputs: vodoutput.FromProcedureTask(pt)}
}

// failure is the service's error of a task ("" when it succeeded): the
// first failed subtask's ErrCodeExt, else the task's ErrCode.
func failure(pt *vod.ProcedureTask) (code, msg string) {
	for _, r := range pt.MediaProcessResultSet {
		for _, s := range subtasks(r) {
			if s.status == "FAIL" {
				code = s.codeExt
				if code == "" {
					code = fmt.Sprint(s.code)
				}
				return code, s.message
			}
		}
	}
	if n := deref(pt.ErrCode); n != 0 {
		return fmt.Sprint(n), deref(pt.Message)
	}
	return "", ""
}

// progress is the mean progress of a task's subtasks.
func progress(pt *vod.ProcedureTask) int {
	sum, n := int64(0), int64(0)
	for _, r := range pt.MediaProcessResultSet {
		for _, s := range subtasks(r) {
			sum += s.progress
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return int(min(max(sum/n, 0), 100))
}

// subtask is the common part of every subtask result.
type subtask struct {
	status, codeExt, message string
	code, progress           int64
}

func subtasks(r *vod.MediaProcessTaskResult) []subtask {
	if r == nil {
		return nil
	}
	var out []subtask
	if t := r.TranscodeTask; t != nil {
		out = append(out, subtask{deref(t.Status), deref(t.ErrCodeExt), deref(t.Message), deref(t.ErrCode), deref(t.Progress)})
	}
	if t := r.AdaptiveDynamicStreamingTask; t != nil {
		out = append(out, subtask{deref(t.Status), deref(t.ErrCodeExt), deref(t.Message), deref(t.ErrCode), deref(t.Progress)})
	}
	if t := r.SnapshotByTimeOffsetTask; t != nil {
		out = append(out, subtask{deref(t.Status), deref(t.ErrCodeExt), deref(t.Message), deref(t.ErrCode), deref(t.Progress)})
	}
	if t := r.CoverBySnapshotTask; t != nil {
		out = append(out, subtask{deref(t.Status), deref(t.ErrCodeExt), deref(t.Message), deref(t.ErrCode), deref(t.Progress)})
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// seenSet remembers up to n keys (the oldest forgotten first).
type seenSet struct {
	n     int
	keys  map[string]bool
	order []string
}

func newSeenSet(n int) *seenSet { return &seenSet{n: n, keys: map[string]bool{}} }

// add reports whether key is new.
func (s *seenSet) add(key string) bool {
	if s.keys[key] {
		return false
	}
	if len(s.order) == s.n {
		delete(s.keys, s.order[0])
		s.order = s.order[1:]
	}
	s.keys[key] = true
	s.order = append(s.order, key)
	return true
}
