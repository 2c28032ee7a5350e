package main

import (
	"bytes"
	"context"
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
