package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
)

func TestCompactor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	past := time.Now().Add(-48 * time.Hour)
	old, err := state.Open(path, state.Options{Now: func() time.Time { return past }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := state.Key{Root: "/srv/drop", Rel: "a.mp4", Size: 1, MtimeNs: 1, Dev: 1, Ino: 1}
	j, _, err := old.Enqueue(ctx, key, state.Attrs{Rule: "all", MediaName: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Update(ctx, j.ID, func(n *state.Job) error {
		n.Stage, n.Result, n.Post.State = state.StageDone, state.Result{FileID: "528589"}, state.PostDone
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	old.Close()
	store, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tests := []struct {
		name      string
		after     time.Duration
		compacted bool
	}{
		{"off", 0, false},
		{"younger than the limit", 72 * time.Hour, false},
		{"older than the limit", 24 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &compactor{store: store, log: slog.New(slog.DiscardHandler)}
			c.after.Store(int64(tt.after))
			c.once(ctx)
			got, err := store.Get(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Compacted != tt.compacted {
				t.Fatalf("compacted = %v, want %v", got.Compacted, tt.compacted)
			}
			if got.Result.FileID != "528589" || got.Key != key {
				t.Fatalf("compaction lost the identity or result: %+v", got)
			}
			if _, found, err := store.Lookup(ctx, key); err != nil || !found {
				t.Fatal("the compacted file would be uploaded again")
			}
		})
	}
}
