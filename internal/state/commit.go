package state

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// groupCommit runs concurrent writes together: the first writer to arrive
// commits every write waiting at that moment in one transaction (one
// fsync), and hands over to a writer that arrived meanwhile. A lone write
// is committed at once, never held for a timer; under load a commit
// carries every write that queued during the one before, so the number of
// fsyncs follows the disk, not the number of writes.
//
// A write that fails is taken out and run alone, so its error reaches only
// its caller; the others are committed again without it. A write may
// therefore run more than once (like bbolt's Batch).
type groupCommit struct {
	mu      sync.Mutex
	pending []*writeCall
	running bool // a leader is committing
}

type writeCall struct {
	fn   func(*bolt.Tx) error
	done chan error    // the write's outcome
	lead chan struct{} // this caller is to commit what is pending
}

// do runs fn in a read-write transaction of db shared with other writes.
func (g *groupCommit) do(db *bolt.DB, fn func(*bolt.Tx) error) error {
	c := &writeCall{fn: fn, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	if g.running {
		g.mu.Unlock()
		select {
		case err := <-c.done:
			return err
		case <-c.lead:
		}
		g.mu.Lock()
	}
	g.running = true
	calls := g.pending
	g.pending = nil
	g.mu.Unlock()

	commitCalls(db, calls)

	g.mu.Lock()
	if len(g.pending) > 0 {
		g.pending[0].lead <- struct{}{}
	} else {
		g.running = false
	}
	g.mu.Unlock()
	return <-c.done
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
