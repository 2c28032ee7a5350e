package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

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

// TestSharedWrites: a shared write alone is committed after the wait, not
// before, and without any other write; a shared write waiting when
// another write comes is committed in that write's transaction; both are
// durable when do returns, and a failing shared write fails alone.
func TestSharedWrites(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, statePath(t), Options{})
	s.commits.wait = time.Second
	bucket := []byte("test")
	if err := s.db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}
	put := func(key string, tx *bolt.Tx, txid *int) error {
		*txid = tx.ID()
		return tx.Bucket(bucket).Put([]byte(key), []byte("v"))
	}
	stored := func(key string) bool {
		var ok bool
		_ = s.db.View(func(tx *bolt.Tx) error { ok = tx.Bucket(bucket).Get([]byte(key)) != nil; return nil })
		return ok
	}

	// Alone: committed after the wait.
	var lone int
	start := time.Now()
	if err := s.writeAs(ctx, "test", func(tx *bolt.Tx) error { return put("lone", tx, &lone) }, true); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 800*time.Millisecond {
		t.Errorf("a lone shared write was committed after %v, before its wait", waited)
	}
	if !stored("lone") {
		t.Fatal("lone shared write not stored when do returned")
	}

	// With company: carried by the next write's transaction, long before
	// its wait ends.
	var shared, eager int
	refused := errors.New("refused")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = s.writeAs(ctx, "test", func(tx *bolt.Tx) error { return put("shared", tx, &shared) }, true)
	}()
	go func() {
		defer wg.Done()
		errs[1] = s.writeAs(ctx, "test", func(tx *bolt.Tx) error { return refused }, true)
	}()
	time.Sleep(30 * time.Millisecond) // both wait
	start = time.Now()
	if err := s.write(ctx, "test", func(tx *bolt.Tx) error { return put("eager", tx, &eager) }); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if errs[0] != nil || !errors.Is(errs[1], refused) {
		t.Fatalf("shared writes: %v, %v; want nil and their own error", errs[0], errs[1])
	}
	if shared != eager || !stored("shared") || !stored("eager") {
		t.Fatalf("shared write in transaction %d, the next write in %d: want one", shared, eager)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("carried shared writes took %v: they waited out their timer", took)
	}
}
