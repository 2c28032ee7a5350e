package state

import (
	"context"
	"testing"
)

// TestKeys: every job of a root is listed with its key as enqueued,
// decoded from the identity index; other roots are not.
func TestKeys(t *testing.T) {
	s := openTest(t, statePath(t), Options{})
	want := map[string]Key{}
	for i := range 3 {
		k := testKey(i)
		k.Rel = []string{"a.mp4", "deep/b c.mp4", "x\x01y.mp4"}[i]
		want[mustEnqueue(t, s, k, Attrs{}).ID] = k
	}
	mustEnqueue(t, s, keyAt("/srv/drop2", "a.mp4", 9), Attrs{})
	got := map[string]Key{}
	if err := s.Keys(context.Background(), "/srv/drop", func(k Key, id string) bool { got[id] = k; return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d keys, want %d: %+v", len(got), len(want), got)
	}
	for id, k := range want {
		if got[id] != k {
			t.Errorf("job %s: key %+v, want %+v", id, got[id], k)
		}
	}
}
