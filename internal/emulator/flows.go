package emulator

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// TaskConfig shapes the task flows (procedures) the emulator runs on
// committed media. Zero values take the defaults.
type TaskConfig struct {
	Duration  time.Duration // PROCESSING -> FINISH, default 2s
	FailRate  float64       // share of tasks that finish with an error, 0..1
	Seed      uint64        // seeds the failure draw (deterministic per Seed)
	PullWait  time.Duration // longest PullEvents long poll, default 5s (the service's)
	Redeliver time.Duration // an unconfirmed event is pulled again after this, default 30s
	MaxEvents int           // unconfirmed events kept per application, default 10000 (oldest dropped)
}

func (c TaskConfig) withDefaults() (TaskConfig, error) {
	if c.Duration <= 0 {
		c.Duration = 2 * time.Second
	}
	if c.FailRate < 0 || c.FailRate > 1 {
		return c, fmt.Errorf("emulator: Tasks.FailRate %v: want 0..1", c.FailRate)
	}
	if c.PullWait <= 0 {
		c.PullWait = 5 * time.Second
	}
	if c.Redeliver <= 0 {
		c.Redeliver = 30 * time.Second
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 10000
	}
	return c, nil
}

// maxPulledEvents is how many events one PullEvents returns at most.
const maxPulledEvents = 16

// Task statuses (DescribeTaskDetail) and event types (PullEvents).
const (
	taskProcessing = "PROCESSING"
	taskFinish     = "FINISH"

	eventNewFileUpload         = "NewFileUpload"
	eventProcedureStateChanged = "ProcedureStateChanged"
)

// task is one procedure (task flow) run on a committed media.
type task struct {
	ID             string        `json:"id"`
	AppID          uint64        `json:"app_id"`
	SubAppID       uint64        `json:"sub_app_id"`
	FileID         string        `json:"file_id"`
	Bucket         string        `json:"bucket"`
	Procedure      string        `json:"procedure"`
	SessionContext string        `json:"session_context,omitempty"`
	Created        time.Time     `json:"created"`
	Duration       time.Duration `json:"duration"`
	Fail           bool          `json:"fail,omitempty"`
	Finished       time.Time     `json:"finished,omitzero"`
}

func (t *task) done() bool { return !t.Finished.IsZero() }

// event is one notification waiting for ConfirmEvents. Its content is
// built when it is pulled (URLs follow the current address).
type event struct {
	ID       string    `json:"id"`
	Seq      uint64    `json:"seq"`
	AppID    uint64    `json:"app_id"`
	SubAppID uint64    `json:"sub_app_id"`
	Type     string    `json:"type"`
	FileID   string    `json:"file_id"`
	TaskID   string    `json:"task_id,omitempty"`
	Created  time.Time `json:"created"`
}

// eventConfig is one application's ModifyEventConfig settings.
type eventConfig struct {
	AppID           uint64 `json:"app_id"`
	SubAppID        uint64 `json:"sub_app_id"`
	Mode            string `json:"mode"` // PULL | PUSH
	NotificationURL string `json:"notification_url,omitempty"`
	UploadSwitch    string `json:"upload_switch"` // ON | OFF: NewFileUpload events
	DeleteSwitch    string `json:"delete_switch"`
	PersistSwitch   string `json:"persist_switch"`
}

func defaultEventConfig(appID, subApp uint64) *eventConfig {
	return &eventConfig{AppID: appID, SubAppID: subApp, Mode: "PULL", UploadSwitch: "OFF", DeleteSwitch: "OFF", PersistSwitch: "OFF"}
}

func appKey(appID, subApp uint64) string { return fmt.Sprintf("%d/%d", appID, subApp) }

// flowData is the persistent part of the task flows (inside storeData).
type flowData struct {
	Tasks        map[string]*task        `json:"tasks,omitempty"`
	Events       map[string]*event       `json:"events,omitempty"`
	EventConfigs map[string]*eventConfig `json:"event_configs,omitempty"`
	EventSeq     uint64                  `json:"event_seq,omitempty"`
	taskOfFile   map[string]string       // FileId -> task id (an index, rebuilt)
}

