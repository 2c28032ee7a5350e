package control

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
)

// daemon opens a store and serves it on its socket, as the daemon does; it
// stops at the end of the test.
func daemon(t *testing.T) (*state.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sock := SocketPath(path)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, sock, s, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left after Serve stopped: %v", err)
		}
		_ = s.Close()
	})
	waitFor(t, func() bool { _, err := os.Stat(sock); return err == nil })
	return s, sock
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("condition not met within 5s")
}

func key(rel string, ino uint64) state.Key {
	return state.Key{Root: "/srv/drop", Rel: rel, Size: 10, MtimeNs: 1, Dev: 1, Ino: ino}
}

func TestClientThroughSocket(t *testing.T) {
	ctx := context.Background()
	s, sock := daemon(t)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
	a, _, _ := s.Enqueue(ctx, key("news/a.mp4", 1), state.Attrs{})
	b, _, _ := s.Enqueue(ctx, key("news/b.mp4", 2), state.Attrs{})
	if _, err := s.Update(ctx, b.ID, func(j *state.Job) error {
		j.Stage, j.LastError = state.StageFailed, &state.JobError{Code: "InternalError", Message: "boom"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	failed, err := c.List(ctx, state.Filter{Stages: []state.Stage{state.StageFailed}})
	if err != nil || len(failed) != 1 || failed[0].ID != b.ID || failed[0].LastError.Code != "InternalError" {
		t.Fatalf("List(failed) = %v, %v", failed, err)
	}
	all, err := c.List(ctx, state.Filter{Root: "/srv/drop", RelPrefix: "news", Limit: 5})
	if err != nil || len(all) != 2 {
		t.Fatalf("List(root) = %v, %v", all, err)
	}
	if j, err := c.Get(ctx, a.ID[:6]); err != nil || j.ID != a.ID {
		t.Fatalf("Get = %v, %v", j, err)
	}
	if js, err := c.FindPath(ctx, "/srv/drop/news/a.mp4"); err != nil || len(js) != 1 || js[0].ID != a.ID {
		t.Fatalf("FindPath = %v, %v", js, err)
	}
	r, err := c.Retry(ctx, b.ID)
	if err != nil || r.Stage != state.StageQueued {
		t.Fatalf("Retry = %v, %v", r, err)
	}
	if got, _ := s.Get(ctx, b.ID); got.Stage != state.StageQueued {
		t.Fatalf("retry through the socket did not reach the store: %s", got.Stage)
	}
	// Errors keep their meaning across the socket.
	checks := []struct {
		name string
		err  error
		want error
	}{
		{"get unknown", second(c.Get(ctx, "ffffffffffffffff")), state.ErrNotFound},
		{"retry queued", second(c.Retry(ctx, a.ID)), state.ErrNotRetryable},
		{"forget unknown", c.Forget(ctx, "ffffffffffffffff", false), state.ErrNotFound},
		{"bad stage", second(c.List(ctx, state.Filter{Stages: []state.Stage{"nope"}})), nil},
	}
	if _, err := s.Update(ctx, a.ID, func(j *state.Job) error { j.Stage = state.StageApplied; return nil }); err != nil {
		t.Fatal(err)
	}
	checks = append(checks, struct {
		name string
		err  error
		want error
	}{"forget in flight", c.Forget(ctx, a.ID, false), state.ErrInFlight})
	for _, ck := range checks {
		if ck.err == nil || (ck.want != nil && !errors.Is(ck.err, ck.want)) {
			t.Errorf("%s: error %v, want %v", ck.name, ck.err, ck.want)
		}
	}
	if err := c.Forget(ctx, a.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, a.ID); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("forced forget through the socket: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestDialWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	_, err := Dial(context.Background(), filepath.Join(dir, "state.db.sock"))
	if !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Dial(missing) = %v", err)
	}
	stale := staleSocket(t, filepath.Join(dir, "stale.sock"))
	if _, err := Dial(context.Background(), stale); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Dial(stale) = %v", err)
	}
}

// staleSocket leaves a socket file nobody listens on, like a killed daemon.
func staleSocket(t *testing.T, path string) string {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = ln.Close()
	return path
}

func TestServeSocketSafety(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, sock := daemon(t)
	// A second server on a live socket is refused.
	if err := Serve(ctx, sock, s, nil); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Serve on a live socket: %v", err)
	}
	dir := t.TempDir()
	notSock := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(notSock, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Serve(ctx, notSock, s, nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Serve over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(notSock); string(b) != "keep me" {
		t.Fatal("Serve replaced a regular file")
	}
	long := filepath.Join(dir, strings.Repeat("x", 120)+".sock")
	if err := Serve(ctx, long, s, nil); err == nil || !strings.Contains(err.Error(), "longer") {
		t.Fatalf("Serve on a too long path: %v", err)
	}
	// A stale socket is replaced and served.
	stale := staleSocket(t, filepath.Join(dir, "stale.sock"))
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Serve(sctx, stale, s, nil) }()
	var c *Client
	waitFor(t, func() bool {
		var err error
		c, err = Dial(ctx, stale)
		return err == nil
	})
	if _, err := c.List(ctx, state.Filter{}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Serve after replacing a stale socket: %v", err)
	}
}
