package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Binary builds cmd/vodwatchd once per test process, for the tests that
// run the real binary (crash, cluster and drop benchmarks). Declare one as
// a package variable and call Remove from TestMain.
type Binary struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

// Path builds the binary on first use and returns its path.
func (b *Binary) Path(tb testing.TB) string {
	tb.Helper()
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "vodwatchd-bin-")
		if b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "vodwatchd")
		cmd := exec.Command("go", "build", "-o", b.path, "github.com/vodwatchd/vodwatchd/cmd/vodwatchd")
		b.out, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		tb.Fatalf("go build: %v\n%s", b.err, b.out)
	}
	return b.path
}

// Remove deletes the built binary, if any.
func (b *Binary) Remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}
