package daemon_test

import (
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReloadSaysWhatChanged: a reload names the keys that changed, the
// restarted watch scans with reason=reload, and every scan is logged once
// at info level.
func TestReloadSaysWhatChanged(t *testing.T) {
	h := newHarness(t, hconf{})
	h.logLevel = slog.LevelInfo
	h.start(h.cfg)
	scans := regexp.MustCompile(`level=INFO msg="scan (finished|done)".* reason=(\w+)`)
	h.eventually(10*time.Second, "the startup scan", func() bool { return scans.MatchString(h.logs.String()) })

	next := testConfigOf(t, h.dir, h.emu, hconf{settle: "700ms"})
	if err := h.run.Reload(next); err != nil {
		t.Fatal(err)
	}
	h.eventually(10*time.Second, "the reload scan", func() bool {
		return strings.Contains(h.logs.String(), "reason=reload")
	})
	logs := h.logs.String()
	if !regexp.MustCompile(`msg="configuration reloaded" .*changed="?\[watch\[[^]]+\]\.settle\]`).MatchString(logs) {
		t.Errorf("the reload line does not name watch[...].settle:\n%s", logs)
	}
	var reasons []string
	for _, m := range scans.FindAllStringSubmatch(logs, -1) {
		reasons = append(reasons, m[1]+":"+m[2])
	}
	if strings.Join(reasons, " ") != "finished:startup finished:reload" {
		t.Errorf("info scan lines %v, want one startup and one reload scan, each logged once", reasons)
	}

	if err := h.run.Reload(next); err != nil {
		t.Fatal(err)
	}
	h.eventually(10*time.Second, "a reload without changes", func() bool {
		return strings.Contains(h.logs.String(), "changed=[nothing]")
	})
}
