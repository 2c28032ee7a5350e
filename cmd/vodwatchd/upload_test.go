package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
)

func runUpload(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return vars[k] }}
	code = runMain(context.Background(), env, append([]string{"upload"}, args...))
	return code, out.String(), errb.String()
}

func TestUploadCommand(t *testing.T) {
	dir := t.TempDir()
	media := filepath.Join(dir, "clip.mp4")
	if err := os.WriteFile(media, bytes.Repeat([]byte("vodwatchd"), 300_000), 0o644); err != nil {
		t.Fatal(err)
	}
	cover := filepath.Join(dir, "clip.jpg")
	if err := os.WriteFile(cover, []byte("not really a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	emu := emulatortest.Start(t)
	creds := map[string]string{"TENCENTCLOUD_SECRET_ID": emu.SecretID(), "TENCENTCLOUD_SECRET_KEY": emu.SecretKey()}
	accounts := filepath.Join(dir, "accounts.yaml")
	if err := os.WriteFile(accounts, []byte("defaults:\n  sub_apps: [1600000009]\n  procedures: [from-file]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	endpoint := []string{"--region", "ap-guangzhou", "--endpoint", emu.Addr(), "--scheme", "http", "--cos-endpoint", emu.Addr()}
	textResult := func(t *testing.T, stdout string) {
		for _, k := range []string{"FileId:", "MediaUrl:", "CoverUrl:", "RequestId:"} {
			if !strings.Contains(stdout, k) {
				t.Errorf("output lacks %s:\n%s", k, stdout)
			}
		}
		if !strings.Contains(stdout, "/media/") {
			t.Errorf("no MediaUrl in output:\n%s", stdout)
		}
	}
	cases := []struct {
		name     string
		vars     map[string]string
		args     []string
		wantCode int
		check    func(t *testing.T, stdout, stderr string)
	}{
		{name: "emulator text", args: []string{"--emulator", "--part-size", "1MiB", media}, check: func(t *testing.T, stdout, stderr string) {
			textResult(t, stdout)
			if !strings.Contains(stderr, "emulator: listening on 127.0.0.1:") {
				t.Errorf("stderr: %s", stderr)
			}
		}},
		{name: "emulator with an accounts file", args: []string{"--emulator", "--emulator-accounts", accounts, "--sub-app-id", "1600000009", "--procedure", "from-file", media},
			check: func(t *testing.T, stdout, _ string) { textResult(t, stdout) }},
		{name: "emulator accounts file missing", args: []string{"--emulator", "--emulator-accounts", filepath.Join(dir, "none.yaml"), media}, wantCode: 1,
			check: func(t *testing.T, _, stderr string) {
				if !strings.Contains(stderr, "none.yaml") {
					t.Errorf("stderr: %s", stderr)
				}
			}},
		{name: "endpoint text with cover", vars: creds, args: append(append([]string{}, endpoint...), "--cover", cover, "--procedure", "news-transcode", media),
			check: func(t *testing.T, stdout, _ string) {
				textResult(t, stdout)
				if strings.Contains(stdout, "CoverUrl:  \n") {
					t.Errorf("empty CoverUrl:\n%s", stdout)
				}
			}},
		{name: "endpoint json", vars: creds, args: append(append([]string{}, endpoint...), "--json", "--media-name", "Named", media),
			check: func(t *testing.T, stdout, _ string) {
				var res map[string]string
				if err := json.Unmarshal([]byte(stdout), &res); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, stdout)
				}
				if res["FileId"] == "" || res["MediaUrl"] == "" || res["RequestId"] == "" {
					t.Errorf("JSON result %v", res)
				}
			}},
		{name: "service error", vars: creds, args: append(append([]string{}, endpoint...), "--media-type", "xyz", media), wantCode: 1,
			check: func(t *testing.T, _, stderr string) {
				if !strings.Contains(stderr, "InvalidParameterValue.MediaType") || !strings.Contains(stderr, "RequestId") {
					t.Errorf("stderr lacks the service's code: %s", stderr)
				}
			}},
		{name: "service error json", vars: creds, args: append(append([]string{}, endpoint...), "--json", "--procedure", "nope", media), wantCode: 1,
			check: func(t *testing.T, stdout, _ string) {
				var res struct {
					Error struct{ Code, Message, RequestId string }
				}
				if err := json.Unmarshal([]byte(stdout), &res); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, stdout)
				}
				if res.Error.Code != "ResourceNotFound" || !strings.Contains(res.Error.Message, "nope") || res.Error.RequestId == "" {
					t.Errorf("JSON error %+v", res.Error)
				}
			}},
		{name: "wrong key", vars: map[string]string{"TENCENTCLOUD_SECRET_ID": emu.SecretID(), "TENCENTCLOUD_SECRET_KEY": "wrong-key-123456"},
			args: append(append([]string{}, endpoint...), media), wantCode: 1,
			check: func(t *testing.T, _, stderr string) {
				if !strings.Contains(stderr, "AuthFailure.") {
					t.Errorf("stderr: %s", stderr)
				}
			}},
		{name: "missing file", vars: creds, args: append(append([]string{}, endpoint...), filepath.Join(dir, "nope.mp4")), wantCode: 1,
			check: func(t *testing.T, _, stderr string) {
				if !strings.Contains(stderr, "nope.mp4") {
					t.Errorf("stderr: %s", stderr)
				}
			}},
		{name: "no region", vars: creds, args: []string{media}, wantCode: 2,
			check: func(t *testing.T, _, stderr string) {
				if !strings.Contains(stderr, "--region is required") {
					t.Errorf("stderr: %s", stderr)
				}
			}},
		{name: "two files", vars: creds, args: []string{"--region", "ap-guangzhou", media, media}, wantCode: 2},
		{name: "bad part size", vars: creds, args: append(append([]string{}, endpoint...), "--part-size", "lots", media), wantCode: 2,
			check: func(t *testing.T, _, stderr string) {
				if !strings.Contains(stderr, "--part-size") {
					t.Errorf("stderr: %s", stderr)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runUpload(t, c.vars, c.args...)
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.wantCode, stdout, stderr)
			}
			if c.check != nil {
				c.check(t, stdout, stderr)
			}
			for _, secret := range []string{emu.SecretKey(), "wrong-key-123456"} {
				if strings.Contains(stdout+stderr, secret) {
					t.Errorf("a secret appears in the output")
				}
			}
		})
	}
}
