package sdnotify_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/sdnotify"
	"github.com/vodwatchd/vodwatchd/internal/sdnotify/sdnotifytest"
)

const wait = 5 * time.Second

func newNotifier(t *testing.T) *sdnotify.Notifier {
	t.Helper()
	n, err := sdnotify.New(sdnotify.Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

// runWatchdog starts w.Run in a goroutine owned by the test.
func runWatchdog(t *testing.T, w *sdnotify.Watchdog) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

func TestLifecycleMessages(t *testing.T) {
	sock := sdnotifytest.Listen(t, 0)
	n := newNotifier(t)
	steps := []struct {
		name string
		call func() error
		want string
	}{
		{"ready", n.Ready, "READY=1"},
		{"status", func() error { return n.Status("queue=12 active=3") }, "STATUS=queue=12 active=3"},
		{"status newline cannot inject", func() error { return n.Status("a\nREADY=1") }, "STATUS=a READY=1"},
		{"reloading", n.Reloading, "RELOADING=1"},
		{"stopping", n.Stopping, "STOPPING=1"},
	}
	for _, st := range steps {
		if err := st.call(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		msg, ok := sock.Next(wait)
		if !ok {
			t.Fatalf("%s: nothing received", st.name)
		}
		if _, found := sdnotifytest.HasLine(msg, st.want); !found {
			t.Errorf("%s: got %q, want a line %q", st.name, msg, st.want)
		}
		if st.name == "status newline cannot inject" && strings.Count(msg, "\n") != 0 {
			t.Errorf("status datagram has line breaks: %q", msg)
		}
		if st.name == "reloading" {
			if _, found := sdnotifytest.HasLine(msg, "MONOTONIC_USEC="); !found {
				t.Errorf("reloading without MONOTONIC_USEC: %q", msg)
			}
		}
	}
}

func TestNoSocketIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	n := newNotifier(t)
	for name, f := range map[string]func() error{"ready": n.Ready, "stopping": n.Stopping, "reloading": n.Reloading} {
		if err := f(); err != nil {
			t.Errorf("%s without NOTIFY_SOCKET: %v", name, err)
		}
	}
	w := n.Watchdog(sdnotify.NewLiveness(nil))
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run without watchdog: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Run without WATCHDOG_USEC did not return")
	}
}

func TestBadWatchdogEnv(t *testing.T) {
	for _, v := range []string{"abc", "-5", "0"} {
		t.Run(v, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", v)
			t.Setenv("WATCHDOG_PID", "")
			_, err := sdnotify.New(sdnotify.Options{})
			if err == nil || !strings.Contains(err.Error(), "watchdog") {
				t.Fatalf("WATCHDOG_USEC=%q: err = %v, want a watchdog error", v, err)
			}
		})
	}
}

func TestSendErrorIsReported(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", t.TempDir()+"/absent.sock")
	t.Setenv("WATCHDOG_USEC", "")
	n := newNotifier(t)
	if err := n.Ready(); err == nil || !strings.Contains(err.Error(), "READY") {
		t.Fatalf("Ready to a missing socket: err = %v", err)
	}
}

