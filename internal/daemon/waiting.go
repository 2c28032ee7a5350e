package daemon

import (
	"sort"
	"sync"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/settle"
)

// Why a file the daemon has seen is not a job yet.
const (
	WaitSettling       = "settling"              // size and mtime must stay unchanged for the settle window
	WaitWriting        = "being written"         // it changed within the last second
	WaitOpenWriter     = "open writer"           // quiet, but a process still holds it open for writing (local filesystems)
	WaitCover          = "cover"                 // its rule pairs covers, and one may still arrive (cover_wait)
	WaitMarker         = "ready marker"          // its rule's ready_marker does not exist yet
	WaitQuietFolder    = "quiet folder"          // a .ts/.m4s-like file whose folder still changes (a bundle may claim it)
	WaitBundle         = "bundle files"          // a manifest that references missing files
	WaitBundleSettling = "bundle files settling" // every file is there; the newest is still settling
)

// WaitReasons lists every reason, for metrics that exist from the start.
var WaitReasons = []string{WaitSettling, WaitWriting, WaitOpenWriter, WaitCover, WaitMarker, WaitQuietFolder, WaitBundle, WaitBundleSettling}

// Waiting is a file the daemon has seen but not made a job of yet.
type Waiting struct {
	Root     string
	Rel      string
	Reason   string    // one of the Wait* constants
	Detail   string    // e.g. the marker's name
	Since    time.Time // when it started waiting for this
	Missing  []string  // bundles: the first missing files (relative to the root)
	NMissing int       // bundles: how many are missing
}

// maxWaitingShown bounds the files Waiting lists per watch and reason
// source; the counts are always complete.
const maxWaitingShown = 200

// maxMissingShown bounds the missing files named per bundle.
const maxMissingShown = 5

// longBundleWait is how long a bundle waits before its missing files are
// logged at info level (once): half its bundle_timeout, at most 5 minutes.
func longBundleWait(timeout time.Duration) time.Duration {
	return min(timeout/2, 5*time.Minute)
}

// waitingBoard is what every watch's intake publishes about its waiting
// files: the settler (safe to read at any time) and a snapshot of the
// assembler's candidates (taken by the intake goroutine on every tick).
type waitingBoard struct {
	mu      sync.Mutex
	watches map[string]*watchWaiting
}

type watchWaiting struct {
	settler *settle.Settler
	pending []Waiting
	counts  map[string]int // candidates by reason (settler counts are added when read)
}

func (b *waitingBoard) register(root string, s *settle.Settler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.watches == nil {
		b.watches = map[string]*watchWaiting{}
	}
	b.watches[root] = &watchWaiting{settler: s}
}

func (b *waitingBoard) unregister(root string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.watches, root)
}

// publish replaces root's candidate snapshot.
func (b *waitingBoard) publish(root string, pending []Waiting, counts map[string]int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w := b.watches[root]; w != nil {
		w.pending, w.counts = pending, counts
	}
}

func (b *waitingBoard) copyWatches() map[string]watchWaiting {
	b.mu.Lock()
	defer b.mu.Unlock()
	watches := make(map[string]watchWaiting, len(b.watches))
	for root, w := range b.watches {
		watches[root] = *w
	}
	return watches
}

// counts counts the waiting files of every watch by reason (every reason
// present, 0 when none).
func (b *waitingBoard) counts() map[string]int {
	counts := make(map[string]int, len(WaitReasons))
	for _, r := range WaitReasons {
		counts[r] = 0
	}
	for _, w := range b.copyWatches() {
		for r, n := range w.counts {
			counts[r] += n
		}
		if w.settler != nil {
			settling, writing, open := w.settler.Counts()
			counts[WaitSettling] += settling
			counts[WaitWriting] += writing
			counts[WaitOpenWriter] += open
		}
	}
	return counts
}

// snapshot lists the waiting files of every watch, longest waiting first,
// and counts them by reason.
func (b *waitingBoard) snapshot() ([]Waiting, map[string]int) {
	var out []Waiting
	for root, w := range b.copyWatches() {
		out = append(out, w.pending...)
		if w.settler == nil {
			continue
		}
		files, _ := w.settler.Snapshot(maxWaitingShown)
		for _, f := range files {
			reason := WaitSettling
			switch {
			case f.Writing:
				reason = WaitWriting
			case f.OpenWriter:
				reason = WaitOpenWriter
			}
			out = append(out, Waiting{Root: root, Rel: f.Rel, Reason: reason, Since: f.LastChange})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Since.Equal(out[j].Since) {
			return out[i].Since.Before(out[j].Since)
		}
		return out[i].Root+"/"+out[i].Rel < out[j].Root+"/"+out[j].Rel
	})
	return out, b.counts()
}

// Waiting lists the files the daemon has seen but not yet made jobs of,
// longest waiting first (at most a few hundred per watch), and counts every
// waiting file by reason.
func (d *Daemon) Waiting() ([]Waiting, map[string]int) { return d.waiting.snapshot() }

// publishWaiting snapshots the assembler's candidates for Waiting, and
// updates the waiting gauges.
func (in *intake) publishWaiting() {
	counts := map[string]int{}
	var list []Waiting
	for _, c := range in.asm.pending {
		if c.waiting == "" {
			continue
		}
		counts[c.waiting]++
		if len(list) < maxWaitingShown {
			list = append(list, Waiting{Root: in.w.root, Rel: c.rel, Reason: c.waiting, Detail: c.detail,
				Since: c.since, Missing: c.missing, NMissing: c.nMissing})
		}
	}
	in.d.waiting.publish(in.w.root, list, counts)
	in.d.events.waiting(in.d.waiting.counts())
}
