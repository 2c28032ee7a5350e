package emulatortest_test

import (
	"net"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
)

func TestStartAndCleanup(t *testing.T) {
	var addr string
	t.Run("inner", func(t *testing.T) {
		e := emulatortest.Start(t, func(c *emulator.Config) { c.RepeatCommit = emulator.RepeatCommitError })
		if e.SecretID() != emulatortest.SecretID || e.SecretKey() != emulatortest.SecretKey || e.AppID() != emulatortest.AppID {
			t.Fatal("default test account not applied")
		}
		addr = e.Addr()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("emulator not listening: %v", err)
		}
		c.Close()
	})
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("emulator at %s still listening after its test ended", addr)
	}
}
