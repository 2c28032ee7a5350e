// Package testutil holds small helpers that tests across the module share.
package testutil

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer safe for concurrent writers, for collecting the
// log output of a daemon or a server under test.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Content returns n deterministic pseudo-random bytes, distinct per seed:
// test files whose bytes can be checked after a round trip.
func Content(seed string, n int) []byte {
	b := make([]byte, n)
	x := uint32(2166136261)
	for i := 0; i < len(seed); i++ {
		x = (x ^ uint32(seed[i])) * 16777619
	}
	x |= 1 // xorshift never leaves 0
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Eventually polls cond every 20 ms until it holds; after timeout the test
// fails, naming what it waited for and showing context() (a log tail).
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool, context func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s\n%s", timeout, what, context())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Never fails the test if cond holds at any time during d (polled every
// 20 ms), naming what must not happen and showing context() (a log tail).
func Never(t testing.TB, d time.Duration, what string, cond func() bool, context func() string) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			t.Fatalf("%s\n%s", what, context())
		}
	}
}

// Get GETs url (a MediaUrl the emulator serves) and returns the body of a
// 200 answer; any other status is an error naming it.
func Get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, b)
	}
	return b, nil
}

// Fetch is Get that fails the test on an error.
func Fetch(t testing.TB, url string) []byte {
	t.Helper()
	b, err := Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
