package uploader

import "context"

// batch is a group of checkpoint changes saved by one Progress.Save.
type batch struct {
	changes []func()
	lead    chan struct{} // receives once when a waiter must save the batch
	done    chan struct{} // closed after the save
	err     error
}

func newBatch() *batch {
	return &batch{lead: make(chan struct{}, 1), done: make(chan struct{})}
}

// locked applies change to the checkpoint and returns once a Save that
// includes it has returned (its error, if any). Changes that arrive while a
// Save runs are applied together after it and saved once (group commit):
// parts finishing at the same time cost one durable write, not one each,
// and none counts before it is recorded.
func (r *run) locked(ctx context.Context, change func()) error {
	r.bmu.Lock()
	if r.open == nil {
		r.open = newBatch()
	}
	b := r.open
	b.changes = append(b.changes, change)
	if r.saving {
		r.bmu.Unlock()
		select {
		case <-b.done:
			return b.err
		case <-b.lead: // the previous saver handed this batch over
		}
		r.bmu.Lock()
	}
	r.saving = true
	r.open = nil
	r.bmu.Unlock()

	r.mu.Lock()
	for _, f := range b.changes {
		f()
	}
	b.err = r.save(ctx)
	r.mu.Unlock()

	r.bmu.Lock()
	if next := r.open; next != nil {
		next.lead <- struct{}{} // one of its waiters saves it
	} else {
		r.saving = false
	}
	r.bmu.Unlock()
	close(b.done)
	return b.err
}
