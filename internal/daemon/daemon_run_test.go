package daemon_test

import (
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/daemon"
)

// TestRunningUntilRunReturns: Running is true from New on (a supervisor
// that checks it right after starting Run in a goroutine must not take the
// daemon for finished) and false once Run has returned.
func TestRunningUntilRunReturns(t *testing.T) {
	h := newHarness(t, hconf{})
	h.start(h.cfg)
	if !h.d.Running() {
		t.Fatal("Running is false right after Run was started")
	}
	h.stop()
	if h.d.Running() {
		t.Fatal("Running is true after Run returned")
	}
	d, err := daemon.New(daemon.Options{Config: h.cfg, Store: h.store, Uploader: noUploader{}})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Running() {
		t.Fatal("a new daemon reads as finished")
	}
}

// noUploader is an Uploader never called.
type noUploader struct{ daemon.Uploader }
