package uploader

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/credentials"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
)

// Known secrets (API key, API token, every temporary certificate) never
// appear in the debug log, in errors, or in the checkpoint's JSON, on the
// happy path, through retried COS faults, and on failures.
func TestNoSecretsAnywhere(t *testing.T) {
	const tmpKey, tmpToken = "tmp-secret-key-SCRUBME-0123456789", "tmp-token-SCRUBME-abcdefghijkl"
	accounts := filepath.Join(t.TempDir(), "accounts.yaml")
	yaml := "accounts:\n  - secret_id: AKIDscrubowner\n    secret_key: owner-key-SCRUBME-0123456789\n" +
		"    temporary:\n      - {secret_id: AKIDscrub01, secret_key: " + tmpKey + ", token: " + tmpToken + ", expires: 2099-01-01T00:00:00Z}\n"
	if err := os.WriteFile(accounts, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, []func(*emulator.Config){func(c *emulator.Config) {
		c.AccountsFile = accounts
		c.Faults = emulator.FaultConfig{Seed: 11, ErrorRate: map[string]float64{"UploadPart": 0.3},
			Throttle: map[string]int{"ApplyUpload": 1}}
	}}, func(c *Config) {
		c.Credentials = credentials.Static("AKIDscrub01", tmpKey, tmpToken)
		c.Retry.MaxAttempts = 8
	})
	dir := t.TempDir()
	media := writeFile(t, dir, "a.mp4", 3*mib+1)
	prog := &memProgress{}
	if _, err := env.u.Upload(context.Background(), Request{MediaFilePath: media}, nil, prog); err != nil {
		t.Fatal(err)
	}
	var outputs []string
	outputs = append(outputs, string(prog.last))
	// Failures: a service error, and a COS error after the session exists.
	_, err := env.u.Upload(context.Background(), Request{MediaFilePath: media, MediaType: "xyz"}, nil, nil)
	outputs = append(outputs, fmt.Sprint(err), fmt.Sprintf("%+v", err))
	env.emu.SetFaults(emulator.FaultConfig{ErrorRate: map[string]float64{"PutObject": 1}})
	_, err = env.u.Upload(context.Background(), Request{MediaFilePath: writeFile(t, dir, "b.mp4", 100)}, nil, nil)
	if err == nil {
		t.Fatal("PutObject faults did not fail the upload")
	}
	outputs = append(outputs, fmt.Sprint(err), fmt.Sprintf("%#v", err))
	outputs = append(outputs, env.logs.String(), fmt.Sprint(prog.cert), fmt.Sprint(credentials.Credential{SecretKey: tmpKey, Token: tmpToken}))

	secrets := append(env.secrets.values(), tmpKey, tmpToken)
	if len(env.secrets.values()) < 4 {
		t.Fatalf("expected certificates of 3 sessions, saw %d secrets", len(env.secrets.values()))
	}
	for i, out := range outputs {
		for _, s := range secrets {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("output %d holds a secret (%.4s...): %.300s", i, s, out)
			}
		}
	}
	if !strings.Contains(env.logs.String(), "level=DEBUG") || !strings.Contains(env.logs.String(), "retrying") {
		t.Error("debug log was not captured, the check proves nothing")
	}
}
