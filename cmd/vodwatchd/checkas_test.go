package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
)

// TestCheckAs: the access of a user who is neither the owner of the test
// files (root or the test user) nor in their group, by file modes.
func TestCheckAs(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // the test's own temp folders are 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(rel string, mode os.FileMode) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	drop := mk("drop", 0o777)
	mk("done", 0o755)    // not writable by others
	mk("private", 0o700) // cannot be entered by others
	mk("var", 0o777)
	if err := os.WriteFile(filepath.Join(dir, "var", "owned.db"), nil, 0o644); err != nil { // left by a run as root
		t.Fatal(err)
	}
	cfgText := "state: ./var/db/state.db\nwatch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        after: { action: move, to: ./done }\n" +
		"        quarantine: { to: ./private/failed }\n"
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := &checker{ctx: context.Background(), env: &cmdEnv{stdout: &out, getenv: func(string) string { return "" }}, cfg: cfg,
		deps: checkDeps{now: time.Now}}
	c.checkAs(identity{name: "svc", uid: 4242, gids: map[uint32]bool{4242: true}})
	got := out.String()
	wantLines(t, got,
		"ok    as svc: config "+cfgPath+": can read",
		"ok    as svc: state "+filepath.Join(dir, "var/db")+": can read and write (to be created in "+filepath.Join(dir, "var")+")",
		"ok    as svc: watch[0] "+drop+": can read and write",
		"FAIL  as svc: after.to "+filepath.Join(dir, "done")+": cannot read and write "+filepath.Join(dir, "done")+" (",
		" 0755), needed to move uploaded files there",
		"FAIL  as svc: quarantine.to "+filepath.Join(dir, "private/failed")+": cannot enter "+filepath.Join(dir, "private")+" (",
		"note  as svc: file modes only;",
	)
	if c.failed != 2 {
		t.Errorf("%d failures, want 2:\n%s", c.failed, got)
	}

	// A state file left by a run as another user: the folder is writable,
	// the file is not.
	cfg.State = filepath.Join(dir, "var", "owned.db")
	out.Reset()
	c.failed = 0
	c.checkAs(identity{name: "svc", uid: 4242, gids: map[uint32]bool{4242: true}})
	wantLines(t, out.String(), "FAIL  as svc: state file "+cfg.State+": cannot read and write "+cfg.State+" (")
	cfg.State = filepath.Join(dir, "var/db/state.db")

	// The same paths as root: everything is reachable.
	out.Reset()
	c.failed = 0
	c.checkAs(identity{name: "root", uid: 0, gids: map[uint32]bool{0: true}})
	if c.failed != 0 || strings.Contains(out.String(), "FAIL") {
		t.Errorf("root failed:\n%s", out.String())
	}

	// Group membership counts: a member of the folder's group may write a
	// 0770 folder owned by someone else.
	st := mk("group", 0o770)
	fi, err := os.Stat(st)
	if err != nil {
		t.Fatal(err)
	}
	gid := gidOf(t, fi)
	member := identity{name: "member", uid: 4243, gids: map[uint32]bool{gid: true}}
	stranger := identity{name: "stranger", uid: 4244, gids: map[uint32]bool{4244: true}}
	if !member.may(fi, wantRead|wantWrite|wantExec) || stranger.may(fi, wantRead) {
		t.Errorf("0770 folder: member may %v, stranger may read %v", member.may(fi, 7), stranger.may(fi, wantRead))
	}
}

func TestCheckAsUnknownUser(t *testing.T) {
	f := newCheckFixture(t, "watch:\n  - path: ./drop\n    create: true\n    rules:\n      - match: \"*\"\n")
	_, _, err := f.run(t, nil, "--as", "no-such-user-vodwatchd-test")
	if err == nil || !strings.Contains(err.Error(), "--as no-such-user-vodwatchd-test: no such user") {
		t.Fatalf("err %v", err)
	}
	out, _, err := f.run(t, nil, "--as", "root")
	if err != nil || !strings.Contains(out, "ok    as root: uid 0") {
		t.Fatalf("--as root: %v\n%s", err, out)
	}
}

func gidOf(t *testing.T, fi os.FileInfo) uint32 {
	t.Helper()
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Fatal("no Stat_t")
	}
	return st.Gid
}
