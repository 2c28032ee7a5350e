package clustertest

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
)

// envInt reads a positive integer from the environment.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func slowParts(c *emulator.Config) {
	c.Latency = 2 * time.Millisecond
	c.Faults = emulator.FaultConfig{Latency: map[string]time.Duration{"UploadPart": 40 * time.Millisecond, "CommitUpload": 30 * time.Millisecond}}
}

// Three nodes on one folder, a mixed drop: every file once, bytes
// identical, the work spread over the nodes.
// VODWATCHD_CLUSTER_FILES=300 runs the full size.
func TestThreeNodesEveryFileOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level cluster test; runs without -short")
	}
	n := envInt("VODWATCHD_CLUSTER_FILES", 60)
	w := newWorld(t, 3*time.Second, nil)
	for _, name := range []string{"a", "b", "c"} {
		w.start(name)
	}
	w.add(w.mix(n)...)
	took := w.waitSettled(time.Duration(n)*time.Second + 30*time.Second)
	dups, lost := w.verify()
	by := w.uploadsBy()
	t.Logf("%d items by 3 nodes in %s: uploads per node %v; %d duplicates, %d lost", n, took.Round(time.Millisecond), by, dups, lost)
	total, busy := 0, 0
	for _, c := range by {
		total += c
		if c > 0 {
			busy++
		}
	}
	if total != n {
		t.Errorf("%d uploads for %d items", total, n)
	}
	if busy < 2 {
		t.Errorf("the work was not shared: uploads per node %v", by)
	}
}

// A node SIGKILLed in the middle of its uploads, repeatedly: its jobs are
// finished by the others within the lease TTL and a few seconds, nothing
// lost, nothing doubled. VODWATCHD_CLUSTER_KILLS sets the rounds.
func TestNodeKilledMidUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level cluster test; runs without -short")
	}
	kills := envInt("VODWATCHD_CLUSTER_KILLS", 2)
	ttl := 3 * time.Second
	w := newWorld(t, ttl, slowParts)
	for _, name := range []string{"a", "b", "c"} {
		w.start(name)
	}
	for round := range kills {
		w.add("multi", "multi", "small", "hls", "multi", "keep", "small", "multi")
		victim, jobs := w.busiest(20 * time.Second)
		w.nodes[victim].signal(t, syscall.SIGKILL)
		took := w.waitDoneRecords(jobs, ttl+10*time.Second)
		t.Logf("round %d: node %s killed holding %d jobs; the others finished them %s later (lease TTL %s)",
			round+1, victim, len(jobs), took.Round(time.Millisecond), ttl)
		w.start(victim) // it comes back under the same name
	}
	w.waitSettled(60 * time.Second)
	if dups, lost := w.verify(); dups+lost > 0 {
		t.Errorf("%d duplicates, %d lost", dups, lost)
	}
}

// A node paused (SIGSTOP) past its lease while uploading, then resumed:
// the other node took its jobs over, the resumed node commits nothing it
// no longer holds, and VOD holds no duplicate.
func TestNodePausedPastLease(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level cluster test; runs without -short")
	}
	ttl := 2 * time.Second
	w := newWorld(t, ttl, func(c *emulator.Config) {
		slowParts(c)
		c.Faults.Latency["CommitUpload"] = 500 * time.Millisecond // a wider commit window
	})
	w.start("a")
	w.start("b")
	w.add("multi", "small", "multi", "small", "multi", "small", "keep", "hls")
	victim, jobs := w.busiest(20 * time.Second)
	n := w.nodes[victim]
	n.signal(t, syscall.SIGSTOP)
	took := w.waitDoneRecords(jobs, ttl+15*time.Second)
	n.signal(t, syscall.SIGCONT)
	t.Logf("node %s paused holding %d jobs; finished by the other node %s later", victim, len(jobs), took.Round(time.Millisecond))
	w.add("small", "small")
	w.waitSettled(60 * time.Second)
	time.Sleep(2 * time.Second) // the resumed node's late commits, if any, land and are settled
	if dups, lost := w.verify(); dups+lost > 0 {
		t.Errorf("%d duplicates, %d lost", dups, lost)
	}
}

// etcd restarted during a drop: nothing lost, nothing doubled.
func TestEtcdRestartedDuringDrop(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level cluster test; runs without -short")
	}
	ttl := 2 * time.Second
	w := newWorld(t, ttl, slowParts)
	w.start("a")
	w.start("b")
	w.add(w.mix(12)...)
	time.Sleep(500 * time.Millisecond)
	w.etcd.Stop()
	w.add(w.mix(8)...)
	time.Sleep(ttl + time.Second)
	w.etcd.Start()
	w.waitSettled(90 * time.Second)
	if dups, lost := w.verify(); dups+lost > 0 {
		t.Errorf("%d duplicates, %d lost", dups, lost)
	}
}

// A kept file done by one node is not uploaded by a node that joins later.
func TestLateNodeSkipsKeptFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level cluster test; runs without -short")
	}
	w := newWorld(t, 2*time.Second, nil)
	w.start("a")
	w.add("keep", "keep", "keep", "keep")
	w.waitSettled(30 * time.Second)
	applies := w.emu.Stats().Applies
	late := w.start("late")
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(late.log)
		if n := bytes.Count(b, []byte("job done by another node")); n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late node did not record the 4 kept files as done elsewhere\n%s", w.logTails())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := w.emu.Stats().Applies; got != applies {
		t.Errorf("the late node opened %d upload sessions", got-applies)
	}
	if dups, lost := w.verify(); dups+lost > 0 {
		t.Errorf("%d duplicates, %d lost", dups, lost)
	}
}
