package testutil

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, "w%d-%d\n", i, j)
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
}

func TestContentAndTail(t *testing.T) {
	a, b := Content("a", 4096), Content("b", 4096)
	if string(a) == string(b) || string(a) != string(Content("a", 4096)) {
		t.Fatal("Content is not deterministic and distinct per seed")
	}
	zeros := 0
	for _, c := range Content("", 4096) {
		if c == 0 {
			zeros++
		}
	}
	if zeros > 100 {
		t.Fatalf("%d zero bytes of 4096: not pseudo-random", zeros)
	}
	if got := Tail("1\n2\n3\n4", 2); got != "3\n4" {
		t.Fatalf("Tail = %q", got)
	}
}
