package faultsuite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vodwatchd/vodwatchd/internal/health"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// mountTmpfs mounts a small tmpfs at dir for the test, or skips the test
// when this machine does not allow it.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("faultsuite-state", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs for the state here (needs CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			_ = unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
}

// fill writes a file at p until the file system is full.
func fill(t *testing.T, p string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{256 << 10, 4 << 10, 1} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling %s: %v", p, err)
				}
				break
			}
		}
	}
}

// TestStateDiskFull puts the state on a small tmpfs and fills it: the
// daemon stops taking work and says why (log, readiness, status line),
// loses no record, and uploads what waited once space returns.
func TestStateDiskFull(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	mountTmpfs(t, stateDir, "2m")
	r := newRig(t, rigOpts{rules: allRule, stateDir: stateDir})
	r.write("before.mp4", testutil.Content("before", 5000))
	r.start()
	done := func(rel string) bool {
		j, ok := r.jobAt(rel)
		return ok && j.Stage == state.StageDone
	}
	r.eventually(20*time.Second, "before.mp4 done", func() bool { return done("before.mp4") })
	checker := health.NewChecker(r.run, health.Options{})
	if rep := checker.Ready(context.Background()); !stateOK(rep) {
		t.Fatalf("state unhealthy before the disk filled: %+v", rep)
	}

	filler := filepath.Join(stateDir, "filler")
	fill(t, filler)
	during := []string{"full-1.mp4", "full-2.mp4", "full-3.mp4"}
	for _, rel := range during {
		r.write(rel, testutil.Content(rel, 4000))
	}
	r.eventually(20*time.Second, "the daemon to notice the full disk", func() bool {
		return !r.run.HealthSnapshot(context.Background()).StateOpen
	})
	if !logHas(r.logs.String(), "level=ERROR", "the state file cannot be written", "disk full") {
		t.Errorf("no log line says the state disk is full")
	}
	if rep := checker.Ready(context.Background()); rep.OK() || stateOK(rep) {
		t.Errorf("/readyz stays ready with a full state disk: %+v", rep)
	}
	if note := r.run.StatusLine(context.Background()).Note; note != "state_error" {
		t.Errorf("status line note %q, want state_error", note)
	}
	// Once the daemon knows the state is full, nothing more is committed.
	// A job whose records still fitted in the state file's free pages
	// (its committing record written before its CommitUpload) may have
	// finished just before: it is settled once space returns, and counted
	// once below.
	time.Sleep(300 * time.Millisecond) // a commit already sent when the disk filled comes back
	committed := map[string]bool{}
	for _, m := range r.emulator().Media() {
		committed[m.Name] = true
	}
	r.never(time.Second, "a file was committed after the state could not record it", func() bool {
		for _, m := range r.emulator().Media() {
			if strings.HasPrefix(m.Name, "full-") && !committed[m.Name] {
				return true
			}
		}
		return false
	})

	if err := os.Remove(filepath.Join(stateDir, "filler")); err != nil {
		t.Fatal(err)
	}
	r.eventually(40*time.Second, "the waiting files uploaded once space returned", func() bool {
		for _, rel := range during {
			if !done(rel) {
				return false
			}
		}
		return true
	})
	r.eventually(15*time.Second, "the state healthy again", func() bool { return stateOK(checker.Ready(context.Background())) })
	counts := mediaBySC(r)
	for _, rel := range append([]string{"before.mp4"}, during...) {
		j, ok := r.jobAt(rel)
		if !ok {
			t.Errorf("%s: record lost", rel)
			continue
		}
		if counts[j.SourceContext] != 1 {
			t.Errorf("%s: %d media, want 1", rel, counts[j.SourceContext])
		}
	}
	if n := len(r.emulator().Media()); n != 1+len(during) {
		t.Errorf("%d media, want %d", n, 1+len(during))
	}
}

func stateOK(rep health.Report) bool {
	for _, c := range rep.Checks {
		if c.Name == "state" {
			return c.OK
		}
	}
	return false
}
