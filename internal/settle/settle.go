// Package settle decides when a file is complete: unchanged (size, mtime,
// device, inode) for a settle window, with its ready marker present.
package settle

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
)

// Defaults for Config.
const (
	DefaultWindow     = 5 * time.Second
	maxPoll           = 250 * time.Millisecond
	defaultMarkerPoll = time.Second
	batchSize         = 1024
	// DefaultMaxOpenWait bounds how long a quiet file still open for
	// writing is waited for.
	DefaultMaxOpenWait = 24 * time.Hour
)

// Stable is a file that settled: its state when it was taken.
type Stable struct {
	Root string // Config.Root
	Rel  string // slash path relative to Root
	Path string // absolute path
	fileid.ID
	Empty bool // zero bytes: settled like any file; the consumer decides
}

// Config configures a Settler (typically one per watch root).
type Config struct {
	Root string
	// Window is how long a file must stay unchanged (default 5s).
	Window time.Duration
	// Poll is how often a file that is changing is re-stat'ed, events or
	// not (default min(Window/4, 250ms)).
	Poll time.Duration
	// Ready, if set, must also hold before a file is stable (for example:
	// path+".done" exists). While it does not, the file is re-checked every
	// MarkerPoll (default 1s, at most Window).
	Ready      func(path string) bool
	MarkerPoll time.Duration
	// OpenForWrite, if set, tells whether a process still holds the file
	// open for writing (OpenForWrite on local filesystems): such a file is
	// not stable however quiet it is, for at most MaxOpenWait (default
	// 24h), after which it is taken with a warning. It is asked once the
	// file is quiet, then every MarkerPoll while it stays open. An error
	// (cannot tell) is logged once and the file is judged by its quiet
	// window alone.
	OpenForWrite func(path string) (bool, error)
	MaxOpenWait  time.Duration
	// Out receives stable files. The consumer owns it; it is never closed.
	Out    chan<- Stable
	Logger *slog.Logger
}

// Settler tracks candidate files on one timer heap (no goroutine per file).
// Changed, Seen and Removed may be called from any goroutine.
type Settler struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	openErrLogged bool // OpenForWrite failed once: said, not repeated (Run's goroutine only)

	mu      sync.Mutex
	entries map[string]*entry
	queue   entryHeap
}

type entry struct {
	rel        string
	last       fileid.ID
	haveLast   bool      // last is a stat taken after lastChange
	lastChange time.Time // last observed change
	next       time.Time // next check
	gen        uint64    // bumped by every observation
	idx        int       // heap index; -1 while being checked
	active     bool      // changing lately: poll instead of waiting a window
	waiting    bool      // stable but its marker is missing
	openSince  time.Time // quiet but still open for writing since (zero: not seen open)
}

