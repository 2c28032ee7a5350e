package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
)

func TestOnlineAPICall(t *testing.T) {
	emu := emulatortest.Start(t)
	cfgPath, _ := writeRunConfig(t, emu, "")
	good, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := *good
	bad.VOD.Credentials.SecretKey = "wrong-secret-key-0000000000000000"
	tests := []struct {
		name    string
		cfg     *config.Config
		wantErr string
		wantOut string
	}{
		{"accepted", good, "", "ok    online: the VOD API at " + emu.Addr() + " accepted the credentials"},
		{"wrong key", &bad, "AuthFailure.SignatureFailure", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			env := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: os.Getenv}
			err := checkOnline(context.Background(), env, tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("output %q lacks %q", out.String(), tt.wantOut)
			}
			for _, s := range []string{emu.SecretKey(), bad.VOD.Credentials.SecretKey.Reveal()} {
				if strings.Contains(out.String(), s) || (err != nil && strings.Contains(err.Error(), s)) {
					t.Fatal("a secret key was printed")
				}
			}
		})
	}
}

// TestOnlineValidatesAgainstTheAccount: --online finds a sub-application,
// a task flow, a category and a storage region the account lacks, and a
// COS endpoint that cannot be reached, each as its own failure.
func TestOnlineValidatesAgainstTheAccount(t *testing.T) {
	emu := emulatortest.Start(t)
	rules := func(cos string) string {
		return fmt.Sprintf(`vod:
  region: ap-guangzhou
  endpoint: %[1]s
  scheme: http
  cos_endpoint: %[2]s
  cos_scheme: http
  secret_id: %[3]s
  secret_key: %[4]s
  sub_app_id: 1500000001
watch:
  - path: ./drop
    create: true
    rules:
      - name: good
        match: "good/**"
        procedure: news-transcode
        class_id: 12
        storage_region: ap-chongqing
      - name: bad
        match: "bad/**"
        procedure: no-such-flow
        class_id: 99
        storage_region: ap-mumbai
      - name: other-app
        match: "other/**"
        sub_app_id: 42
`, emu.Addr(), cos, emu.SecretID(), emu.SecretKey())
	}
	f := newCheckFixture(t, rules(emu.Addr()))
	out, _, err := f.run(t, checkOnline, "--online")
	if err == nil {
		t.Fatalf("check --online passed a config naming what the account lacks:\n%s", out)
	}
	wantLines(t, out,
		"ok    online: the VOD API at "+emu.Addr()+" accepted the credentials",
		"ok    online: sub_app_id 1500000001 exists",
		`ok    online: procedure "news-transcode" exists in sub-application 1500000001`,
		"ok    online: class_id 12 exists in sub-application 1500000001",
		"ok    online: storage_region ap-chongqing is opened in sub-application 1500000001",
		`FAIL  online: procedure "no-such-flow" (watch[0].rules[1]): no such task flow in sub-application 1500000001`,
		"FAIL  online: class_id 99 (watch[0].rules[1]): no such category in sub-application 1500000001",
		"FAIL  online: storage_region ap-mumbai (watch[0].rules[1]): not opened for this account in sub-application 1500000001",
		"FAIL  online: sub_app_id 42 (watch[0].rules[2]): not an application of this account (it has 1250000000, 1500000001, 1500000002)",
		"ok    online: COS at "+emu.Addr()+" is reachable",
	)

	// A COS endpoint nothing listens on.
	l, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	dead := l.Addr().String()
	l.Close()
	f = newCheckFixture(t, rules(dead))
	out, _, _ = f.run(t, checkOnline, "--online")
	wantLines(t, out, "FAIL  online: COS at "+dead+" cannot be reached: ")
}
