// Package emulatortest starts an in-process emulator for a test and stops
// it when the test ends.
package emulatortest

import (
	"context"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
)

// The default account of every test emulator (fixed so that failures are
// reproducible; they open nothing but a loopback emulator).
const (
	SecretID  = "AKIDvodwatchdEmulatorTest00000000000"
	SecretKey = "vodwatchdEmulatorTestSecretKey00"
	AppID     = 1250000000
)

// Start runs an emulator on 127.0.0.1 with its data in t.TempDir(),
// applying opts to the Config first; it is closed by t.Cleanup.
func Start(t testing.TB, opts ...func(*emulator.Config)) *emulator.Emulator {
	t.Helper()
	cfg := emulator.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", SecretID: SecretID, SecretKey: SecretKey, AppID: AppID}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e, err := emulator.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("emulatortest: start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := e.Close(); err != nil {
			t.Errorf("emulatortest: close: %v", err)
		}
	})
	return e
}
