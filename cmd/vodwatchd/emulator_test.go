package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// emuOutput is a bytes.Buffer safe for the command's goroutine and the test.
type emuOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *emuOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *emuOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// runEmulatorCmd starts the subcommand, waits for its banner, stops it
// and returns the exit code and output.
func runEmulatorCmd(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb emuOutput
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- runMain(ctx, env, append([]string{"emulator"}, args...)) }()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(out.String(), "SecretKey:") {
		select {
		case code := <-done:
			return code, out.String(), errb.String()
		case <-deadline:
			t.Fatalf("no banner; stdout %q stderr %q", out.String(), errb.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case code := <-done:
		return code, out.String(), errb.String()
	case <-time.After(10 * time.Second):
		t.Fatal("emulator did not stop after cancel")
	}
	return 0, "", ""
}

func TestEmulatorCommand(t *testing.T) {
	t.Run("generated key is printed", func(t *testing.T) {
		code, out, _ := runEmulatorCmd(t, nil, "--data", t.TempDir(), "--listen", "127.0.0.1:0")
		if code != 0 || !strings.Contains(out, "SecretId:         AKID") || !strings.Contains(out, "(generated; kept in the data folder") {
			t.Fatalf("code %d output:\n%s", code, out)
		}
		if !strings.Contains(out, "serving on http://127.0.0.1:") || !strings.Contains(out, "emulator: stopping") {
			t.Fatalf("output:\n%s", out)
		}
	})
	t.Run("given key is not printed", func(t *testing.T) {
		code, out, errOut := runEmulatorCmd(t, nil, "--data", t.TempDir(), "--listen", "127.0.0.1:0",
			"--secret-id", "AKIDgiven", "--secret-key", "given-secret-value", "--fault-error-rate", "UploadPart=0.1", "--fault-latency", "ApplyUpload=1ms")
		if code != 0 || !strings.Contains(out, "AKIDgiven") || strings.Contains(out+errOut, "given-secret-value") {
			t.Fatalf("code %d output:\n%s", code, out)
		}
	})
	t.Run("key from the environment is not printed", func(t *testing.T) {
		code, out, _ := runEmulatorCmd(t, map[string]string{"VODWATCHD_EMULATOR_SECRET_KEY": "env-secret-value"},
			"--data", t.TempDir(), "--listen", "127.0.0.1:0")
		if code != 0 || strings.Contains(out, "env-secret-value") || !strings.Contains(out, "(as given)") {
			t.Fatalf("code %d output:\n%s", code, out)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no data dir", []string{"--listen", "127.0.0.1:0"}, 2, "--data"},
		{"non-loopback", []string{"--listen", "0.0.0.0:0"}, 1, "not loopback"},
		{"bad probability", []string{"--listen", "127.0.0.1:0", "--fault-error-rate", "PutObject=2"}, 2, "PutObject"},
		{"bad fault item", []string{"--listen", "127.0.0.1:0", "--fault-throttle", "ApplyUpload"}, 2, "OP=VALUE"},
		{"bad repeat-commit", []string{"--listen", "127.0.0.1:0", "--repeat-commit", "twice"}, 1, "RepeatCommit"},
		{"stray argument", []string{"--listen", "127.0.0.1:0", "extra"}, 2, "extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.name != "no data dir" {
				args = append([]string{"--data", t.TempDir()}, args...)
			}
			code, _, errOut := runEmulatorCmd(t, nil, args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("code %d (want %d), stderr %q", code, tc.code, errOut)
			}
		})
	}
}
