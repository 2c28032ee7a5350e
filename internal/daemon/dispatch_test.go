package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// TestDispatchPolicy checks which queued jobs one dispatch pass starts:
// the workers, the ones kept for small jobs, the small-file gate and its
// cap, and that the jobs left keep their order.
func TestDispatchPolicy(t *testing.T) {
	const mib = 1 << 20
	up := func(workers, smallWorkers, inFlight int, threshold int64) config.Upload {
		return config.Upload{Workers: workers, SmallWorkers: smallWorkers, SmallFilesInFlight: inFlight, SmallFileThreshold: threshold}
	}
	// queue spells jobs: "B" a 100 MiB job, "s" a 1 MiB one.
	cases := []struct {
		name    string
		upload  config.Upload
		running string // already running, same letters
		leased  int
		queue   string
		started string
	}{
		{"workers, one kept for small", up(4, 1, 4, 16*mib), "", 0, "BBBBBsssss", "BBBs"},
		{"workers, none kept", up(4, 0, 4, 16*mib), "", 0, "BBBBBsssss", "BBBB"},
		{"small first take all workers", up(4, 1, 4, 16*mib), "", 0, "sssssBBBBB", "ssss"},
		{"big already running counts", up(4, 1, 4, 16*mib), "BB", 0, "BBBsss", "Bs"},
		{"no threshold: every job a worker", up(3, 1, 8, 0), "", 0, "sBsBsB", "sBs"},
		{"gate: small by its limit, big by workers less kept", up(2, 1, 8, 16*mib), "", 0, "BBBsssss", "Bss"},
		{"gate: only small", up(2, 1, 8, 16*mib), "", 0, strings.Repeat("s", 1000), "ss"},
		{"gate: cap reached by an older gate's jobs", up(2, 1, 8, 16*mib), "", 8, "sssBB", "B"},
		{"gate: big slot taken", up(2, 1, 8, 16*mib), "B", 0, "BsBsB", "ss"},
		{"gate: cap reached, only small queued", up(2, 1, 8, 16*mib), "", 8, strings.Repeat("s", 50), ""},
		{"gate: cap reached, one big behind small ones", up(2, 1, 8, 16*mib), "", 8, strings.Repeat("s", 50) + "B" + "sss", "B"},
		{"nothing free", up(2, 0, 2, 16*mib), "ss", 0, "sBsB", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &Daemon{}
			d.conf.Store(&config.Config{Upload: tc.upload})
			s := newScheduler(d)
			var started []*state.Job
			s.start = func(_ context.Context, wg *sync.WaitGroup, j *state.Job, _ *smallLease) {
				started = append(started, j)
				wg.Done()
			}
			jobs := func(prefix, spec string) []*state.Job {
				var out []*state.Job
				for i, c := range spec {
					size := int64(1 * mib)
					if c == 'B' {
						size = 100 * mib
					}
					out = append(out, &state.Job{ID: fmt.Sprintf("%s%c%d", prefix, c, i), Bytes: size})
				}
				return out
			}
			for _, j := range jobs("run-", tc.running) {
				s.running[j.ID] = j.Bytes
			}
			s.leased = tc.leased
			queue := jobs("q-", tc.queue)
			want := slices.Clone(queue)
			var wg sync.WaitGroup
			q := &jobQueue{jobs: slices.Clone(queue)}
			s.dispatch(context.Background(), &wg, q)
			wg.Wait()
			rest := q.jobs

			spell := func(js []*state.Job) string {
				var b strings.Builder
				for _, j := range js {
					if j.Bytes >= 16*mib {
						b.WriteByte('B')
					} else {
						b.WriteByte('s')
					}
				}
				return b.String()
			}
			if got := spell(started); got != tc.started {
				t.Fatalf("started %q, want %q", got, tc.started)
			}
			// Every job is either started or left, and the left keep
			// the queue's order.
			left := slices.DeleteFunc(want, func(j *state.Job) bool { return slices.Contains(started, j) })
			if !slices.Equal(rest, left) {
				t.Fatalf("left %d jobs %q, want %d in queue order %q", len(rest), spell(rest), len(left), spell(left))
			}
			if len(s.running) != len(tc.running)+len(started) {
				t.Fatalf("%d running, want %d", len(s.running), len(tc.running)+len(started))
			}
		})
	}
}

// BenchmarkDispatchFull is one dispatch pass over 4,000 queued small jobs
// when the gate has no free slot: what every finished job of a large drop
// costs the scheduler.
func BenchmarkDispatchFull(b *testing.B) {
	d := &Daemon{}
	d.conf.Store(&config.Config{Upload: config.Upload{Workers: 4, SmallWorkers: 1, SmallFilesInFlight: 32, SmallFileThreshold: 16 << 20}})
	s := newScheduler(d)
	s.start = func(_ context.Context, wg *sync.WaitGroup, _ *state.Job, _ *smallLease) { wg.Done() }
	queue := make([]*state.Job, 4000)
	for i := range queue {
		queue[i] = &state.Job{ID: fmt.Sprint(i), Bytes: 1 << 20}
	}
	var wg sync.WaitGroup
	q := &jobQueue{jobs: queue}
	s.dispatch(context.Background(), &wg, q) // fills the gate
	n := len(q.jobs)
	b.ResetTimer()
	for range b.N {
		if s.dispatch(context.Background(), &wg, q); len(q.jobs) != n {
			b.Fatalf("%d left of %d", len(q.jobs), n)
		}
	}
}
