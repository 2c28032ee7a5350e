package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/app/apptest"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/sdnotify/sdnotifytest"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// writeRunConfig writes a config for one watch pointed at emu.
func writeRunConfig(t *testing.T, emu *emulator.Emulator, extra string, upload ...string) (cfgPath, drop string) {
	t.Helper()
	dir := t.TempDir()
	drop = filepath.Join(dir, "drop")
	cfgPath = filepath.Join(dir, "config.yaml")
	apptest.Template{
		Endpoint: emu.Addr(), SecretID: emu.SecretID(), SecretKey: emu.SecretKey(),
		State: apptest.StatePath(dir), Extra: extra, Upload: strings.Join(upload, "\n"), Drop: drop, Settle: "200ms",
		Rules: "    rules:\n      - match: \"**/*.mp4\"\n        cover_wait: 0s\n",
	}.Write(t, cfgPath)
	return cfgPath, drop
}

// startRun runs `vodwatchd run --config cfgPath` in the background; stop
// cancels it and waits for it to return (once; later calls do nothing).
func startRun(t *testing.T, env *cmdEnv, cfgPath string, logs fmt.Stringer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- runMain(ctx, env, []string{"run", "--config", cfgPath, "--log-format", "text"}) }()
	return sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("run did not stop\n%s", logs)
		}
	})
}

// TestRunNotifiesSystemd runs the daemon under a fake NOTIFY_SOCKET with a
// watchdog: READY=1, periodic WATCHDOG=1 and STATUS=, no more pings once
// the event loop is wedged, and STOPPING=1 at shutdown.
func TestRunNotifiesSystemd(t *testing.T) {
	sock := sdnotifytest.Listen(t, 500*time.Millisecond)
	emu := emulatortest.Start(t)
	cfgPath, _ := writeRunConfig(t, emu, "")
	wedge := make(chan struct{})
	logs := &testutil.Buffer{}
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: logs, stderr: logs, getenv: os.Getenv, wedge: wedge}
	stop := startRun(t, env, cfgPath, logs)
	defer stop()

	sock.WaitFor(t, "READY=1", 10*time.Second)
	if n := sock.Count("WATCHDOG=1", 2*time.Second); n < 3 {
		t.Fatalf("%d WATCHDOG=1 pings in 2s with WATCHDOG_USEC=500ms, want >= 3\n%s", n, logs)
	}
	close(wedge)
	// The loops stop turning; after the staleness allowance (2s) the pings
	// must stop for good.
	time.Sleep(3 * time.Second)
	for range 20 { // drain what was sent before the wedge was noticed
		if _, ok := sock.Next(10 * time.Millisecond); !ok {
			break
		}
	}
	if n := sock.Count("WATCHDOG=1", 2*time.Second); n != 0 {
		t.Fatalf("%d WATCHDOG=1 pings after the event loop wedged, want 0\n%s", n, logs)
	}
	stop()
	sock.WaitFor(t, "STOPPING=1", 10*time.Second)
}

// TestRunRefusesBadStart covers start-up failures that must name their
// cause and leave nothing half-done.
func TestRunRefusesBadStart(t *testing.T) {
	emu := emulatortest.Start(t)
	cfgPath, _ := writeRunConfig(t, emu, "listen: 0.0.0.0:9180")
	badState, _ := writeRunConfig(t, emu, "")
	corrupt := filepath.Join(filepath.Dir(badState), "var", "state.db")
	if err := os.MkdirAll(filepath.Dir(corrupt), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corrupt, bytes.Repeat([]byte("not bbolt"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"run", "--bogus"}, "flag provided but not defined"},
		{"missing config", []string{"run", "--config", "/nonexistent/vodwatchd.yaml"}, "/nonexistent/vodwatchd.yaml"},
		{"non-loopback listener", []string{"run", "--config", cfgPath}, "0.0.0.0:9180"},
		{"corrupt state", []string{"run", "--config", badState}, "corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			env := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: os.Getenv}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if code := runMain(ctx, env, tt.args); code == 0 {
				t.Fatalf("exit 0, want failure\n%s", out.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Fatalf("output does not mention %q:\n%s", tt.want, out.String())
			}
		})
	}
	if b, err := os.ReadFile(corrupt); err != nil || !bytes.HasPrefix(b, []byte("not bbolt")) {
		t.Fatal("the corrupt state file was changed")
	}
}

