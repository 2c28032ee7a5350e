// Package apptest is the one test rig of the daemon: one YAML
// configuration template, and the real wiring (internal/app) run against
// the emulator in a temporary folder. The fault suite, the daemon tests and
// the crash test (which writes the same template for the binary) use it.
package apptest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/app"
	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// Template is the tests' configuration: one watch, pointed at an emulator.
// Zero fields take the defaults noted.
type Template struct {
	Endpoint            string // emulator address host:port (API and COS)
	SecretID, SecretKey string // the emulator's account
	State               string // state file
	Drop                string // the watch root
	Log                 string // value of log:, e.g. "{ level: debug }" ("": left out)
	Extra               string // more top-level keys (listen:, compact_after: ...)
	Workers             int    // upload.workers, default 4
	PartsInFlight       int    // upload.parts_in_flight (0: left out)
	Retries             string // upload.retries, default { max_attempts: 3, initial_backoff: 50ms, max_backoff: 200ms }
	Upload              string // more keys of upload: (2-space indent)
	NoCreate            bool   // leave the watch's create: out
	Mode                string // default notify
	Settle              string // default 300ms
	Watch               string // more keys of the watch entry (4-space indent)
	Rules               string // the watch entry's rules: block (4-space indent); default one rule taking every file
}

// DefaultRules take every file.
const DefaultRules = `    rules:
      - name: all
        match: "**/*"
`

// YAML renders the template.
func (t Template) YAML() string {
	if t.Workers == 0 {
		t.Workers = 4
	}
	if t.Retries == "" {
		t.Retries = "{ max_attempts: 3, initial_backoff: 50ms, max_backoff: 200ms }"
	}
	if t.Mode == "" {
		t.Mode = "notify"
	}
	if t.Settle == "" {
		t.Settle = "300ms"
	}
	if t.Rules == "" {
		t.Rules = DefaultRules
	}
	var b strings.Builder
	fmt.Fprintf(&b, `vod:
  region: ap-guangzhou
  endpoint: %[1]s
  scheme: http
  cos_endpoint: %[1]s
  cos_scheme: http
  secret_id: %[2]s
  secret_key: %[3]s
state: %[4]s
`, t.Endpoint, t.SecretID, t.SecretKey, t.State)
	if t.Log != "" {
		fmt.Fprintf(&b, "log: %s\n", t.Log)
	}
	line(&b, t.Extra)
	fmt.Fprintf(&b, "upload:\n  workers: %d\n", t.Workers)
	if t.PartsInFlight > 0 {
		fmt.Fprintf(&b, "  parts_in_flight: %d\n", t.PartsInFlight)
	}
	fmt.Fprintf(&b, "  part_size: 1MiB\n  multipart_threshold: 2MiB\n  retries: %s\n", t.Retries)
	line(&b, t.Upload)
	fmt.Fprintf(&b, "watch:\n  - path: %s\n", t.Drop)
	if !t.NoCreate {
		b.WriteString("    create: true\n")
	}
	fmt.Fprintf(&b, "    mode: %s\n    settle: %s\n", t.Mode, t.Settle)
	line(&b, t.Watch)
	line(&b, t.Rules)
	return b.String()
}

// line writes s, ending it with a newline, unless it is blank.
func line(b *strings.Builder, s string) {
	if strings.TrimSpace(s) == "" {
		return
	}
	b.WriteString(strings.TrimRight(s, "\n") + "\n")
}

// Config parses the template as if read from path (relative paths in it
// resolve beside path).
func (t Template) Config(tb testing.TB, path string) *config.Config {
	tb.Helper()
	y := t.YAML()
	cfg, err := config.Parse(path, []byte(y))
	if err != nil {
		tb.Fatalf("config: %v\n%s", err, y)
	}
	return cfg
}

// Write writes the template to path (0600) for a binary to read.
func (t Template) Write(tb testing.TB, path string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(t.YAML()), 0o600); err != nil {
		tb.Fatal(err)
	}
	t.Config(tb, path) // a template the daemon would refuse fails here, not in the binary
}

// Running is an app running until Stop or the end of the test.
type Running struct {
	*app.App
	tb     testing.TB
	logs   *testutil.Buffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Start builds the app from opts and runs it; logs (may be nil) is shown
// when the test fails. Stop (also at the test's end) stops it and closes
// its state.
func Start(tb testing.TB, opts app.Options, logs *testutil.Buffer) *Running {
	tb.Helper()
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" } // no NOTIFY_SOCKET, no credentials from the test's environment
	}
	a, err := app.New(opts)
	if err != nil {
		tb.Fatalf("app: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{App: a, tb: tb, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	tb.Cleanup(r.Stop)
	return r
}

// Stop ends the app and closes the state (idempotent).
func (r *Running) Stop() {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				r.tb.Errorf("daemon: %v", err)
			}
		case <-time.After(20 * time.Second):
			r.tb.Errorf("daemon did not stop within 20s\n%s", r.tail(60))
		}
		if err := r.Close(); err != nil {
			r.tb.Errorf("state close: %v", err)
		}
		if r.tb.Failed() {
			r.tb.Logf("daemon log (tail):\n%s", r.tail(80))
		}
	})
}

func (r *Running) tail(n int) string {
	if r.logs == nil {
		return ""
	}
	return testutil.Tail(r.logs.String(), n)
}

// StatePath is the conventional state file under dir.
func StatePath(dir string) string { return filepath.Join(dir, "var", "state.db") }

// Jobs lists the jobs of store in the given stages (all when none).
func Jobs(tb testing.TB, store *state.Store, stages ...state.Stage) []*state.Job {
	tb.Helper()
	jobs, err := store.List(context.Background(), state.Filter{Stages: stages})
	if err != nil {
		tb.Fatal(err)
	}
	return jobs
}

// WriteFile writes b at the slash path rel under root, making its folders.
func WriteFile(tb testing.TB, root, rel string, b []byte) {
	tb.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}
