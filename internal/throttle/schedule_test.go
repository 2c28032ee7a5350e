package throttle

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// fakeClock is a Clock the test moves by hand.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clk     *fakeClock
	at      time.Time
	c       chan time.Time
	stopped bool
	fired   bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, at: c.now.Add(d), c: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	return t
}

// advance moves the clock after waiting (up to 5 s) until a timer is
// armed, and fires the timers now due.
func (c *fakeClock) advance(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !c.armed() {
		if time.Now().After(deadline) {
			t.Fatal("no timer armed by the schedule")
		}
		time.Sleep(time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, tm := range c.timers {
		if !tm.stopped && !tm.fired && !tm.at.After(c.now) {
			tm.fired = true
			tm.c <- c.now
		}
	}
}

func (c *fakeClock) armed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tm := range c.timers {
		if !tm.stopped && !tm.fired {
			return true
		}
	}
	return false
}

// eventually waits up to 2 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func window(t *testing.T, s string) config.Window {
	t.Helper()
	w, err := config.ParseWindow(s)
	if err != nil {
		t.Fatalf("ParseWindow(%q): %v", s, err)
	}
	return w
}

// monday is 2026-11-23, a Monday, at hh:mm:ss.ms UTC.
func monday(hh, mm, ss, ms int) time.Time {
	return time.Date(2026, 11, 23, hh, mm, ss, ms*int(time.Millisecond), time.UTC)
}

// TestScheduleBoundaryDuringUpload: an upload runs under the 1 MiB/s that
// holds before 08:00; at 08:00 (injected clock) the window lifts the
// limit and the same upload finishes at once, without a restart.
func TestScheduleBoundaryDuringUpload(t *testing.T) {
	cfg := &config.Config{Upload: config.Upload{
		Bandwidth: 1 * mib, Location: time.UTC,
		Schedule: []config.Window{window(t, "08:00-20:00 Mon-Fri 0")},
	}}
	clk := &fakeClock{now: monday(7, 59, 59, 500)}
	g := NewGroup()
	var changes []int64
	var mu sync.Mutex
	sch := NewSchedule(g, cfg, ScheduleOptions{Clock: clk, OnChange: func(l int64) {
		mu.Lock()
		changes = append(changes, l)
		mu.Unlock()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- sch.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	emu := startEmulator(t)
	file := writeFile(t, t.TempDir(), "clip.mp4", 4*mib)
	wc := &wireCounter{}
	u := newUploader(t, emu, func(c *uploader.Config) {
		c.Transport = transport(wc)
		c.BodyWrapper = g.BodyWrapper("")
	})
	upDone := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := u.Upload(ctx, uploader.Request{MediaFilePath: file}, nil, nil)
		upDone <- err
	}()
	time.Sleep(800 * time.Millisecond)
	if sent := wc.n.Load(); sent > 3*mib/2 || sent < mib/4 {
		t.Errorf("before 08:00: %d bytes sent in 0.8 s, want about 0.8 MiB at 1 MiB/s", sent)
	}
	clk.advance(t, 400*time.Millisecond) // 07:59:59.900: not yet
	if got := g.Global().Limit(); got != mib {
		t.Errorf("at 07:59:59.9 the limit is %d, want 1 MiB/s", got)
	}
	clk.advance(t, 100*time.Millisecond) // 08:00:00.000
	eventually(t, "the limit to lift at 08:00", func() bool { return g.Global().Limit() == 0 })
	select {
	case err := <-upDone:
		if err != nil {
			t.Fatalf("upload: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("upload did not finish")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("upload took %v: the lifted limit did not reach it (4 s at 1 MiB/s)", took)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 2 || changes[0] != mib || changes[1] != 0 {
		t.Errorf("OnChange saw %v, want [1048576 0]", changes)
	}
}

// TestScheduleWindowsAndReload steps an injected clock through a week's
// boundaries and reloads the configuration: the limits follow at the first
// whole second of each boundary; reload applies at once, per watch too.
func TestScheduleWindowsAndReload(t *testing.T) {
	cfg := &config.Config{
		Upload: config.Upload{Bandwidth: 0, Location: time.UTC, Schedule: []config.Window{
			window(t, "08:00-20:00 Mon-Fri 20MiB/s"),
			window(t, "22:00-02:00 Mon 1MiB/s"),
		}},
		Watch: []config.Watch{{Path: "/srv/a", Bandwidth: 5 * mib}, {Path: "/srv/b"}},
	}
	clk := &fakeClock{now: monday(7, 59, 58, 0)}
	g := NewGroup()
	sch := NewSchedule(g, cfg, ScheduleOptions{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- sch.Run(ctx) }()
	defer func() { cancel(); <-runDone }()

	steps := []struct {
		by   time.Duration
		want int64
		when string
	}{
		{time.Second, 0, "07:59:59"},
		{time.Second, 20 * mib, "08:00:00"},
		{12*time.Hour - time.Second, 20 * mib, "19:59:59"},
		{time.Second, 0, "20:00:00"},
		{2 * time.Hour, 1 * mib, "22:00:00 (wraps past midnight)"},
		{4*time.Hour - time.Second, 1 * mib, "Tue 01:59:59 (window began Monday)"},
		{time.Second, 0, "Tue 02:00:00"},
	}
	for _, s := range steps {
		clk.advance(t, s.by)
		eventually(t, s.when, func() bool { return sch.Limit() == s.want && g.Global().Limit() == s.want })
	}
	if g.Watch("/srv/a").Limit() != 5*mib || g.Watch("/srv/b").Limit() != 0 {
		t.Errorf("watch limits %d, %d; want 5 MiB/s and unlimited", g.Watch("/srv/a").Limit(), g.Watch("/srv/b").Limit())
	}

	// Reload at Tue 02:00: a new schedule and watch list apply at once.
	next := &config.Config{
		Upload: config.Upload{Bandwidth: 50 * mib, Location: time.UTC, Schedule: []config.Window{
			window(t, "00:00-24:00 Tue 2MiB/s"),
		}},
		Watch: []config.Watch{{Path: "/srv/b", Bandwidth: 3 * mib}},
	}
	sch.Reload(next)
	if g.Global().Limit() != 2*mib || g.Watch("/srv/b").Limit() != 3*mib || g.Watch("/srv/a").Limit() != 0 {
		t.Errorf("after reload: global %d, b %d, a %d; want 2 MiB/s, 3 MiB/s, unlimited (watch dropped)",
			g.Global().Limit(), g.Watch("/srv/b").Limit(), g.Watch("/srv/a").Limit())
	}
	clk.advance(t, 22*time.Hour) // Wednesday 00:00
	eventually(t, "Wednesday: the default 50 MiB/s", func() bool { return g.Global().Limit() == 50*mib })
}

func TestFormatRate(t *testing.T) {
	for in, want := range map[int64]string{0: "unlimited", -1: "unlimited", 512: "512 B/s", 20 * mib: "20 MiB/s", 125000000: "119.2 MiB/s"} {
		if got := FormatRate(in); got != want {
			t.Errorf("FormatRate(%d) = %q, want %q", in, got, want)
		}
	}
}
