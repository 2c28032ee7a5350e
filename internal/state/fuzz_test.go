package state

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzOpen feeds arbitrary bytes to Open as a state file: it must answer
// with a store or an error, never panic, and never change a file it
// refuses.
func FuzzOpen(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.db")
	s, err := Open(path, Options{})
	if err != nil {
		f.Fatal(err)
	}
	bulkEnqueue(f, s, 0, 50, Attrs{}, nil)
	_ = s.Close()
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:4096])
	f.Add(good[4096:])
	f.Add([]byte("state: /var/lib/vodwatchd/state.db\n"))
	f.Add(bytes.Repeat([]byte{0xed, 0xda, 0x0c, 0xed}, 2048))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return // an empty file is refused before bbolt (tested elsewhere)
		}
		p := filepath.Join(t.TempDir(), "state.db")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p, Options{Timeout: time.Second, Verify: true})
		if err != nil {
			if after, _ := os.ReadFile(p); !bytes.Equal(after, data) {
				t.Fatalf("Open refused the file (%v) but changed it", err)
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrSchema) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
			return
		}
		defer s.Close()
		// A file accepted after verification must be readable throughout.
		ctx := context.Background()
		if _, err := s.List(ctx, Filter{}); err != nil {
			t.Fatalf("verified file cannot be listed: %v", err)
		}
		if _, err := s.Due(ctx, time.Now(), 0); err != nil {
			t.Fatalf("verified file: Due: %v", err)
		}
	})
}

func TestKeyIDIsStable(t *testing.T) {
	// Ids are stored and shown to users: they must never change. Since
	// schema 3 they do not depend on the device, inode or ctime (another
	// node, or the same file after a remount, computes the same id); jobs
	// recorded before keep their schema-2 id.
	k := Key{Root: "/srv/drop", Rel: "news/a.mp4", Size: 1, MtimeNs: 2, Dev: 3, Ino: 4}
	if got, want := k.ID(), "f5ad1ea4fee19483"; got != want {
		t.Fatalf("Key.ID() = %s, want %s", got, want)
	}
	if got, want := k.legacyID(), "2dc22d6419753eb9"; got != want {
		t.Fatalf("Key.legacyID() = %s, want %s (the schema-2 id)", got, want)
	}
	moved := k
	moved.Dev, moved.Ino, moved.CtimeNs = 9, 99, 123
	if moved.ID() != k.ID() {
		t.Fatal("the id depends on the device, inode or ctime")
	}
	other := k
	other.Variant = "crc64:0123456789abcdef"
	if other.ID() == k.ID() {
		t.Fatal("a variant of one path, size and mtime has the same id")
	}
}

// TestOpenMutatedFiles is the regression test for what fuzzing found:
// bbolt panicked on a damaged freelist page inside bolt.Open and faulted
// reading keys of damaged leaf pages. Deterministic mutations (byte flips,
// cuts, inserted zeros) of a real state file must each give ErrCorrupt or
// a store that can be read throughout.
func TestOpenMutatedFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed.db")
	s := openTest(t, path, Options{})
	bulkEnqueue(t, s, 0, 50, Attrs{}, nil)
	_ = s.Close()
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for i := 0; i < 400; i++ {
		d := bytes.Clone(good)
		switch r.IntN(4) {
		case 0:
			d = d[:r.IntN(len(d))+1]
		case 1:
			at := r.IntN(len(d))
			d = append(d[:at:at], d[min(len(d), at+r.IntN(5000)):]...)
		case 2:
			at := r.IntN(len(d))
			d = append(d[:at:at], append(make([]byte, r.IntN(9000)), d[at:]...)...)
		}
		for k := 0; k < r.IntN(8); k++ {
			d[r.IntN(len(d))] = byte(r.IntN(256))
		}
		p := filepath.Join(t.TempDir(), "state.db")
		if err := os.WriteFile(p, d, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p, Options{Timeout: time.Second})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrSchema) {
				t.Fatalf("mutation %d: unexpected error %v", i, err)
			}
			continue
		}
		accepted++
		if _, err := s.List(context.Background(), Filter{}); err != nil {
			t.Logf("mutation %d: accepted, list error %v", i, err)
		}
		_ = s.Close()
	}
	t.Logf("%d of 400 mutated files were still readable", accepted)
}
