package state

import (
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// groupCommit runs concurrent writes together: the first writer to arrive
// commits every write waiting at that moment in one transaction (one
// fsync), and hands over to a writer that arrived meanwhile. A lone write
// is committed at once, never held for a timer; under load a commit
// carries every write that queued during the one before, so the number of
// fsyncs follows the disk, not the number of writes.
//
// A shared write (do with shared) is the exception: it does not start a
// commit of its own while only shared writes wait; it rides with the next
// write that does, or is committed after wait at the latest, and returns
// once durable like any other. It is meant for writers that can afford
// those milliseconds (a job's records around CommitUpload): with many
// jobs in flight, the other jobs' records come within milliseconds and
// one commit carries them all.
//
// A write that fails is taken out and run alone, so its error reaches only
// its caller; the others are committed again without it. A write may
// therefore run more than once (like bbolt's Batch).
type groupCommit struct {
	wait time.Duration // longest a shared write waits for company

	mu      sync.Mutex
	pending []*writeCall
	running bool        // a leader is committing (or was asked to)
	timer   *time.Timer // armed while only shared writes wait
	armed   uint64      // counts armings: a timer that fired late sees it moved on
}

type writeCall struct {
	fn     func(*bolt.Tx) error
	shared bool
	done   chan error    // the write's outcome
	lead   chan struct{} // this caller is to commit what is pending
}

// do runs fn in a read-write transaction of db shared with other writes.
func (g *groupCommit) do(db *bolt.DB, fn func(*bolt.Tx) error, shared bool) error {
	c := &writeCall{fn: fn, shared: shared, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	if g.running || (shared && g.onlyShared()) {
		if !g.running {
			g.armLocked()
		}
		g.mu.Unlock()
		select {
		case err := <-c.done:
			return err
		case <-c.lead:
		}
		g.mu.Lock()
	}
	g.running = true
	g.stopLocked()
	calls := g.pending
	g.pending = nil
	g.mu.Unlock()

	commitCalls(db, calls)

	g.mu.Lock()
	g.handOverLocked()
	g.mu.Unlock()
	return <-c.done
}

// handOverLocked passes the lead to a waiting write after a commit: at
// once if one of them wants its own commit, after wait if all are shared.
func (g *groupCommit) handOverLocked() {
	switch {
	case len(g.pending) == 0:
		g.running = false
	case g.onlyShared():
		g.running = false
		g.armLocked()
	default:
		g.pending[0].lead <- struct{}{}
	}
}

// onlyShared reports whether every pending write is shared.
func (g *groupCommit) onlyShared() bool {
	for _, c := range g.pending {
		if !c.shared {
			return false
		}
	}
	return true
}

// armLocked starts the timer that commits the waiting shared writes when
// no other write came to carry them.
func (g *groupCommit) armLocked() {
	if g.timer != nil {
		return
	}
	g.armed++
	armed := g.armed
	g.timer = time.AfterFunc(g.wait, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.armed != armed {
			return // stopped after it fired; another timer may be armed
		}
		g.timer = nil
		if g.running || len(g.pending) == 0 {
			return
		}
		g.running = true
		g.pending[0].lead <- struct{}{}
	})
}

func (g *groupCommit) stopLocked() {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
		g.armed++
	}
}

// commitCalls commits calls in one transaction and answers each.
func commitCalls(db *bolt.DB, calls []*writeCall) {
	for len(calls) > 0 {
		failed := -1
		err := db.Update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := safely(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range calls {
				c.done <- err
			}
			return
		}
		c := calls[failed]
		calls = append(calls[:failed:failed], calls[failed+1:]...)
		c.done <- db.Update(func(tx *bolt.Tx) error { return safely(c.fn, tx) })
	}
}

// errPanicked wraps a write that panicked.
var errPanicked = errors.New("state write panicked")

func safely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errPanicked, p)
		}
	}()
	return fn(tx)
}
