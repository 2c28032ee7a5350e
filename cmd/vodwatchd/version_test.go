package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/buildinfo"
)

func runVersion(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code = runMain(context.Background(), env, append([]string{"version"}, args...))
	return code, out.String(), errb.String()
}

func TestVersionCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		check    func(t *testing.T, stdout, stderr string)
	}{
		{"text", nil, 0, func(t *testing.T, stdout, _ string) {
			if !strings.HasPrefix(stdout, "vodwatchd ") || !strings.Contains(stdout, runtime.Version()) {
				t.Errorf("text output:\n%s", stdout)
			}
		}},
		{"json", []string{"--json"}, 0, func(t *testing.T, stdout, _ string) {
			var info buildinfo.Info
			if err := json.Unmarshal([]byte(stdout), &info); err != nil {
				t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
			}
			if info.Version == "" || info.GoVersion != runtime.Version() || info.Deps == nil {
				t.Errorf("--json = %+v", info)
			}
		}},
		{"extra argument", []string{"now"}, 2, func(t *testing.T, _, stderr string) {
			if !strings.Contains(stderr, `unexpected argument "now"`) {
				t.Errorf("stderr = %q", stderr)
			}
		}},
		{"bad flag", []string{"--yaml"}, 1, func(t *testing.T, _, stderr string) {
			if !strings.Contains(stderr, "yaml") {
				t.Errorf("stderr = %q", stderr)
			}
		}},
		{"help", []string{"-h"}, 0, func(t *testing.T, _, stderr string) {
			if !strings.Contains(stderr, "--json") {
				t.Errorf("help = %q", stderr)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runVersion(t, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.wantCode, stderr)
			}
			tc.check(t, stdout, stderr)
		})
	}
}

func TestWriteVersion(t *testing.T) {
	var b bytes.Buffer
	err := writeVersion(&b, buildinfo.Info{
		Version: "v1.2.3", GoVersion: "go1.26.8", Platform: "linux/amd64",
		Revision: "abc123", Time: "2026-03-01T12:00:00Z", Modified: true,
		Deps: []buildinfo.Module{
			{Path: "go.etcd.io/bbolt", Version: "v1.5.0"},
			{Path: "example.com/x", Version: "v1.0.0", Replace: "../x (devel)"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"vodwatchd v1.2.3\n",
		"go:      go1.26.8 linux/amd64",
		"commit:  abc123 (modified) 2026-03-01T12:00:00Z",
		"modules:\n",
		"  go.etcd.io/bbolt  v1.5.0",
		"  example.com/x     v1.0.0  => ../x (devel)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
