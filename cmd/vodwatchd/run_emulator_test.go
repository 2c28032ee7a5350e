package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/app/apptest"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// writeProductionConfig writes a config whose post-action moves uploaded
// files away, as a production one may; extra is added at the top level.
func writeProductionConfig(t *testing.T, extra string) (cfgPath, drop, done string) {
	t.Helper()
	dir := t.TempDir()
	drop, done = filepath.Join(dir, "drop"), filepath.Join(dir, "done")
	cfgPath = filepath.Join(dir, "config.yaml")
	apptest.Template{
		Endpoint: "vod.tencentcloudapi.com", SecretID: "AKIDprod", SecretKey: "prod-secret",
		State: apptest.StatePath(dir), Extra: extra, Drop: drop, Settle: "200ms",
		Rules: "    rules:\n      - match: \"**/*.mp4\"\n        cover_wait: 0s\n        after: { action: move, to: " + done + " }\n",
	}.Write(t, cfgPath)
	return cfgPath, drop, done
}

// TestRunEmulatorLeavesProductionAlone (issue 11): run --emulator over a
// production config keeps its own state file and leaves files in place
// (after: keep); with for_emulator: true it uses the config's state, and
// refuses one a production run has used.
func TestRunEmulatorLeavesProductionAlone(t *testing.T) {
	cfgPath, drop, done := writeProductionConfig(t, "")
	prodState := apptest.StatePath(filepath.Dir(cfgPath))
	apptest.WriteFile(t, drop, "clip.mp4", testutil.Content("clip", 5000))
	logs := &testutil.Buffer{}
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: logs, stderr: logs, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() {
		exit <- runMain(ctx, env, []string{"run", "--emulator", "--emulator-listen", "127.0.0.1:0", "--config", cfgPath, "--log-format", "text"})
	}()
	var last string
	testutil.Eventually(t, 30*time.Second, "clip.mp4 uploaded to the emulator", func() bool {
		out, errs, code := stRun(t, "status", "--emulator", "--config", cfgPath)
		last = fmt.Sprintf("exit %d\n%s%s", code, out, errs)
		return code == 0 && (strings.Contains(out, " done ") || strings.Contains(out, " ready "))
	}, func() string { return last + "\n" + logs.String() })
	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("run --emulator exited %d\n%s", code, logs)
	}
	if _, err := os.Stat(filepath.Join(drop, "clip.mp4")); err != nil {
		t.Fatalf("the production post-action ran on an emulator upload: %v", err)
	}
	if _, err := os.Stat(done); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the done folder was made: %v", err)
	}
	if _, err := os.Stat(prodState); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the production state file was used: %v", err)
	}
	emuState := strings.TrimSuffix(prodState, ".db") + ".emulator.db"
	if _, err := os.Stat(emuState); err != nil {
		t.Fatalf("no emulator state file beside the production one: %v", err)
	}

	// A production run has used the state: a config that says its state
	// is meant for the emulator is refused on it.
	s, err := state.Open(prodState, state.Options{Mode: state.ModeService})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	shared, _, _ := writeProductionConfig(t, "for_emulator: true")
	if err := os.MkdirAll(filepath.Dir(apptest.StatePath(filepath.Dir(shared))), 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(prodState)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(apptest.StatePath(filepath.Dir(shared)), b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, code := stRun(t, "run", "--emulator", "--emulator-listen", "127.0.0.1:0", "--config", shared)
	if code == 0 || !strings.Contains(errs, "recorded for another kind of run") {
		t.Fatalf("run --emulator on a production state: exit %d %q", code, errs)
	}
}
