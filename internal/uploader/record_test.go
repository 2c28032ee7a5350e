package uploader

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// gatedProgress blocks its first Save until released and records, for
// each Save, how many parts the checkpoint held.
type gatedProgress struct {
	first   chan struct{} // closed when the first Save has started
	release chan struct{}
	mu      sync.Mutex
	saves   []int
	fail    error
}

func (g *gatedProgress) Save(_ context.Context, cp *Checkpoint) error {
	g.mu.Lock()
	n := len(g.saves)
	g.saves = append(g.saves, len(cp.Objects[0].Parts))
	g.mu.Unlock()
	if n == 0 {
		close(g.first)
		<-g.release
	}
	return g.fail
}

func TestChangesDuringASaveAreSavedTogether(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail error
	}{{"saves succeed", nil}, {"saves fail", errors.New("disk full")}} {
		t.Run(tc.name, func(t *testing.T) {
			g := &gatedProgress{first: make(chan struct{}), release: make(chan struct{}), fail: tc.fail}
			o := &Object{}
			r := &run{p: g, cp: &Checkpoint{Objects: []*Object{o}}, log: slog.New(slog.DiscardHandler)}
			add := func(n int) error {
				return r.locked(context.Background(), func() { o.Parts = append(o.Parts, Part{Number: n}) })
			}
			errs := make(chan error, 11)
			var wg sync.WaitGroup // all 11 senders, so errs is closed after the last
			wg.Go(func() { errs <- add(1) })
			<-g.first // the first Save is under way: the next ten wait for it
			returned := make(chan int, 10)
			for n := 2; n <= 11; n++ {
				wg.Go(func() {
					err := add(n)
					returned <- n
					errs <- err
				})
			}
			// Wait until all ten wait in the open batch.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				r.bmu.Lock()
				queued := 0
				if r.open != nil {
					queued = len(r.open.changes)
				}
				r.bmu.Unlock()
				if queued == 10 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of 10 changes queued behind the Save", queued)
				}
			}
			select {
			case n := <-returned:
				t.Fatalf("change %d returned before any Save that holds it", n)
			default:
			}
			close(g.release)
			wg.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, tc.fail) {
					t.Errorf("locked returned %v, want the Save's error %v", err, tc.fail)
				}
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.saves[0] != 1 || g.saves[len(g.saves)-1] != 11 {
				t.Fatalf("saves saw %v parts; want 1 first and all 11 last", g.saves)
			}
			if len(g.saves) != 2 {
				t.Errorf("%d saves for 11 changes, 10 of them made during the first Save: want 2", len(g.saves))
			}
		})
	}
}
