package faultsuite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/health"
)

// TestReadyzRootReplacedBySymlink (issue 18, also seen): a watch root
// replaced by a symlink (to a folder elsewhere) is not watched (the daemon
// never follows a symlink out of a root), and /readyz says so, instead of
// "missing".
func TestReadyzRootReplacedBySymlink(t *testing.T) {
	r := newRig(t, rigOpts{rules: allRule})
	recordRow(t, r, "root replaced by a symlink", 0, 0, "/readyz names the symlink")
	r.start()
	check := func() health.Check {
		for _, c := range health.NewChecker(r.run, health.Options{}).Ready(context.Background()).Checks {
			if c.Name == "watch_root" && c.Target == r.drop {
				return c
			}
		}
		return health.Check{}
	}
	r.eventually(10*time.Second, "the root watched", func() bool { return check().OK })
	elsewhere := filepath.Join(r.dir, "elsewhere")
	if err := os.Rename(r.drop, elsewhere); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, r.drop); err != nil {
		t.Fatal(err)
	}
	r.eventually(20*time.Second, "/readyz to say the root is a symlink", func() bool {
		c := check()
		return !c.OK && strings.Contains(c.Reason, "symlink")
	})
	t.Logf("readyz: %+v", check())
}
