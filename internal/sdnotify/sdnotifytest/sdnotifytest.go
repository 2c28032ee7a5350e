// Package sdnotifytest is a fake systemd notify socket for tests: it listens
// on a unixgram socket, points $NOTIFY_SOCKET at it and records what arrives.
package sdnotifytest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Socket is a listening fake notify socket.
type Socket struct {
	Path string

	conn *net.UnixConn
	msgs chan string
}

// Listen opens the socket, sets NOTIFY_SOCKET (and WATCHDOG_USEC when
// watchdog > 0, clearing WATCHDOG_PID) for the test with t.Setenv, and closes
// everything on cleanup. Tests using it cannot run in parallel.
func Listen(t testing.TB, watchdog time.Duration) *Socket {
	t.Helper()
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatalf("sdnotifytest: temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("sdnotifytest: listen %s: %v", path, err)
	}
	s := &Socket{Path: path, conn: conn, msgs: make(chan string, 1024)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.read() }()
	t.Cleanup(func() { conn.Close(); wg.Wait() })

	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_PID", "")
	if watchdog > 0 {
		t.Setenv("WATCHDOG_USEC", strconv.FormatInt(watchdog.Microseconds(), 10))
	} else {
		t.Setenv("WATCHDOG_USEC", "")
	}
	return s
}

func (s *Socket) read() {
	defer close(s.msgs)
	buf := make([]byte, 64<<10)
	for {
		n, _, err := s.conn.ReadFrom(buf)
		if err != nil {
			return // closed by cleanup
		}
		select {
		case s.msgs <- string(buf[:n]):
		default: // a test that stops reading must not block the sender
		}
	}
}

// Next returns the next datagram, or false after timeout.
func (s *Socket) Next(timeout time.Duration) (string, bool) {
	select {
	case m, ok := <-s.msgs:
		return m, ok
	case <-time.After(timeout):
		return "", false
	}
}

// WaitFor reads datagrams until one has a line starting with prefix and
// returns that line; it fails the test after timeout.
func (s *Socket) WaitFor(t testing.TB, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := max(time.Until(deadline), 0)
		m, ok := s.Next(left)
		if !ok {
			t.Fatalf("sdnotifytest: no %q within %s", prefix, timeout)
			return ""
		}
		if line, found := HasLine(m, prefix); found {
			return line
		}
	}
}

// Count reads for the whole window and counts datagrams with a line starting
// with prefix.
func (s *Socket) Count(prefix string, window time.Duration) int {
	deadline := time.Now().Add(window)
	n := 0
	for {
		left := max(time.Until(deadline), 0)
		m, ok := s.Next(left)
		if !ok {
			return n
		}
		if _, found := HasLine(m, prefix); found {
			n++
		}
	}
}

// HasLine reports whether a datagram has a line starting with prefix.
func HasLine(msg, prefix string) (string, bool) {
	for _, line := range strings.Split(msg, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line, true
		}
	}
	return "", false
}
