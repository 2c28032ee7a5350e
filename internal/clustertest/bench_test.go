package clustertest

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
)

// benchLatency is a cloud region's round trip, added to every request.
const benchLatency = 30 * time.Millisecond

// benchWorkers is the fixed number of workers per node.
const benchWorkers = 2

func regionLatency(c *emulator.Config) { c.Latency = benchLatency }

// BenchmarkClusterDrop prints the drop time of one folder with 1, 2 and
// 3 nodes (fixed workers per node, 30 ms added to every request) as
// ratios against the single node measured in the same run, and the
// takeover time of a SIGKILLed node's jobs against its lease TTL.
//
//	go test -run '^$' -bench ClusterDrop -benchtime 1x ./internal/clustertest/
func BenchmarkClusterDrop(b *testing.B) {
	const items = 36
	drop := map[int]time.Duration{}
	for _, nodes := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				w := newWorld(b, 3*time.Second, regionLatency)
				w.workers = benchWorkers
				for i := range nodes {
					w.start(string(rune('a' + i)))
				}
				waitRegistered(b, w, nodes)
				kinds := make([]string, items)
				for i := range kinds {
					kinds[i] = "small"
				}
				start := time.Now()
				w.add(kinds...)
				w.waitSettled(5 * time.Minute)
				total += time.Since(start)
				if dups, lost := w.verify(); dups+lost > 0 {
					b.Fatalf("%d duplicates, %d lost", dups, lost)
				}
			}
			drop[nodes] = total / time.Duration(b.N)
			b.ReportMetric(drop[nodes].Seconds(), "s/drop")
		})
	}
	var takeover time.Duration
	ttl := 3 * time.Second
	b.Run("takeover", func(b *testing.B) {
		var total time.Duration
		for range b.N {
			w := newWorld(b, ttl, regionLatency)
			w.workers = benchWorkers
			for _, n := range []string{"a", "b", "c"} {
				w.start(n)
			}
			waitRegistered(b, w, 3)
			w.add("multi", "multi", "multi", "small", "small", "small")
			victim, jobs := w.busiest(30 * time.Second)
			w.nodes[victim].signal(b, syscall.SIGKILL)
			total += w.waitDoneRecords(jobs, ttl+30*time.Second)
		}
		takeover = total / time.Duration(b.N)
		b.ReportMetric(takeover.Seconds(), "s/takeover")
	})
	if drop[1] == 0 {
		return
	}
	var s strings.Builder
	fmt.Fprintf(&s, "cluster drop of %d small files, %s per request, %d workers per node:\n", items, benchLatency, benchWorkers)
	for _, n := range []int{1, 2, 3} {
		if d := drop[n]; d > 0 {
			fmt.Fprintf(&s, "  %d node(s): %6.2fs  speed-up x%.2f vs 1 node\n", n, d.Seconds(), drop[1].Seconds()/d.Seconds())
		}
	}
	if takeover > 0 {
		fmt.Fprintf(&s, "  takeover of a SIGKILLed node's jobs: %.2fs = lease TTL %s + %.2fs\n", takeover.Seconds(), ttl, (takeover - ttl).Seconds())
	}
	fmt.Print(s.String()) // the figures, beside the benchmark lines
}

// waitRegistered waits until n nodes are registered (start-up is not
// part of the drop time).
func waitRegistered(tb testing.TB, w *world, n int) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := inspect(w)
		if err == nil && len(v.Nodes) == n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d nodes not registered: %+v %v\n%s", n, v, err, w.logTails())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
