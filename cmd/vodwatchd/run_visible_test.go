package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/app/apptest"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// TestRunShowsWaitingFiles: while a bundle misses a segment, `status`
// (through the running daemon) lists it with the missing file, /metrics
// counts it, and the standard and zero-valued series are all there.
func TestRunShowsWaitingFiles(t *testing.T) {
	emu := emulatortest.Start(t)
	dir := t.TempDir()
	drop := filepath.Join(dir, "drop")
	cfgPath := filepath.Join(dir, "config.yaml")
	apptest.Template{
		Endpoint: emu.Addr(), SecretID: emu.SecretID(), SecretKey: emu.SecretKey(),
		State: apptest.StatePath(dir), Extra: "listen: 127.0.0.1:0", Drop: drop, Settle: "200ms",
		Rules: "    rules:\n      - name: hls\n        match: \"**/*.m3u8\"\n        bundle_timeout: 10m\n",
	}.Write(t, cfgPath)
	logs := &testutil.Buffer{}
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: logs, stderr: logs, getenv: os.Getenv}
	stop := startRun(t, env, cfgPath, logs)
	defer stop()
	addr := waitForLog(t, logs, `msg="serving /metrics, /healthz and /readyz" addr=`, 10*time.Second)
	apptest.WriteFile(t, drop, "show/index.m3u8", []byte("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg0.ts\n#EXTINF:4,\nseg1.ts\n#EXT-X-ENDLIST\n"))
	apptest.WriteFile(t, drop, "show/seg0.ts", []byte("ts"))

	var out bytes.Buffer
	waitFor(t, 20*time.Second, logs, func() bool {
		out.Reset()
		senv := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: os.Getenv}
		return runMain(context.Background(), senv, []string{"status", "--config", cfgPath}) == 0 &&
			strings.Contains(out.String(), "bundle files")
	})
	for _, want := range []string{"waiting: 1 file(s) not jobs yet (1 bundle files)", filepath.Join(drop, "show/index.m3u8"),
		"1 missing: show/seg1.ts", "no jobs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	body := httpGet(t, "http://"+addr+"/metrics")
	for name, want := range map[string]float64{
		`vodwatchd_waiting_files{reason="bundle files"}`:   1,
		`vodwatchd_waiting_files{reason="cover"}`:          0,
		`vodwatchd_retries_total{op="UploadPart"}`:         0,
		`vodwatchd_files_seen_total{watch="` + drop + `"}`: 0,
	} {
		if got := metricValue(body, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"process_resident_memory_bytes", "go_goroutines"} {
		if metricValue(body, name) <= 0 {
			t.Errorf("%s missing from /metrics", name)
		}
	}
}

// TestRunEmulatorLogsAreJSON: with --emulator and JSON logs, every line on
// stderr is JSON (the emulator's start is a log record, not plain text).
func TestRunEmulatorLogsAreJSON(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	text := "state: ./var/state.db\nwatch:\n  - path: ./drop\n    create: true\n    rules:\n      - match: \"**/*.mp4\"\n"
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &testutil.Buffer{}
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: logs, stderr: logs, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- runMain(ctx, env, []string{"run", "--config", cfgPath, "--emulator", "--emulator-listen", "127.0.0.1:0", "--log-format", "json"})
	}()
	waitFor(t, 20*time.Second, logs, func() bool { return strings.Contains(logs.String(), `"msg":"scan finished"`) })
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
	if !strings.Contains(logs.String(), `"msg":"emulator started: VOD API and COS"`) {
		t.Errorf("no emulator start record:\n%s", logs)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("not a JSON log line: %q", line)
		}
	}
}

// TestCheckSendsWhatTheDaemonSends: for a file the daemon uploaded, check
// names the same job id and renders the same SourceContext.
func TestCheckSendsWhatTheDaemonSends(t *testing.T) {
	emu := emulatortest.Start(t)
	dir := t.TempDir()
	drop := filepath.Join(dir, "drop")
	cfgPath := filepath.Join(dir, "config.yaml")
	apptest.Template{
		Endpoint: emu.Addr(), SecretID: emu.SecretID(), SecretKey: emu.SecretKey(),
		State: apptest.StatePath(dir), Drop: drop, Settle: "200ms",
		Rules: "    rules:\n      - match: \"**/*.mp4\"\n        source_context: \"src:{{.JobID}}:{{.Rel}}:{{.Size}}\"\n",
	}.Write(t, cfgPath)
	logs := &testutil.Buffer{}
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: logs, stderr: logs, getenv: os.Getenv}
	stop := startRun(t, env, cfgPath, logs)
	apptest.WriteFile(t, drop, "news/clip.mp4", bytes.Repeat([]byte("v"), 5000))
	waitFor(t, 30*time.Second, logs, func() bool { return strings.Contains(logs.String(), `msg="upload done"`) })
	stop()

	s, err := state.Open(apptest.StatePath(dir), state.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := s.List(context.Background(), state.Filter{})
	s.Close()
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs %v, %v; want 1", jobs, err)
	}
	j := jobs[0]
	var out bytes.Buffer
	cenv := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
	runMain(context.Background(), cenv, []string{"check", "--config", cfgPath, filepath.Join(drop, "news/clip.mp4")})
	for _, want := range []string{
		"  job:       " + j.ID + " (",
		"  source:    \"" + j.SourceContext + "\"",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check lacks %q (the daemon recorded job %s, SourceContext %q):\n%s", want, j.ID, j.SourceContext, out.String())
		}
	}
}
