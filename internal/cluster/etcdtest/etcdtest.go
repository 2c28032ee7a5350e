// Package etcdtest runs a real single-member etcd server (the `etcd`
// binary, Debian package etcd-server) on loopback ports for tests.
package etcdtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one etcd process with its data folder; Stop and Start restart
// it on the same ports and data.
type Server struct {
	t      testing.TB
	bin    string
	dir    string
	client string // host:port
	peer   string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *bytes.Buffer
}

// Binary returns the etcd binary's path, skipping the test (with how to
// install it) when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd binary not found: install the Debian package etcd-server (.ci/run does)")
	}
	return p
}

// Start starts etcd in t.TempDir() and stops it in t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), dir: filepath.Join(t.TempDir(), "etcd"), client: freePort(t), peer: freePort(t)}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Endpoint is the client address, host:port.
func (s *Server) Endpoint() string { return s.client }

// Start (re)starts the process and waits until it serves.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	s.out = &bytes.Buffer{}
	cmd := exec.Command(s.bin, "--name", "test", "--data-dir", s.dir,
		"--listen-client-urls", "http://"+s.client, "--advertise-client-urls", "http://"+s.client,
		"--listen-peer-urls", "http://"+s.peer, "--initial-advertise-peer-urls", "http://"+s.peer,
		"--initial-cluster", "test=http://"+s.peer, "--logger", "zap", "--log-level", "error")
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start etcd: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + s.client + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("etcd did not become healthy: %v\n%s", err, s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the process (SIGTERM, then SIGKILL) and keeps its data.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Wait blocks until ctx ends or the process is healthy (for callers that
// restart it from another goroutine).
func (s *Server) Wait(ctx context.Context) error {
	for {
		resp, err := http.Get("http://" + s.client + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcd not healthy: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}
