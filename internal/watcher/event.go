// Package watcher reports which files under one watch root may have changed,
// from fsnotify events (hints) and full scans (the truth).
package watcher

import (
	"fmt"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
)

// Kind says what an Event reports.
type Kind int

const (
	// Changed is a hint: the regular file at Rel may have changed. Stat is
	// its lstat at the moment the watcher looked (it may be stale already).
	Changed Kind = iota + 1
	// Removed is a hint: Rel is gone (or is no longer a regular file or
	// folder). Dir is true when it was a watched folder: everything under
	// Rel+"/" is gone too. Never sent for the contents of a missing root.
	Removed
	// Scanned is sent by a full scan for every regular file, with its Stat
	// and the scan's ScanID.
	Scanned
	// ScanDone ends a full scan that read the whole tree from a present
	// root; Scan holds its summary. A scan that loses its root ends without
	// ScanDone, so a consumer never reconciles against an empty tree.
	ScanDone
	// Refused reports a path that is skipped, with Reason: symlinks (never
	// followed), FIFOs, sockets, devices, unreadable folders.
	Refused
	// State reports the root's presence and the watch mode (at start,
	// when the root goes missing or comes back, when the mode changes).
	State
)

func (k Kind) String() string {
	switch k {
	case Changed:
		return "changed"
	case Removed:
		return "removed"
	case Scanned:
		return "scanned"
	case ScanDone:
		return "scan-done"
	case Refused:
		return "refused"
	case State:
		return "state"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// ScanSummary describes a finished full scan.
type ScanSummary struct {
	ID       uint64        // matches Event.ScanID of its Scanned events
	Reason   string        // "startup", "reload", "periodic", "poll", "overflow", "watcher-error", "root-back", "requested"
	Files    int           // Scanned events sent
	Dirs     int           // folders read (root included)
	Refused  int           // Refused events sent
	Ignored  int           // entries skipped by the ignore func
	Duration time.Duration // wall time of the scan
	// Unreadable lists folders (rel, "" = root never, it aborts) that could
	// not be read: files under them were not seen, so a consumer must not
	// treat them as deleted. Capped at 100 entries; UnreadableCount is exact.
	Unreadable      []string
	UnreadableCount int
}

// RootStatus is the presence of the watch root.
type RootStatus string

const (
	RootPresent RootStatus = "present"
	RootMissing RootStatus = "missing"
)

// Event is one report from a Watcher. Fields beyond Kind, Root and Rel are
// set as each Kind documents.
type Event struct {
	Kind   Kind
	Root   string    // the watch root, as configured (absolute)
	Rel    string    // slash path relative to Root ("" for the root itself)
	Path   string    // absolute OS path (Root joined with Rel)
	Dir    bool      // Removed: it was a folder
	Stat   fileid.ID // Changed, Scanned: from lstat
	ScanID uint64    // Scanned
	Scan   *ScanSummary
	Reason string // Refused: why; State: why the root or mode is what it is

	// State events.
	RootStatus RootStatus
	Mode       Mode   // effective mode: notify or poll
	ModeReason string // why that mode was chosen
}
