package faultsuite

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// suite collects one row per scenario from every test of the package, so
// that `go test ./internal/faultsuite -v` ends with one table for faults
// and hostile input alike.
var suite rowLog

type rowLog struct {
	mu   sync.Mutex
	rows []row
}

func (l *rowLog) add(r row) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rows = append(l.rows, r)
}

func (l *rowLog) table() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.rows) == 0 {
		return ""
	}
	return faultTable(l.rows)
}

// outcome is a row's result from whether its test (or subtest) failed.
func outcome(t *testing.T) string {
	if t.Failed() {
		return "FAIL"
	}
	return "ok"
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tab := suite.table(); tab != "" {
		fmt.Printf("\nfault and hostile-input suite:\n%s\n", tab)
	}
	os.Exit(code)
}

// recordRow adds a hostile-input row when the test ends: files dropped,
// want of them to be committed, and what the emulator holds then.
func recordRow(t *testing.T, r *rig, scenario string, files, want int, note string) {
	t.Cleanup(func() {
		committed := len(r.emulator().Media())
		suite.add(row{scenario: scenario, files: files, committed: committed,
			duplicates: max(committed-want, 0), lost: max(want-committed, 0),
			result: outcome(t), note: note})
	})
}
