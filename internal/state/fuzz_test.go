package state

import (
	"bytes"
	"context"
	"errors"
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
		s, err := Open(p, Options{Timeout: time.Second})
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
		// A file accepted as valid must be usable and consistent.
		if err := s.Check(context.Background()); err != nil {
			t.Logf("accepted file fails the index check: %v", err)
		}
	})
}

func TestKeyIDIsStable(t *testing.T) {
	// Ids are stored and shown to users: they must never change.
	k := Key{Root: "/srv/drop", Rel: "news/a.mp4", Size: 1, MtimeNs: 2, Dev: 3, Ino: 4}
	if got, want := k.ID(), "2dc22d6419753eb9"; got != want {
		t.Fatalf("Key.ID() = %s, want %s", got, want)
	}
}
