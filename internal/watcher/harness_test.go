package watcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
)

// harness runs a Watcher and records its events.
type harness struct {
	t      *testing.T
	root   string
	w      *Watcher
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	events []Event
	cond   chan struct{} // closed and replaced on every event
}

func startWatcher(t *testing.T, root string, mod func(*Config)) *harness {
	t.Helper()
	ch := make(chan Event, 256)
	cfg := Config{Root: root, Out: ch, Mode: ModeNotify, RescanInterval: -1,
		RootCheckInterval: 100 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, root: w.Root(), w: w, cancel: cancel, done: make(chan error, 1),
		cond: make(chan struct{})}
	go func() { h.done <- w.Run(ctx) }()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case ev := <-ch:
				h.add(ev)
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
		<-stopped
	})
	return h
}

func (h *harness) add(ev Event) {
	h.mu.Lock()
	h.events = append(h.events, ev)
	close(h.cond)
	h.cond = make(chan struct{})
	h.mu.Unlock()
}

// snapshot returns the events so far.
func (h *harness) snapshot() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events...)
}

// waitFor waits until pred holds on the events so far.
func (h *harness) waitFor(what string, d time.Duration, pred func([]Event) bool) []Event {
	h.t.Helper()
	deadline := time.After(d)
	for {
		h.mu.Lock()
		evs := h.events[:len(h.events):len(h.events)] // append-only: safe to read
		c := h.cond
		h.mu.Unlock()
		if pred(evs) {
			return evs
		}
		select {
		case <-c:
		case <-deadline:
			h.t.Fatalf("timed out after %v waiting for %s; events:\n%s", d, what, dump(evs))
		case err := <-h.done:
			h.done <- err
			h.t.Fatalf("Run returned %v while waiting for %s", err, what)
		}
	}
}

// waitScan waits for the n-th ScanDone with the given reason ("" = any).
func (h *harness) waitScan(reason string, n int) *ScanSummary {
	h.t.Helper()
	var got *ScanSummary
	h.waitFor(fmt.Sprintf("scan %q #%d", reason, n), 20*time.Second, func(evs []Event) bool {
		c := 0
		for _, e := range evs {
			if e.Kind == ScanDone && (reason == "" || e.Scan.Reason == reason) {
				c++
				if c == n {
					got = e.Scan
					return true
				}
			}
		}
		return false
	})
	return got
}

// waitFile waits until rel was reported as Changed or Scanned.
func (h *harness) waitFile(rel string) Event {
	h.t.Helper()
	var got Event
	h.waitFor("file "+rel, 10*time.Second, func(evs []Event) bool {
		for _, e := range evs {
			if (e.Kind == Changed || e.Kind == Scanned) && e.Rel == rel {
				got = e
				return true
			}
		}
		return false
	})
	return got
}

func (h *harness) waitRefused(rel, reasonPart string) Event {
	h.t.Helper()
	var got Event
	h.waitFor("refused "+rel, 10*time.Second, func(evs []Event) bool {
		for _, e := range evs {
			if e.Kind == Refused && e.Rel == rel && strings.Contains(e.Reason, reasonPart) {
				got = e
				return true
			}
		}
		return false
	})
	return got
}

func dump(evs []Event) string {
	var b strings.Builder
	for i, e := range evs {
		if i > 60 {
			fmt.Fprintf(&b, "... %d more\n", len(evs)-i)
			break
		}
		fmt.Fprintf(&b, "  %s %q dir=%v reason=%q", e.Kind, e.Rel, e.Dir, e.Reason)
		if e.Scan != nil {
			fmt.Fprintf(&b, " scan=%+v", *e.Scan)
		}
		if e.Kind == State {
			fmt.Fprintf(&b, " root=%s mode=%s (%s)", e.RootStatus, e.Mode, e.ModeReason)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// count returns how many events of kind k name rel.
func count(evs []Event, k Kind, rel string) int {
	n := 0
	for _, e := range evs {
		if e.Kind == k && e.Rel == rel {
			n++
		}
	}
	return n
}

func isLimit(err error) (*LimitError, bool) {
	var le *LimitError
	ok := errors.As(err, &le)
	return le, ok
}

// fastTempDir is a temporary folder on tmpfs (/dev/shm) when there is one,
// so tests that create thousands of files don't measure the disk; else
// t.TempDir().
func fastTempDir(t *testing.T) string {
	t.Helper()
	if fs, err := DetectFS("/dev/shm"); err == nil && fs.Name == "tmpfs" {
		if dir, err := os.MkdirTemp("/dev/shm", "vodwatchd-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// defaultIgnore is the daemon's default ignore list, as the daemon passes it.
var defaultIgnore IgnoreFunc = (&config.Watch{Ignore: config.DefaultIgnore}).IgnoreFunc()
