package cluster

import (
	"strings"
	"testing"
)

// FuzzRecords feeds arbitrary etcd values and keys to the decoders: a
// corrupt record is an error naming its key, never a panic.
func FuzzRecords(f *testing.F) {
	f.Add([]byte(`{"file_id":"f","node":"a","at":"2026-12-02T00:00:00Z","post_done":true}`), "/vodwatchd/claims/j1", "a@1f")
	f.Add([]byte(`{"holder":"a@1","at":"x"}`), "/p/done/", "@")
	f.Add([]byte("\xff"), "", "")
	f.Fuzz(func(t *testing.T, value []byte, key, holder string) {
		if _, err := decodeJSON[DoneRecord]("done", key, value); err != nil && !strings.Contains(err.Error(), key) {
			t.Fatalf("error %q does not name key %q", err, key)
		}
		_, _ = decodeJSON[StartRecord]("started", key, value)
		_, _ = decodeJSON[NodeInfo]("node", key, value)
		if n := holderNode(holder); strings.Contains(n, "@") {
			t.Fatalf("holder node %q of %q keeps the lease", n, holder)
		}
		k := newKeys(key)
		if !strings.HasPrefix(k.prefix, "/") || !strings.HasSuffix(k.prefix, "/") {
			t.Fatalf("prefix %q from %q is not /.../", k.prefix, key)
		}
		if got := k.jobOf(claimsDir, k.claim(holder)); got != holder {
			t.Fatalf("job %q round-trips to %q", holder, got)
		}
	})
}
