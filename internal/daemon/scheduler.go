package daemon

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/adapt"
	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// refillEvery bounds how often the scheduler re-reads the due jobs when the
// store keeps signalling changes (a drop of thousands of files). Between
// signals the queue read last is worked off without reading it again.
const refillEvery = 200 * time.Millisecond

// scheduler hands due jobs to a bounded set of workers: higher priority
// first, and a share of the workers kept for small jobs so that one giant
// file never holds back a queue of small ones.
type scheduler struct {
	d       *Daemon
	mu      sync.Mutex
	running map[string]int64 // job id -> bytes
	postDue map[string]time.Time
	// stranded holds jobs whose worker ended while their record still says
	// in flight (the state refused the write of their next stage): they
	// run again, from their checkpoint, once the state takes writes.
	stranded map[string]time.Time
	wake     chan struct{}
	// start runs a dispatched job on a goroutine of its own: work, or a
	// recorder in tests of the dispatch policy.
	start func(ctx context.Context, wg *sync.WaitGroup, j *state.Job, lease *smallLease)

	// gate adapts how many small jobs run at once (smallGate); gateFor is
	// the workers and cap it was made for.
	gate    *adapt.Controller
	gateFor [2]int
	leased  int // small jobs running with a slot of any gate (old ones included)
}

// smallLease is a small job's slot in the scheduler's adaptive gate.
type smallLease struct {
	gate   *adapt.Controller
	ticket adapt.Ticket
	start  time.Time
}

func newScheduler(d *Daemon) *scheduler {
	s := &scheduler{d: d, running: map[string]int64{}, postDue: map[string]time.Time{},
		stranded: map[string]time.Time{}, wake: make(chan struct{}, 1)}
	s.start = func(ctx context.Context, wg *sync.WaitGroup, j *state.Job, lease *smallLease) {
		go s.work(ctx, wg, j, lease)
	}
	return s
}

// active is the number of uploads in flight.
func (s *scheduler) active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.running)
}

func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// claim keeps the workers off job id until release; false when a worker
// already runs it.
func (s *scheduler) claim(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, busy := s.running[id]; busy {
		return false
	}
	s.running[id] = 0
	return true
}

func (s *scheduler) release(id string) {
	s.mu.Lock()
	delete(s.running, id)
	s.mu.Unlock()
	s.poke()
}

// retryPostLater schedules another try of a failed post-action.
func (s *scheduler) retryPostLater(id string) { s.retryPostIn(id, 30*time.Second) }

// retryPostIn schedules another try of a post-action after wait.
func (s *scheduler) retryPostIn(id string, wait time.Duration) {
	s.mu.Lock()
	s.postDue[id] = s.d.now().Add(wait)
	s.mu.Unlock()
}

// run dispatches jobs until ctx ends, then waits for the workers, whose
// uploads stop at their last checkpoint.
func (s *scheduler) run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	s.resumePostActions(ctx, &wg)
	var queue jobQueue
	var lastFill time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s.d.beat("scheduler")
		if s.d.acceptingWork() && s.d.clusterAccepting() {
			if len(queue.jobs) == 0 {
				queue = jobQueue{jobs: s.refill(ctx)}
				lastFill = s.d.now()
			}
			s.dispatch(ctx, &wg, &queue)
		}
		s.duePosts(ctx, &wg)
		wait := s.untilNextRetry(ctx)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-s.d.store.Changed():
			if len(queue.jobs) > 0 {
				// Wait out the refill interval so a burst of changes
				// costs one read, not one per file.
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(refillEvery - s.d.now().Sub(lastFill)):
				}
			}
			queue = jobQueue{}
		case <-s.wake:
		case <-s.d.clusterChanged():
			queue = jobQueue{}
		case <-tick.C:
		case <-timer.C:
			queue = jobQueue{}
		}
		timer.Stop()
	}
}

func (s *scheduler) refill(ctx context.Context) []*state.Job {
	jobs, err := s.d.store.Due(ctx, s.d.now(), 0)
	if err != nil {
		if ctx.Err() == nil {
			s.d.log.Error("reading due jobs", "err", err)
		}
		return nil
	}
	jobs = append(jobs, s.dueStranded(ctx, jobs)...)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := jobs[:0]
	for _, j := range jobs {
		if _, busy := s.running[j.ID]; !busy && !s.d.heldElsewhere(j.ID) {
			out = append(out, j)
		}
	}
	return out
}