// TestRunMetricsAndReadiness scrapes /metrics after uploads and watches
// /readyz turn unhealthy when the watch root disappears.
func TestRunMetricsAndReadiness(t *testing.T) {
	emu := emulatortest.Start(t)
	cfgPath, drop := writeRunConfig(t, emu, "listen: 127.0.0.1:0", "  bandwidth: 2MiB/s")
	logs := &testutil.Buffer{}
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: logs, stderr: logs, getenv: os.Getenv}
	stop := startRun(t, env, cfgPath, logs)
	defer stop()
	addr := waitForLog(t, logs, `msg="serving /metrics, /healthz and /readyz" addr=`, 10*time.Second)
	base := "http://" + addr
	sizes := []int{1000, 3 << 20}
	for i, n := range sizes {
		if err := os.WriteFile(filepath.Join(drop, fmt.Sprintf("clip%d.mp4", i)), bytes.Repeat([]byte{byte(i + 1)}, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, logs, func() bool {
		b := httpGet(t, base+"/metrics") // the stage gauges refresh every 5s
		return metricValue(b, "vodwatchd_uploads_total") == 2 && metricValue(b, `vodwatchd_jobs{stage="done"}`) == 2
	})
	body := httpGet(t, base+"/metrics")
	for name, want := range map[string]float64{
		"vodwatchd_uploads_total":                    2,
		"vodwatchd_uploaded_bytes_total":             float64(sizes[0] + sizes[1]),
		"vodwatchd_upload_duration_seconds_count":    2,
		`vodwatchd_jobs{stage="done"}`:               2,
		"vodwatchd_bandwidth_limit_bytes_per_second": 2 << 20,
	} {
		if got := metricValue(body, name); got != want {
			t.Fatalf("%s = %v, want %v:\n%s", name, got, want, body)
		}
	}
	// 3 MiB under a 2 MiB/s limit cannot take less than about a second.
	if d := metricValue(body, "vodwatchd_upload_duration_seconds_sum"); d < 0.9 {
		t.Fatalf("uploads took %.2fs in all: the bandwidth limit was not applied", d)
	}
	if code, _ := httpStatus(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d before the root went away", code)
	}
	// status, answered by the running daemon through its control socket.
	var out bytes.Buffer
	senv := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: os.Getenv}
	if code := runMain(context.Background(), senv, []string{"status", "--config", cfgPath}); code != 0 {
		t.Fatalf("status: exit %d\n%s", code, out.String())
	}
	for _, want := range []string{"daemon: bandwidth limit 2 MiB/s", "active (small files: up to ", "queue by priority empty", "clip1.mp4", "ready", "FileId ", "http://" + emu.Addr() + "/media/"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("status output lacks %q:\n%s", want, out.String())
		}
	}
	if err := os.Rename(drop, drop+".gone"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, logs, func() bool {
		code, body := httpStatus(t, base+"/readyz")
		return code == 503 && strings.Contains(body, drop)
	})
	if code, _ := httpStatus(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d: a missing root is not a dead daemon", code)
	}
}

// metricValue returns the sample named name (with its labels) or -1.
func metricValue(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func waitForLog(t *testing.T, logs *testutil.Buffer, prefix string, timeout time.Duration) string {
	t.Helper()
	var out string
	waitFor(t, timeout, logs, func() bool {
		i := strings.Index(logs.String(), prefix)
		if i < 0 {
			return false
		}
		rest := logs.String()[i+len(prefix):]
		out = strings.Fields(rest)[0]
		return true
	})
	return out
}

func waitFor(t *testing.T, timeout time.Duration, logs *testutil.Buffer, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s\n%s", timeout, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	_, body := httpStatus(t, url)
	return body
}

func httpStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRunWidensTimerSlack: run gives the daemon's threads a 1 ms timer
// slack (every thread as root, its own thread and new ones otherwise), and
// says so in the log.
func TestRunWidensTimerSlack(t *testing.T) {
	emu := emulatortest.Start(t)
	cfgPath, _ := writeRunConfig(t, emu, "")
	logs := &testutil.Buffer{}
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: logs, stderr: logs, getenv: os.Getenv}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- runMain(ctx, env, []string{"run", "--config", cfgPath, "--log-format", "text", "--log-level", "debug"})
	}()
	defer func() { cancel(); <-done }()
	waitFor(t, 10*time.Second, logs, func() bool { return strings.Contains(logs.String(), "timer slack") })
	log := logs.String()
	switch {
	case strings.Contains(log, "timer slack widened on this thread only"):
		if os.Geteuid() == 0 {
			t.Fatalf("as root every thread can be widened:\n%s", log)
		}
		return
	case strings.Contains(log, `msg="timer slack widened"`), strings.Contains(log, "timer slack already set"):
	default:
		t.Fatalf("no timer slack outcome in the log:\n%s", log)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/" + task.Name() + "/timerslack_ns")
		if err != nil {
			continue // ended meanwhile
		}
		if ns, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); time.Duration(ns) < timerSlack {
			t.Errorf("thread %s: timer slack %v, want at least %v", task.Name(), time.Duration(ns), timerSlack)
		}
	}
}