func (d *flowData) init() {
	if d.Tasks == nil {
		d.Tasks = map[string]*task{}
	}
	if d.Events == nil {
		d.Events = map[string]*event{}
	}
	if d.EventConfigs == nil {
		d.EventConfigs = map[string]*eventConfig{}
	}
	if d.taskOfFile == nil {
		d.taskOfFile = map[string]string{}
		for id, t := range d.Tasks {
			d.taskOfFile[t.FileID] = id
		}
	}
}

// flowRecord is a journal line's task-flow part.
type flowRecord struct {
	Task          *task        `json:"task,omitempty"`
	Events        []*event     `json:"events,omitempty"`
	ConfirmEvents []string     `json:"confirm_events,omitempty"`
	DropEvents    []string     `json:"drop_events,omitempty"`
	EventConfig   *eventConfig `json:"event_config,omitempty"`
}

func (r flowRecord) empty() bool {
	return r.Task == nil && len(r.Events) == 0 && len(r.ConfirmEvents) == 0 && len(r.DropEvents) == 0 && r.EventConfig == nil
}

func (d *flowData) apply(r flowRecord) {
	d.init()
	if r.Task != nil {
		d.Tasks[r.Task.ID] = r.Task
		d.taskOfFile[r.Task.FileID] = r.Task.ID
	}
	for _, ev := range r.Events {
		d.Events[ev.ID] = ev
		d.EventSeq = max(d.EventSeq, ev.Seq)
	}
	for _, id := range r.ConfirmEvents {
		delete(d.Events, id)
	}
	for _, id := range r.DropEvents {
		delete(d.Events, id)
	}
	if r.EventConfig != nil {
		d.EventConfigs[appKey(r.EventConfig.AppID, r.EventConfig.SubAppID)] = r.EventConfig
	}
}

// flows runs the task flows: timers that finish tasks, the failure draw,
// the deliveries of pulled events and the long polls waiting for one.
// Its state beside the store is in memory only: after a restart every
// unconfirmed event is pulled again. mu guards everything but cfg.
type flows struct {
	cfg TaskConfig

	mu         sync.Mutex
	rng        *rand.Rand
	timers     map[string]*time.Timer
	deliveries map[string]delivery  // EventHandle -> delivery
	hiddenTill map[string]time.Time // event id -> pulled again from then on
	wake       chan struct{}        // closed when an event is added
	closed     bool
}

// delivery is one pull of one event.
type delivery struct {
	eventID string
	app     string // appKey of the puller
	expires time.Time
}

func newFlows(cfg TaskConfig) *flows {
	return &flows{
		cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x7a5c)),
		timers: map[string]*time.Timer{}, deliveries: map[string]delivery{},
		hiddenTill: map[string]time.Time{}, wake: make(chan struct{}),
	}
}

// drawFail decides whether the next task fails.
func (f *flows) drawFail() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg.FailRate > 0 && f.rng.Float64() < f.cfg.FailRate
}

// signal wakes the long polls waiting for an event.
func (f *flows) signal() {
	f.mu.Lock()
	close(f.wake)
	f.wake = make(chan struct{})
	f.mu.Unlock()
}

func (f *flows) waiter() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wake
}

// schedule arms the timer that finishes a task after d (at once if d <= 0).
func (f *flows) schedule(id string, d time.Duration, finish func(string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if _, ok := f.timers[id]; ok {
		return
	}
	f.timers[id] = time.AfterFunc(max(d, 0), func() { finish(id) })
}

// unschedule forgets a finished task's timer; false once closed.
func (f *flows) unschedule(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.timers, id)
	return !f.closed
}

// stop cancels every timer (Close).
func (f *flows) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for id, t := range f.timers {
		t.Stop()
		delete(f.timers, id)
	}
}

// sortedEvents lists events oldest first.
func sortedEvents(m map[string]*event) []*event {
	out := make([]*event, 0, len(m))
	for _, ev := range m {
		out = append(out, ev)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}
