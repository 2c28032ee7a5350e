package watcher

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestInotifyLimitTooLowAtStartup(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 10; i++ {
		writeFile(t, filepath.Join(root, fmt.Sprintf("d%d/f.mp4", i)), "x")
	}
	out := make(chan Event, 100)
	w, err := New(Config{Root: root, Out: out, Mode: ModeNotify, MaxUserWatches: 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = w.Run(ctx)
	le, ok := isLimit(err)
	if !ok {
		t.Fatalf("Run = %v, want a *LimitError", err)
	}
	if le.Dirs != 11 || le.Limit != 5 || le.Needed < 11 {
		t.Fatalf("limit error %+v: want 11 folders against 5", le)
	}
	msg := err.Error()
	for _, want := range []string{root, "needs", "11 folders", "fs.inotify.max_user_watches is 5", "sysctl fs.inotify.max_user_watches=", "mode: poll"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestPollModeIgnoresInotifyLimit(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a/b/c.mp4"), "x")
	h := startWatcher(t, root, func(c *Config) { c.Mode = ModePoll; c.MaxUserWatches = 1 })
	if sum := h.waitScan("startup", 1); sum.Files != 1 {
		t.Fatalf("files = %d", sum.Files)
	}
}

func TestAddWatchErrorsNameTheSysctl(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want []string
	}{
		{unix.ENOSPC, []string{"/srv/drop", "ran out of inotify watches", "sysctl fs.inotify.max_user_watches="}},
		{unix.EMFILE, []string{"/srv/drop", "sysctl fs.inotify.max_user_instances=N"}},
	} {
		err := addWatchError("/srv/drop", "/srv/drop/x", tc.err)
		if _, ok := isLimit(err); !ok {
			t.Errorf("%v: not a *LimitError: %v", tc.err, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %q lacks %q", tc.err, err, w)
			}
		}
	}
	err := addWatchError("/srv/drop", "/srv/drop/x", unix.EACCES)
	if _, ok := isLimit(err); ok || !strings.Contains(err.Error(), "/srv/drop/x") {
		t.Errorf("EACCES: %v", err)
	}
}

func TestCheckBudget(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a/b/c", "a/d", ".hidden/x"} {
		writeFile(t, filepath.Join(root, d, "f"), "x")
	}
	ctx := context.Background()
	n, err := CountDirs(ctx, root, defaultIgnore)
	if err != nil || n != 5 { // root, a, a/b, a/b/c, a/d
		t.Fatalf("CountDirs = %d, %v; want 5", n, err)
	}
	b, err := CheckBudget(ctx, []BudgetRoot{{Path: root}}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Dirs != 7 || b.Limit <= 0 || b.InUse < 0 {
		t.Fatalf("budget %+v", b)
	}
	if b.Err() != nil {
		t.Fatalf("budget error on a small tree: %v", b.Err())
	}
	// Several roots are one budget: folders summed, watches in use once.
	other := t.TempDir()
	writeFile(t, filepath.Join(other, "x/f"), "x")
	inUse := func(context.Context) (int, error) { return 10, nil }
	b, err = CheckBudget(ctx, []BudgetRoot{{Path: root, Ignore: defaultIgnore}, {Path: other}}, 17, inUse)
	if err != nil || b.Dirs != 7 || b.InUse != 10 || b.Needed() != 17 || b.Err() != nil {
		t.Fatalf("two roots at the limit: %+v, %v", b, err)
	}
	b, err = CheckBudget(ctx, []BudgetRoot{{Path: root, Ignore: defaultIgnore}, {Path: other}}, 16, inUse)
	var le *LimitError
	if err != nil || !errors.As(b.Err(), &le) || le.Needed != 17 || !strings.Contains(le.Error(), other) {
		t.Fatalf("two roots one over the limit: %+v, %v", b, b.Err())
	}
	if _, err := CountDirs(ctx, filepath.Join(root, "missing"), nil); err == nil {
		t.Fatal("CountDirs on a missing root succeeded")
	}
	if suggestLimit(100000, 8192) != 200704 {
		t.Fatalf("suggestLimit = %d", suggestLimit(100000, 8192))
	}
}

// TestWatchesInUseSeesOurOwn counts this process's own watches before and
// after a watcher starts (other processes on the machine, such as other test
// binaries, add and drop watches meanwhile, so the machine-wide count is not
// compared), then checks that the machine-wide count includes them.
func TestWatchesInUseSeesOurOwn(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a/b/f"), "x")
	ctx := context.Background()
	before := procWatches("/proc/self")
	h := startWatcher(t, root, nil)
	h.waitScan("startup", 1)
	after := procWatches("/proc/self")
	if after-before < 3 {
		t.Fatalf("this process's watches %d -> %d; want at least 3 more", before, after)
	}
	total, err := WatchesInUse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if total < after {
		t.Fatalf("WatchesInUse = %d, fewer than this process's own %d", total, after)
	}
}
