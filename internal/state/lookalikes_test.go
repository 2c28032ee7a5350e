package state

import (
	"context"
	"slices"
	"testing"
)

// TestLookalikes: the jobs of a root with a file's size and mtime, found
// whatever their path and inode, including jobs created after the root
// was first read and records that adopted a new inode since.
func TestLookalikes(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s := openTest(t, path, Options{})
	a := keyAt("/srv/drop", "a.mp4", 1)
	old := doneWith(t, s, a, contentA)
	moved := a
	moved.Rel, moved.Ino = "b/a.mp4", 99
	other := keyAt("/srv/drop", "c.mp4", 2)
	elsewhere := a
	elsewhere.Root = "/srv/other"
	mustEnqueue(t, s, other, Attrs{})
	mustEnqueue(t, s, elsewhere, Attrs{})

	lookup := func(k Key) []string {
		t.Helper()
		found, err := s.Lookalikes(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range found {
			ids = append(ids, f.ID)
		}
		slices.Sort(ids)
		return ids
	}
	if got := lookup(moved); !slices.Equal(got, []string{old.ID}) {
		t.Fatalf("first lookup %v, want [%s]", got, old.ID)
	}
	// Created after the root was read: found without reading it again.
	later := mustEnqueue(t, s, moved, Attrs{})
	want := []string{old.ID, later.ID}
	slices.Sort(want)
	if got := lookup(a); !slices.Equal(got, want) {
		t.Fatalf("after an enqueue %v, want %v", got, want)
	}
	// A record adopting a new device and inode keeps its size and mtime.
	remounted := a
	remounted.Dev, remounted.Ino = 7, 123
	if err := s.Adopt(ctx, Adoption{ID: old.ID, Key: remounted}); err != nil {
		t.Fatal(err)
	}
	if got := lookup(remounted); !slices.Equal(got, want) {
		t.Fatalf("after an adoption %v, want %v", got, want)
	}
	found, _ := s.Lookalikes(ctx, a)
	if i := slices.IndexFunc(found, func(f Lookalike) bool { return f.ID == old.ID }); i < 0 || found[i].Dev != 7 || found[i].Ino != 123 {
		t.Fatalf("after an adoption %+v, want %s with device 7 and inode 123", found, old.ID)
	}
	// Other size or mtime, other root: none of these.
	resized := a
	resized.Size++
	if got := lookup(resized); len(got) != 0 {
		t.Fatalf("other size: %v", got)
	}
	for st := range s.lookalikes.jobs {
		if st.root == elsewhere.Root {
			t.Fatalf("%s is held in memory before its first lookup", elsewhere.Root)
		}
	}
	if got := lookup(elsewhere); len(got) != 1 {
		t.Fatalf("other root: %v, want its own job only", got)
	}
	// Opened again, the store reads the same from the file.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, Options{})
	if got := lookup(a); !slices.Equal(got, want) {
		t.Fatalf("after reopening %v, want %v", got, want)
	}
}