// strand notes a job whose worker ended with its record still in flight.
func (s *scheduler) strand(id string) {
	s.mu.Lock()
	s.stranded[id] = s.d.now().Add(stateBackoff)
	s.mu.Unlock()
}

// dueStranded returns the stranded jobs whose wait is over, still in
// flight and not among queued. A job stays stranded until a worker takes
// it (work), so a full set of workers only delays it.
func (s *scheduler) dueStranded(ctx context.Context, queued []*state.Job) []*state.Job {
	now := s.d.now()
	s.mu.Lock()
	var ids []string
	for id, at := range s.stranded {
		if !at.After(now) {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	var out []*state.Job
	for _, id := range ids {
		j, err := s.d.store.Get(ctx, id)
		if errors.Is(err, state.ErrNotFound) || (err == nil && !j.Stage.InFlight()) {
			s.mu.Lock()
			delete(s.stranded, id) // recorded meanwhile (or forgotten)
			s.mu.Unlock()
		}
		if err != nil || !j.Stage.InFlight() || slices.ContainsFunc(queued, func(q *state.Job) bool { return q.ID == id }) {
			continue
		}
		out = append(out, j)
	}
	return out
}

// dispatch starts as many of q's jobs as the worker limits allow and
// leaves the rest in q, in order. Small jobs (below small_file_threshold) are
// bound by round trips, not bandwidth: with small_files_in_flight above
// workers they run through an adaptive gate (smallGate) instead of the
// workers, and large jobs keep their workers (less the reserved ones).
func (s *scheduler) dispatch(ctx context.Context, wg *sync.WaitGroup, q *jobQueue) {
	up := s.d.cfg().Upload
	workers := max(up.Workers, 1)
	reserved := min(max(up.SmallWorkers, 0), workers-1)
	small := up.SmallFileThreshold
	s.mu.Lock()
	defer s.mu.Unlock()
	gate := s.smallGate(up)
	// What may still start in this pass; once neither kind may, the rest
	// of the queue waits as it is (a pass costs what it starts, not the
	// length of the queue: thousands of small files are dispatched one
	// finished job at a time). Neither may start either when none of its
	// kind is left (bigLeft: a free worker for big jobs does not walk a
	// queue of small ones).
	smallOpen, bigOpen := true, true
	big := s.bigRunning(small)
	bigLeft := q.bigJobs(small)
	rest := q.jobs[:0]
	for i, j := range q.jobs {
		if gate != nil {
			// leased bounds the jobs of every gate: after a reload that
			// made a new one, those still running in the old count too.
			smallOpen = smallOpen && s.leased < up.SmallFilesInFlight
			bigOpen = big < workers-reserved
		} else {
			smallOpen = len(s.running) < workers
			// The last reserved workers are kept for small jobs.
			bigOpen = smallOpen && !(reserved > 0 && small > 0 && big >= workers-reserved)
		}
		smallOpen = smallOpen && len(q.jobs)-i > bigLeft
		bigOpen = bigOpen && bigLeft > 0
		if !smallOpen && !bigOpen {
			if len(rest) == i {
				return // none taken out: the queue as it was
			}
			rest = append(rest, q.jobs[i:]...)
			break
		}
		isSmall := small > 0 && j.Bytes < small
		if !isSmall {
			bigLeft--
		}
		var lease *smallLease
		switch {
		case isSmall && !smallOpen, !isSmall && !bigOpen:
			rest = append(rest, j)
			continue
		case gate != nil && isSmall:
			t, ok := gate.TryAcquire()
			if !ok {
				smallOpen = false // it refuses the rest of this pass too
				rest = append(rest, j)
				continue
			}
			s.leased++
			lease = &smallLease{gate: gate, ticket: t, start: time.Now()} // the pipe's time, not the daemon's clock
		}
		if !isSmall {
			q.big--
		}
		if small > 0 && j.Bytes >= small {
			big++
		}
		s.running[j.ID] = j.Bytes
		wg.Add(1)
		s.start(ctx, wg, j, lease)
	}
	q.jobs = rest
}

// smallGate returns the gate of small jobs: its limit starts at workers
// (what served before it) and follows the measured bandwidth-delay product
// up to small_files_in_flight, like the parts of one upload (internal/adapt).
// It is nil when that cap is not above workers (a fixed count, the
// workers') or there is no small_file_threshold. A reload that changes
// either starts a new gate; jobs running keep their slot in the old one,
// and dispatch counts them against the cap until they end.
// The caller holds s.mu.
func (s *scheduler) smallGate(up config.Upload) *adapt.Controller {
	workers := max(up.Workers, 1)
	if up.SmallFileThreshold <= 0 || up.SmallFilesInFlight <= workers {
		s.gate = nil
		return nil
	}
	if key := [2]int{workers, up.SmallFilesInFlight}; s.gate == nil || s.gateFor != key {
		s.gate = adapt.New(adapt.Config{Min: workers, Initial: workers, Max: up.SmallFilesInFlight})
		s.gateFor = key
	}
	return s.gate
}

// smallLimit returns the small jobs' current limit, 0 when there is no
// gate.
func (s *scheduler) smallLimit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		return 0
	}
	return s.gate.Limit()
}