// New checks cfg.
func New(cfg Config) (*Settler, error) {
	if cfg.Out == nil {
		return nil, fmt.Errorf("settle %s: Out channel is nil", cfg.Root)
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil || cfg.Root == "" {
		return nil, fmt.Errorf("settle: bad root %q", cfg.Root)
	}
	cfg.Root = root
	if cfg.Window < 0 {
		return nil, fmt.Errorf("settle %s: negative window %v", root, cfg.Window)
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Poll <= 0 {
		cfg.Poll = min(cfg.Window/4, maxPoll)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Millisecond
	}
	if cfg.MarkerPoll <= 0 {
		cfg.MarkerPoll = min(defaultMarkerPoll, cfg.Window)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxOpenWait <= 0 {
		cfg.MaxOpenWait = DefaultMaxOpenWait
	}
	return &Settler{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1),
		entries: make(map[string]*entry)}, nil
}

// Changed says an event saw rel change now: its window starts again.
func (s *Settler) Changed(rel string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.get(rel)
	e.gen++
	e.lastChange, e.haveLast, e.active, e.waiting = now, false, true, false
	s.schedule(e, now.Add(s.cfg.Poll))
}

// Seen reports a stat of rel from a scan. An untracked file is tracked
// from now; a tracked one restarts its window only if st differs.
func (s *Settler) Seen(rel string, st fileid.ID) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[rel]
	if ok && e.haveLast && e.last.Same(st) {
		return
	}
	if !ok {
		e = s.get(rel)
	}
	e.gen++
	e.last, e.haveLast, e.lastChange, e.waiting = st, true, now, false
	// A file modified lately may still be written: poll it. An old one
	// (a catch-up scan) needs one more look after the window.
	e.active = now.Sub(st.ModTime) < s.cfg.Window
	if e.active {
		s.schedule(e, now.Add(s.cfg.Poll))
	} else {
		s.schedule(e, now.Add(s.cfg.Window))
	}
}

// Removed forgets rel, and everything under it when dir is true.
func (s *Settler) Removed(rel string, dir bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop(rel)
	if !dir {
		return
	}
	prefix := rel + "/"
	for r := range s.entries {
		if strings.HasPrefix(r, prefix) {
			s.drop(r)
		}
	}
}

// Len is the number of files being tracked.
func (s *Settler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

func (s *Settler) get(rel string) *entry {
	e, ok := s.entries[rel]
	if !ok {
		e = &entry{rel: rel, idx: -1}
		s.entries[rel] = e
	}
	return e
}

func (s *Settler) drop(rel string) {
	e, ok := s.entries[rel]
	if !ok {
		return
	}
	if e.idx >= 0 {
		heap.Remove(&s.queue, e.idx)
	}
	e.gen++ // an in-flight check discards its result
	delete(s.entries, rel)
}

// schedule sets e's next check; an entry being checked is rescheduled by
// its check. Caller holds mu.
func (s *Settler) schedule(e *entry, at time.Time) {
	e.next = at
	switch {
	case e.idx >= 0:
		heap.Fix(&s.queue, e.idx)
	case !e.inFlight():
		heap.Push(&s.queue, e)
	default:
		return
	}
	if s.queue[0] == e {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (e *entry) inFlight() bool { return e.idx == -2 }

// Run checks due files until ctx is cancelled, then returns nil.
func (s *Settler) Run(ctx context.Context) error {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		if err := s.runDue(ctx); err != nil {
			return nil
		}
		t.Reset(s.untilNext())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
	}
}

func (s *Settler) untilNext() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return time.Hour
	}
	return max(time.Until(s.queue[0].next), 0)
}

// check is one due entry taken off the heap.
type check struct {
	e   *entry
	gen uint64
	st  fileid.ID
	err error
}

// runDue checks every due entry, a batch at a time.
func (s *Settler) runDue(ctx context.Context) error {
	for {
		batch := s.takeDue(time.Now())
		if len(batch) == 0 {
			return nil
		}
		for i := range batch {
			batch[i].st, batch[i].err = fileid.Lstat(s.path(batch[i].e.rel))
		}
		for _, c := range batch {
			if err := s.apply(ctx, c); err != nil {
				return err
			}
		}
	}
}

func (s *Settler) takeDue(now time.Time) []check {
	s.mu.Lock()
	defer s.mu.Unlock()
	var batch []check
	for len(s.queue) > 0 && !s.queue[0].next.After(now) && len(batch) < batchSize {
		e := heap.Pop(&s.queue).(*entry)
		e.idx = -2
		batch = append(batch, check{e: e, gen: e.gen})
	}
	return batch
}

func (s *Settler) path(rel string) string {
	return filepath.Join(s.cfg.Root, filepath.FromSlash(rel))
}

// apply acts on one stat result: drop, restart, wait, or emit.
func (s *Settler) apply(ctx context.Context, c check) error {
	stable, ok := s.judge(c)
	if !ok {
		return nil
	}
	path := s.path(c.e.rel)
	if s.heldOpen(c, path) {
		return nil
	}
	if s.cfg.Ready != nil && !s.cfg.Ready(path) {
		s.mu.Lock()
		if s.current(c) {
			c.e.waiting = true
			s.reschedule(c.e, time.Now().Add(s.cfg.MarkerPoll))
		}
		s.mu.Unlock()
		return nil
	}
	s.mu.Lock()
	if !s.current(c) {
		s.mu.Unlock()
		return nil
	}
	c.e.idx = -1
	delete(s.entries, c.e.rel)
	s.mu.Unlock()
	select {
	case s.cfg.Out <- stable:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// heldOpen reports whether the quiet file of c is still open for writing
// and waits for it (rescheduled), up to MaxOpenWait.
func (s *Settler) heldOpen(c check, path string) bool {
	if s.cfg.OpenForWrite == nil {
		return false
	}
	open, err := s.cfg.OpenForWrite(path)
	if err != nil {
		if !s.openErrLogged {
			s.openErrLogged = true
			s.log.Warn("settle: cannot tell whether files are still open for writing; judging them by their quiet window alone",
				"root", s.cfg.Root, "err", err)
		}
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := c.e
	if !open || !s.current(c) {
		return false
	}
	now := time.Now()
	if e.openSince.IsZero() {
		e.openSince = now
		s.log.Info("settle: file quiet but still open for writing; waiting for its writer to close it",
			"root", s.cfg.Root, "rel", e.rel, "max_open_wait", s.cfg.MaxOpenWait)
	}
	if now.Sub(e.openSince) >= s.cfg.MaxOpenWait {
		s.log.Warn("settle: file still open for writing after max_open_wait; taken as it is",
			"root", s.cfg.Root, "rel", e.rel, "open_for", now.Sub(e.openSince).Round(time.Second))
		return false
	}
	s.reschedule(e, now.Add(s.cfg.MarkerPoll))
	return true
}

// current reports whether c's entry is unchanged since it was taken.
func (s *Settler) current(c check) bool {
	e, ok := s.entries[c.e.rel]
	if ok && e == c.e && e.gen == c.gen {
		return true
	}
	if ok && e == c.e {
		s.reschedule(e, e.nextAfterObservation(s.cfg.Poll))
	}
	return false
}

func (e *entry) nextAfterObservation(poll time.Duration) time.Time {
	if e.next.IsZero() {
		return time.Now().Add(poll)
	}
	return e.next
}

// reschedule puts an in-flight entry back on the heap.
func (s *Settler) reschedule(e *entry, at time.Time) {
	if e.inFlight() {
		e.idx = -1
	}
	s.schedule(e, at)
}

// judge decides on a stat result; ok is true when the file looks stable
// (the marker is still to be checked).
func (s *Settler) judge(c check) (Stable, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := c.e
	if !s.current(c) {
		return Stable{}, false
	}
	now := time.Now()
	if c.err != nil {
		if errors.Is(c.err, fs.ErrNotExist) || !errors.Is(c.err, fs.ErrPermission) {
			s.log.Debug("settle: file vanished or is no longer a regular file; dropped",
				"root", s.cfg.Root, "rel", e.rel, "err", c.err)
			e.idx = -1
			delete(s.entries, e.rel)
			return Stable{}, false
		}
		s.log.Warn("settle: cannot stat file; retrying", "root", s.cfg.Root, "rel", e.rel, "err", c.err)
		s.reschedule(e, now.Add(s.cfg.Window))
		return Stable{}, false
	}
	firstLook := !e.haveLast
	switch {
	case firstLook:
		// First look after an event: the event time is the change time,
		// but stability needs a second look.
		e.last, e.haveLast = c.st, true
	case !e.last.Same(c.st):
		e.last, e.lastChange, e.active, e.waiting = c.st, now, true, false
	}
	due := e.lastChange.Add(s.cfg.Window)
	if now.Before(due) || firstLook {
		next := due
		switch {
		case !now.Before(due): // a late first look: look once more
			next = now.Add(s.cfg.Poll)
		case e.active:
			next = minTime(due, now.Add(s.cfg.Poll))
		}
		s.reschedule(e, next)
		return Stable{}, false
	}
	return Stable{Root: s.cfg.Root, Rel: e.rel, Path: s.path(e.rel), ID: c.st,
		Empty: c.st.Size == 0}, true
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// entryHeap orders entries by next check.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.idx = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.idx = -1
	return e
}
