package settle

import (
	"sort"
	"time"
)

// Pending is a file the Settler is still watching, for status displays.
type Pending struct {
	Rel        string
	LastChange time.Time // last observed change (zero before the first)
	Writing    bool      // changed within the last second: being written
	Marker     bool      // stable, but the Ready condition does not hold yet
	OpenWriter bool      // quiet, but a process still holds it open for writing
}

// writingFor is how recent a change must be for a file to count as being
// written rather than settling.
const writingFor = time.Second

func (e *entry) writing(now time.Time) bool {
	return e.active && !e.waiting && now.Sub(e.lastChange) < writingFor
}

// openWriter reports whether the file has stayed quiet since it was found
// still open for writing (a writer that paused; see heldOpen).
func (e *entry) openWriter() bool {
	return !e.openSince.IsZero() && !e.lastChange.After(e.openSince)
}

// Counts counts the files not yet stable: quiet but held open by a writer,
// being written (changed within the last second), and the others.
func (s *Settler) Counts() (settling, writing, openWriter int) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		switch {
		case e.openWriter(): // known quiet since found open: not "being written"
			openWriter++
		case e.writing(now):
			writing++
		default:
			settling++
		}
	}
	return settling, writing, openWriter
}

// Snapshot returns up to limit of the files not yet stable, longest
// waiting first, and how many there are in all.
func (s *Settler) Snapshot(limit int) ([]Pending, int) {
	now := time.Now()
	s.mu.Lock()
	out := make([]Pending, 0, min(len(s.entries), limit))
	total := len(s.entries)
	for _, e := range s.entries {
		out = append(out, Pending{Rel: e.rel, LastChange: e.lastChange, Writing: !e.openWriter() && e.writing(now),
			Marker: e.waiting, OpenWriter: e.openWriter()})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastChange.Equal(out[j].LastChange) {
			return out[i].LastChange.Before(out[j].LastChange)
		}
		return out[i].Rel < out[j].Rel
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, total
}