func TestWatchdogPingsWhileAlive(t *testing.T) {
	sock := sdnotifytest.Listen(t, 100*time.Millisecond)
	n := newNotifier(t)
	if got := n.WatchdogTimeout(); got != 100*time.Millisecond {
		t.Fatalf("WatchdogTimeout = %s, want 100ms", got)
	}
	live := sdnotify.NewLiveness(nil)
	loop := live.Register("eventloop", time.Second)
	w := n.Watchdog(live)
	if w.Interval() != 50*time.Millisecond {
		t.Fatalf("Interval = %s, want half of WATCHDOG_USEC", w.Interval())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go beatUntil(ctx, loop, 10*time.Millisecond)
	runWatchdog(t, w)
	// ~10 pings expected in 500ms; allow scheduling slack under -race.
	if got := sock.Count("WATCHDOG=1", 500*time.Millisecond); got < 4 {
		t.Fatalf("got %d WATCHDOG=1 in 500ms, want periodic pings", got)
	}
}

func beatUntil(ctx context.Context, h *sdnotify.Heartbeat, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		h.Beat()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func TestWedgedComponentStopsPings(t *testing.T) {
	sock := sdnotifytest.Listen(t, 100*time.Millisecond)
	n := newNotifier(t)
	live := sdnotify.NewLiveness(nil)
	loop := live.Register("eventloop", 150*time.Millisecond)
	worker := live.Register("worker-1", 150*time.Millisecond)

	loopCtx, wedge := context.WithCancel(context.Background())
	defer wedge()
	workerCtx, stopWorker := context.WithCancel(context.Background())
	defer stopWorker()
	go beatUntil(loopCtx, loop, 10*time.Millisecond)
	go beatUntil(workerCtx, worker, 10*time.Millisecond)
	runWatchdog(t, n.Watchdog(live))

	sock.WaitFor(t, "WATCHDOG=1", wait)
	wedge() // the event loop stops beating; the worker goes on

	// After the allowance runs out the watchdog reports why, then goes quiet.
	status := sock.WaitFor(t, "STATUS=", wait)
	if !strings.Contains(status, "eventloop") || strings.Contains(status, "worker-1") {
		t.Errorf("wedged status = %q, want it to name eventloop only", status)
	}
	if got := sock.Count("WATCHDOG=1", 400*time.Millisecond); got != 0 {
		t.Fatalf("got %d WATCHDOG=1 after the event loop wedged, want none", got)
	}

	// A recovered loop resumes the pings.
	go beatUntil(workerCtx, loop, 10*time.Millisecond)
	sock.WaitFor(t, "WATCHDOG=1", wait)
}

func TestLivenessCheck(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	live := sdnotify.NewLiveness(clock)
	a := live.Register("a", time.Second)
	b := live.Register("b", 5*time.Second)

	tests := []struct {
		name      string
		advance   time.Duration
		beat      []*sdnotify.Heartbeat
		wantStale []string
	}{
		{"fresh", 0, nil, nil},
		{"a late", 2 * time.Second, nil, []string{"a"}},
		{"a beats", 0, []*sdnotify.Heartbeat{a}, nil},
		{"both late", 6 * time.Second, nil, []string{"a", "b"}},
		{"b beats", 0, []*sdnotify.Heartbeat{b}, []string{"a"}},
	}
	for _, tc := range tests {
		now = now.Add(tc.advance)
		for _, h := range tc.beat {
			h.Beat()
		}
		err := live.Check()
		var se *sdnotify.StaleError
		if len(tc.wantStale) == 0 {
			if err != nil {
				t.Errorf("%s: Check = %v, want nil", tc.name, err)
			}
			continue
		}
		if !errors.As(err, &se) {
			t.Fatalf("%s: Check = %v, want *StaleError", tc.name, err)
		}
		var got []string
		for _, s := range se.Stale {
			got = append(got, s.Name)
		}
		if strings.Join(got, ",") != strings.Join(tc.wantStale, ",") {
			t.Errorf("%s: stale = %v, want %v", tc.name, got, tc.wantStale)
		}
	}

	a.Unregister()
	if err := live.Check(); err != nil {
		t.Errorf("after unregistering the late component: %v", err)
	}
	if _, ok := live.LastBeat("a"); ok {
		t.Error("LastBeat finds an unregistered component")
	}
	if last, ok := live.LastBeat("b"); !ok || !last.Equal(now) {
		t.Errorf("LastBeat(b) = %v, %v; want %v", last, ok, now)
	}
}

func TestStatusLine(t *testing.T) {
	last := time.Date(2026, 1, 2, 15, 4, 5, 0, time.FixedZone("CST", 8*3600))
	tests := []struct {
		in   sdnotify.StatusLine
		want string
	}{
		{sdnotify.StatusLine{}, "queue=0 active=0 last_upload=never"},
		{sdnotify.StatusLine{Queue: 12, Active: 3, LastUpload: last}, "queue=12 active=3 last_upload=2026-01-02T07:04:05Z"},
		{sdnotify.StatusLine{Queue: 1, Failed: 2, Note: "reloading"}, "queue=1 active=0 failed=2 last_upload=never reloading"},
	}
	for _, tc := range tests {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.in, got, tc.want)
		}
	}
}
