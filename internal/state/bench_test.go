package state

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const benchDone = 100000

// doneStore builds a store of benchDone done jobs (results, history) and
// reopens it, as the daemon finds it at start-up.
func doneStore(b *testing.B) *Store {
	b.Helper()
	path := statePath(b)
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	bulkEnqueue(b, s, 0, benchDone, Attrs{Rule: "news", SourceContext: "vodwatchd:0123456789abcdef", MediaName: "clip"}, func(j *Job) {
		j.Stage = StageDone
		j.Result = Result{FileID: "5285890781000000", MediaURL: "http://1250000000.vod2.myqcloud.com/a/b/clip.mp4", RequestID: "req-0000"}
		j.Finished, j.BytesDone = j.Created, j.Bytes
		j.record(StageQueued, StageDone, j.Created, "")
	})
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if fi, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "state-file-MiB")
	}
	return openTest(b, path, Options{})
}

// peakHeap samples the heap (live objects and not yet swept garbage,
// without stopping the world) while it runs fn.
func peakHeap(fn func()) uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return peak.Load()
}

// maxRSS is the process's peak resident set (VmHWM), 0 when unknown.
func maxRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkCatchUpLookups is the start-up catch-up scan's store side: one
// Lookup per already-uploaded file, 100,000 of them.
func BenchmarkCatchUpLookups(b *testing.B) {
	s := doneStore(b)
	ctx := context.Background()
	runtime.GC() // twice: the builder's page pool goes through sync.Pool's victim cache
	runtime.GC()
	b.ResetTimer()
	var worst time.Duration
	var peak uint64
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p := peakHeap(func() {
			for n := 0; n < benchDone; n++ {
				j, ok, err := s.Lookup(ctx, testKey(n))
				if err != nil || !ok || j.Stage != StageDone {
					b.Fatalf("lookup %d: %v %v", n, ok, err)
				}
			}
		})
		worst = max(worst, time.Since(start))
		peak = max(peak, p)
	}
	b.ReportMetric(worst.Seconds(), "s/catch-up")
	b.ReportMetric(float64(worst.Nanoseconds())/benchDone, "ns/lookup")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(maxRSS(), "process-peak-RSS-MiB")
}

// BenchmarkCatchUpSeen is the same scan through Seen (no record decoding).
func BenchmarkCatchUpSeen(b *testing.B) {
	s := doneStore(b)
	ctx := context.Background()
	runtime.GC() // twice: the builder's page pool goes through sync.Pool's victim cache
	runtime.GC()
	b.ResetTimer()
	var worst time.Duration
	var peak uint64
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p := peakHeap(func() {
			for n := 0; n < benchDone; n++ {
				if _, st, ok, err := s.Seen(ctx, testKey(n)); err != nil || !ok || st != StageDone {
					b.Fatalf("seen %d: %v %v %v", n, st, ok, err)
				}
			}
		})
		worst = max(worst, time.Since(start))
		peak = max(peak, p)
	}
	b.ReportMetric(worst.Seconds(), "s/catch-up")
	b.ReportMetric(float64(worst.Nanoseconds())/benchDone, "ns/lookup")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkListFailed is `status --failed` over 100,000 done and 10 failed.
func BenchmarkListFailed(b *testing.B) {
	s := doneStore(b)
	bulkEnqueue(b, s, benchDone, 10, Attrs{}, func(j *Job) {
		j.Stage = StageFailed
		j.LastError = &JobError{Code: "InternalError", Message: "boom"}
	})
	if err := s.Check(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	var worst time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		jobs, err := s.List(ctx, Filter{Stages: []Stage{StageFailed, StageQuarantined}})
		if err != nil || len(jobs) != 10 {
			b.Fatalf("List failed = %d jobs, %v", len(jobs), err)
		}
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "ms/list-failed")
}

// BenchmarkOpenLarge is the daemon's start-up cost on a 100,000-job store.
func BenchmarkOpenLarge(b *testing.B) {
	s := doneStore(b)
	path := s.Path()
	_ = s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		_ = s.Close()
	}
}

// BenchmarkSmallFileWrites is the state's share of a drop of many small
// files: jobs enqueued in batches of 200, then 16 workers each move their
// jobs through the two writes a small file costs (committing with its
// checkpoint before CommitUpload, done after it, shared), with the first
// a write of its own (as before the daemon shared it) and shared. It
// reports this process's CPU and bbolt's page writes per job.
func BenchmarkSmallFileWrites(b *testing.B) {
	for _, shared := range []bool{false, true} {
		b.Run(fmt.Sprintf("committing-shared=%v", shared), func(b *testing.B) { benchSmallFileWrites(b, shared) })
	}
}

func benchSmallFileWrites(b *testing.B, sharedCommitting bool) {
	const jobs, workers = 2000, 16
	committing := (*Store).Update
	if sharedCommitting {
		committing = (*Store).UpdateShared
	}
	checkpoint := []byte(`{"v":1,"session":"` + strings.Repeat("s", 160) + `","media":{"path":"/srv/drop/news/clip.mp4","size":262144,"mtime":1700000000000000000,"dev":2049,"ino":1234},"bucket":"vod-1250000000","region":"ap-guangzhou","key":"/1250000000/x/clip.mp4","crc64":"1234567890123456","committing":true}`)
	for range b.N {
		s := openTest(b, statePath(b), Options{})
		ctx := context.Background()
		var ids []string
		for from := 0; from < jobs; from += 200 {
			batch := make([]NewJob, 0, 200)
			for i := from; i < from+200; i++ {
				batch = append(batch, NewJob{Key: testKey(i), Attrs: Attrs{Rule: "news", MediaName: "clip"}})
			}
			out, err := s.EnqueueMany(ctx, batch)
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range out {
				ids = append(ids, e.Job.ID)
			}
		}
		st0 := s.db.Stats()
		cpu0 := cpuTime()
		var wg sync.WaitGroup
		var next atomic.Int64
		for range workers {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < int64(len(ids)); i = next.Add(1) - 1 {
					if _, err := committing(s, ctx, ids[i], func(j *Job) error {
						j.Stage, j.Checkpoint, j.BytesDone = StageCommitting, checkpoint, j.Bytes
						return nil
					}); err != nil {
						b.Error(err)
						return
					}
					if _, err := s.UpdateShared(ctx, ids[i], func(j *Job) error {
						j.Stage, j.Checkpoint = StageDone, nil
						j.Result = Result{FileID: "5285890781000000", MediaURL: "http://1250000000.vod2.myqcloud.com/a/b/clip.mp4", RequestID: "req-0000"}
						return nil
					}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/jobs, "cpu-us/job")
		st := s.db.Stats()
		d := st.TxStats.Sub(&st0.TxStats)
		b.ReportMetric(float64(d.GetWrite())/jobs, "page-writes/job")
		b.ReportMetric(float64(d.GetSpill())/jobs, "node-spills/job")
	}
}

// cpuTime is this process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDue reads the due jobs of a drop of 2,000 files just enqueued,
// as the scheduler does when it fills its queue.
func BenchmarkDue(b *testing.B) {
	s := openTest(b, statePath(b), Options{})
	batch := make([]NewJob, 0, 2000)
	for i := range 2000 {
		batch = append(batch, NewJob{Key: testKey(i), Attrs: Attrs{Rule: "news", MediaName: "clip"}})
	}
	if _, err := s.EnqueueMany(context.Background(), batch); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		jobs, err := s.Due(context.Background(), time.Now(), 0)
		if err != nil || len(jobs) != 2000 {
			b.Fatalf("%d due, %v", len(jobs), err)
		}
	}
}
