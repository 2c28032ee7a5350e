package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestGroupCommit: concurrent writes share transactions, every write is
// answered with its own outcome, a failing or panicking write stops only
// itself, and fewer transactions than writes are committed.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, statePath(t), Options{})
	const n = 200
	bucket := []byte("test")
	if err := s.db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}
	var txs sync.Map // transaction ids the writes ran in
	refused := errors.New("refused")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.write(ctx, "test", func(tx *bolt.Tx) error {
				txs.Store(tx.ID(), true)
				switch i % 50 {
				case 7:
					return refused
				case 9:
					panic("a bug")
				}
				return tx.Bucket(bucket).Put(fmt.Appendf(nil, "k%03d", i), []byte("v"))
			})
		}()
	}
	wg.Wait()
	stored := 0
	if err := s.db.View(func(tx *bolt.Tx) error {
		for i := range n {
			got := tx.Bucket(bucket).Get(fmt.Appendf(nil, "k%03d", i))
			switch {
			case i%50 == 7 || i%50 == 9:
				if got != nil {
					t.Errorf("write %d failed but was stored", i)
				}
			case got == nil:
				t.Errorf("write %d succeeded (%v) but is missing", i, errs[i])
			default:
				stored++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		switch i % 50 {
		case 7:
			if !errors.Is(err, refused) {
				t.Errorf("write %d: %v, want its own error", i, err)
			}
		case 9:
			if !errors.Is(err, errPanicked) {
				t.Errorf("write %d: %v, want the panic as an error", i, err)
			}
		default:
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}
	}
	if stored != n-8 {
		t.Fatalf("%d writes stored, want %d", stored, n-8)
	}
	commits := 0
	txs.Range(func(any, any) bool { commits++; return true })
	if commits >= n {
		t.Errorf("%d transactions for %d concurrent writes: nothing was grouped", commits, n)
	} else {
		t.Logf("%d writes in %d transactions", n, commits)
	}
}