func (s *scheduler) bigRunning(threshold int64) int {
	n := 0
	for _, b := range s.running {
		if b >= threshold {
			n++
		}
	}
	return n
}

func (s *scheduler) work(ctx context.Context, wg *sync.WaitGroup, j *state.Job, lease *smallLease) {
	defer wg.Done()
	uploaded := false // the job sent its file to done: its duration measures the pipe
	defer func() {
		if lease != nil {
			var sample adapt.Sample
			if uploaded {
				sample = adapt.Sample{Bytes: max(j.Bytes, 1), Start: lease.start, End: time.Now()}
			}
			lease.gate.Release(lease.ticket, sample)
		}
		s.mu.Lock()
		if lease != nil {
			s.leased--
		}
		delete(s.running, j.ID)
		s.mu.Unlock()
		s.poke()
	}()
	s.mu.Lock()
	_, wasStranded := s.stranded[j.ID]
	delete(s.stranded, j.ID)
	s.mu.Unlock()
	if wasStranded {
		s.d.log.Info("resuming a job whose stage could not be recorded", "job", j.ID, "stage", j.Stage)
	}
	// The queue is a snapshot: read the job again now that this worker owns
	// it, so a job that finished meanwhile is never run twice.
	fresh, err := s.d.store.Get(ctx, j.ID)
	if err != nil || !runnable(fresh, s.d.now()) {
		return
	}
	sent := s.d.runJob(ctx, fresh)
	if ctx.Err() != nil {
		return // shutdown: the job resumes at the next start
	}
	// runJob ends at a resting stage (done, failed, quarantined, queued)
	// unless the state refused to record it: then the record still says
	// in flight, and nothing else would ever run the job again.
	stage, err := s.d.store.StageOf(ctx, j.ID)
	if err == nil && stage.InFlight() {
		s.strand(j.ID)
	}
	uploaded = sent && err == nil && stage == state.StageDone
}

// runnable reports whether a job has work to do now.
func runnable(j *state.Job, now time.Time) bool {
	switch j.Stage {
	case state.StageDone:
		return j.Post.State == state.PostPending
	case state.StageQuarantined:
		return false
	case state.StageFailed:
		return !j.NextRetry.IsZero() && !j.NextRetry.After(now)
	}
	return true
}

// resumePostActions runs the post-actions that a crash or a failure left
// pending on done jobs.
func (s *scheduler) resumePostActions(ctx context.Context, wg *sync.WaitGroup) {
	jobs, err := s.d.store.PostPending(ctx)
	if err != nil {
		s.d.log.Error("listing pending post-actions", "err", err)
		return
	}
	s.mu.Lock()
	for _, j := range jobs {
		s.postDue[j.ID] = time.Time{}
	}
	s.mu.Unlock()
	s.duePosts(ctx, wg)
}

func (s *scheduler) duePosts(ctx context.Context, wg *sync.WaitGroup) {
	now := s.d.now()
	s.mu.Lock()
	var ids []string
	for id, at := range s.postDue {
		if _, busy := s.running[id]; !busy && !at.After(now) {
			ids = append(ids, id)
			delete(s.postDue, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		j, err := s.d.store.Get(ctx, id)
		if err != nil || j.Stage != state.StageDone {
			continue
		}
		s.mu.Lock()
		s.running[id] = 0
		s.mu.Unlock()
		wg.Add(1)
		go s.work(ctx, wg, j, nil)
	}
}

// untilNextRetry is how long the loop may sleep before a failed job's
// retry time comes.
func (s *scheduler) untilNextRetry(ctx context.Context) time.Duration {
	at, ok, err := s.d.store.NextRetryAt(ctx)
	if err != nil || !ok {
		return time.Minute
	}
	return min(max(time.Until(at), 10*time.Millisecond), time.Minute)
}
