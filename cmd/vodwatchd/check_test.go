package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/rootlock"
	"github.com/vodwatchd/vodwatchd/internal/watcher"
)

// checkFixture is a temp folder with a config, a watch root and an
// inotify limit file.
type checkFixture struct {
	dir, cfg, limit string
	env             map[string]string
	// inUse counts the inotify watches already held (nil: the real count).
	inUse func(context.Context) (int, error)
}

func newCheckFixture(t *testing.T, cfgText string) *checkFixture {
	t.Helper()
	dir := t.TempDir()
	f := &checkFixture{dir: dir, cfg: filepath.Join(dir, "config.yaml"), limit: filepath.Join(dir, "max_user_watches"),
		env:   map[string]string{"TENCENTCLOUD_SECRET_ID": "AKIDcheckTestId0001", "TENCENTCLOUD_SECRET_KEY": "checkTestSecretKeyValue"},
		inUse: func(context.Context) (int, error) { return 0, nil }}
	f.write(t, "config.yaml", cfgText, 0o600)
	f.write(t, "max_user_watches", "8192\n", 0o644)
	return f
}

func (f *checkFixture) write(t *testing.T, rel, text string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(f.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func (f *checkFixture) run(t *testing.T, online onlineCheck, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return f.env[k] }}
	deps := checkDeps{online: online, inotifyLimit: f.limit, watchesInUse: f.inUse,
		now: func() time.Time { return time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC) }}
	err = runCheck(context.Background(), env, append([]string{"--config", f.cfg}, args...), deps)
	if s := out.String() + errb.String(); strings.Contains(s, f.env["TENCENTCLOUD_SECRET_KEY"]) && f.env["TENCENTCLOUD_SECRET_KEY"] != "" {
		t.Errorf("the secret key was printed:\n%s", s)
	}
	return out.String(), errb.String(), err
}

const checkCfg = `state: ./var/state.db
watch:
  - path: ./drop
    rules:
      - name: news
        match: "news/**/*.mp4"
        procedure: news-transcode
        class_id: 12
        storage_region: ap-chongqing
        media_name: "{{.Parent}} {{.Stem}}"
        expire_after: 720h
        cover: [".jpg"]
        after: { action: move, to: ./done, prune_empty: true }
      - name: rest
        match: "**/*.mov"
`

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q; got:\n%s", w, got)
		}
	}
}

func TestCheckExplains(t *testing.T) {
	f := newCheckFixture(t, checkCfg)
	f.write(t, "drop/news/2024/clip.mp4", "video", 0o644)
	f.write(t, "drop/news/2024/clip.jpg", "jpeg", 0o644)
	f.write(t, "drop/notes.txt", "x", 0o644)
	f.write(t, "drop/.partial.mov", "x", 0o644)
	f.write(t, "drop/empty.mov", "", 0o644)
	d := func(rel string) string { return filepath.Join(f.dir, rel) }
	out, errOut, err := f.run(t, nil, d("drop/news/2024/clip.mp4"), d("drop/news/2024/clip.jpg"), d("drop/notes.txt"),
		d("drop/.partial.mov"), d("drop/later/new.mov"), "/etc/hostname", d("drop/news"), d("drop/empty.mov"))
	if err != nil {
		t.Fatalf("check failed: %v\n%s%s", err, out, errOut)
	}
	wantLines(t, out,
		"ok    config "+f.cfg+": 1 watch folder(s), 2 rule(s)",
		"ok    state "+d("var/state.db")+": folder "+d("var")+" will be created",
		"ok    watch[0] "+d("drop")+": folder exists (mode auto)",
		"ok    credentials (env): secret id AKID****, secret key present",
		"ok    inotify: 3 folder(s) to watch + 0 watch(es) already in use, limit 8192",
		// the media file
		"  rule:      news ("+f.cfg+":5:9, match \"news/**/*.mp4\")",
		"  media:     type mp4, name \"2024 clip\"",
		"  procedure: news-transcode",
		"  class:     12",
		"  storage:   ap-chongqing",
		"  expires:   2024-07-01T12:00:00Z",
		"  source:    \"vodwatchd:",
		"  cover:     news/2024/clip.jpg (present)",
		"  after:     move to "+d("done")+", removing the folders it leaves empty",
		// the others
		"  not taken: cover of news/2024/clip.mp4 (uploaded with it, never on its own)",
		"  not taken: no rule matches; the file is left alone",
		"  not taken: ignored (ignore list: ",
		"  note:      the file does not exist; size 0 and mtime now assumed",
		"  rule:      rest (",
		"/etc/hostname\n  not taken: not inside any watch folder",
		"  not taken: a folder; files under it are matched one by one",
		"empty.mov\n  watch:     watch[0] "+d("drop")+" (mode auto)\n  path:      empty.mov\n  rule:      rest (",
		"  not taken: zero-byte file, refused with a warning (allow_empty: true on the rule uploads it)",
	)
	if strings.Contains(out, "AKIDcheckTestId0001") {
		t.Errorf("full secret id printed")
	}
}

func TestCheckConfigErrors(t *testing.T) {
	f := newCheckFixture(t, "vod:\n  region: ap-moon\nwatch:\n  - path: ./drop\n    settle: 3x\n    rules:\n      - match: \"[\"\n")
	out, errOut, err := f.run(t, nil)
	if err == nil || !strings.Contains(err.Error(), "3 error(s)") {
		t.Fatalf("want 3 errors, got %v", err)
	}
	wantLines(t, errOut,
		f.cfg+":2:11: vod.region: unknown region \"ap-moon\"",
		f.cfg+":5:13: watch[0].settle: bad duration \"3x\"",
		f.cfg+":7:16: watch[0].rules[0].match: bad glob \"[\"",
	)
	if out != "" {
		t.Errorf("machine checks ran on a bad config:\n%s", out)
	}
}

func TestCheckMachineProblems(t *testing.T) {
	tests := []struct {
		name  string
		cfg   string
		setup func(t *testing.T, f *checkFixture)
		want  []string
	}{
		{"missing root", "watch:\n  - path: ./nas\n    rules:\n      - match: \"*\"\n", nil,
			[]string{"FAIL  watch[0] ", "nas: stat ", "no such file or directory"}},
		{"root is a file", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n",
			func(t *testing.T, f *checkFixture) { f.write(t, "drop", "x", 0o644) },
			[]string{"drop: not a folder"}},
		{"state folder blocked by a file", "state: ./blocker/state.db\nwatch:\n  - path: ./drop\n    create: true\n    rules:\n      - match: \"*\"\n",
			func(t *testing.T, f *checkFixture) { f.write(t, "blocker", "x", 0o644) },
			[]string{"FAIL  state ", "blocker is not a folder"}},
		{"no credentials", "watch:\n  - path: ./drop\n    create: true\n    rules:\n      - match: \"*\"\n",
			func(t *testing.T, f *checkFixture) { f.env = map[string]string{} },
			[]string{"FAIL  credentials (env): no credentials: TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY must both be set"}},
		{"credentials file readable by others", "vod:\n  credentials: file:./cred\nwatch:\n  - path: ./drop\n    create: true\n    rules:\n      - match: \"*\"\n",
			func(t *testing.T, f *checkFixture) {
				f.write(t, "cred", "TENCENTCLOUD_SECRET_ID=AKIDfile00000001\nTENCENTCLOUD_SECRET_KEY=fileSecretValue\n", 0o644)
				f.env = map[string]string{"TENCENTCLOUD_SECRET_KEY": "fileSecretValue"} // so run() checks it never prints
			},
			[]string{"warn  credentials file ", "is readable by group/others (mode 0644)", "ok    credentials (file:"}},
		{"systemd credentials read from the LoadCredential= sources", "vod:\n  credentials: systemd:./creds\nwatch:\n  - path: ./drop\n    create: true\n    rules:\n      - match: \"*\"\n",
			func(t *testing.T, f *checkFixture) {
				f.write(t, "creds/secret_id", "AKIDsystemd000001\n", 0o600)
				f.write(t, "creds/secret_key", "systemdSecretValue\n", 0o644)
				f.env = map[string]string{"TENCENTCLOUD_SECRET_KEY": "systemdSecretValue"} // so run() checks it never prints
			},
			[]string{"warn  credential ", "secret_key is readable by group/others (mode 0644)", "ok    credentials (systemd:", "secret id AKID****"}},
		{"credentials under $CREDENTIALS_DIRECTORY outside the unit", "vod:\n  credentials: file:${CREDENTIALS_DIRECTORY}/vod\nwatch:\n  - path: ./drop\n    create: true\n    rules:\n      - match: \"*\"\n",
			func(t *testing.T, f *checkFixture) {
				t.Setenv("CREDENTIALS_DIRECTORY", "")
				os.Unsetenv("CREDENTIALS_DIRECTORY")
			},
			[]string{"warn  ", "vod.credentials: $CREDENTIALS_DIRECTORY is set by systemd for the service only",
				"warn  credentials (file:", "only the service has $CREDENTIALS_DIRECTORY"}},
		{"systemd credentials missing", "vod:\n  credentials: systemd:./creds\nwatch:\n  - path: ./drop\n    create: true\n    rules:\n      - match: \"*\"\n",
			nil, []string{"FAIL  credentials (systemd:", "systemd credential secret_id: open "}},
		{"root watched by another daemon", "state: ./var/state.db\nwatch:\n  - path: ./drop\n    create: true\n    rules:\n      - match: \"*\"\n",
			func(t *testing.T, f *checkFixture) {
				holdRoot(t, filepath.Join(f.dir, "drop"), "pid 4242 on host-b, state /var/lib/other/state.db")
			},
			[]string{"FAIL  watch[0] ", "is already watched by another vodwatchd (pid 4242 on host-b, state /var/lib/other/state.db)", "would upload every file twice"}},
		{"root watched by this configuration's daemon", "state: ./var/state.db\nwatch:\n  - path: ./drop\n    create: true\n    rules:\n      - match: \"*\"\n",
			func(t *testing.T, f *checkFixture) {
				holdRoot(t, filepath.Join(f.dir, "drop"), "pid 4243 on host-a, state "+filepath.Join(f.dir, "var/state.db"))
			},
			[]string{"ok    watch[0] ", "watched now by this configuration's daemon (pid 4243 on host-a"}},
		{"root watched by this configuration's emulator run", "state: ./var/state.db\nwatch:\n  - path: ./drop\n    create: true\n    rules:\n      - match: \"*\"\n",
			func(t *testing.T, f *checkFixture) {
				holdRoot(t, filepath.Join(f.dir, "drop"), "pid 4244 on host-a, state "+filepath.Join(f.dir, "var/state.emulator.db"))
			},
			[]string{"ok    watch[0] ", "watched now by this configuration's emulator run (pid 4244"}},
		{"inotify limit too low", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n",
			func(t *testing.T, f *checkFixture) {
				f.write(t, "drop/a/b/c/x", "x", 0o644)
				f.write(t, "max_user_watches", "3\n", 0o644)
			},
			[]string{"FAIL  inotify: watch root ", "needs 4 inotify watches (4 folders + 0 already in use by this user) but fs.inotify.max_user_watches is 3; raise it with `sysctl fs.inotify.max_user_watches=65536`"}},
		{"poll roots need no inotify", "watch:\n  - path: ./drop\n    mode: poll\n    rules:\n      - match: \"*\"\n",
			func(t *testing.T, f *checkFixture) {
				f.write(t, "drop/a/b/c/x", "x", 0o644)
				f.write(t, "max_user_watches", "3\n", 0o644)
			},
			[]string{"ok    inotify: no folders to watch yet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newCheckFixture(t, tt.cfg)
			if tt.setup != nil {
				tt.setup(t, f)
			}
			out, _, err := f.run(t, nil)
			wantLines(t, out, tt.want...)
			failing := strings.Contains(out, "FAIL")
			if failing != (err != nil) || (err != nil && !errors.Is(err, errCheckFailed)) {
				t.Errorf("FAIL lines %v but error %v", failing, err)
			}
		})
	}
}

// holdRoot takes root's lock as a running daemon would, until the test
// ends.
func holdRoot(t *testing.T, root, owner string) {
	t.Helper()
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := rootlock.Acquire(root, owner)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Release() })
}

func TestCheckOnline(t *testing.T) {
	cfg := "watch:\n  - path: ./drop\n    create: true\n    rules:\n      - match: \"*\"\n"
	f := newCheckFixture(t, cfg)
	out, _, err := f.run(t, nil, "--online")
	if err == nil {
		t.Fatalf("--online without a hook succeeded:\n%s", out)
	}
	wantLines(t, out, "FAIL  online: no online check available")

	var called *config.Config
	hook := func(ctx context.Context, env *cmdEnv, c *config.Config) error {
		called = c
		return errors.New("AuthFailure.SecretIdNotFound")
	}
	out, _, err = f.run(t, hook, "--online")
	if called == nil || err == nil {
		t.Fatalf("hook called %v, err %v", called != nil, err)
	}
	wantLines(t, out, "FAIL  online: AuthFailure.SecretIdNotFound")
	out, _, err = f.run(t, func(context.Context, *cmdEnv, *config.Config) error { return nil }, "--online")
	if err != nil {
		t.Errorf("passing hook: %v\n%s", err, out)
	}
	if _, _, err := f.run(t, nil); err != nil {
		t.Errorf("without --online the hook is not needed: %v", err)
	}
}

func TestCheckExampleConfigThroughCmdCheck(t *testing.T) {
	var out, errb bytes.Buffer
	env := &cmdEnv{stdout: &out, stderr: &errb, getenv: func(k string) string {
		return map[string]string{"TENCENTCLOUD_SECRET_ID": "AKIDexample000001", "TENCENTCLOUD_SECRET_KEY": "exampleKey"}[k]
	}}
	code := runMain(context.Background(), env, []string{"check", "--config", "../../config.example.yaml", "../../drop/news/2024/clip.mp4"})
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	wantLines(t, out.String(), "ok    config ../../config.example.yaml:", "  rule:      news (", "  after:     keep")
	if _, err := os.Stat("../../drop"); err == nil {
		t.Log("note: ./drop exists in the repository")
	}
}

func TestCheckUsage(t *testing.T) {
	var out, errb bytes.Buffer
	env := &cmdEnv{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	if code := runMain(context.Background(), env, []string{"check", "--bogus"}); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
	if code := runMain(context.Background(), env, []string{"check", "--config", filepath.Join(t.TempDir(), "none.yaml")}); code != 1 {
		t.Errorf("missing config: exit %d, want 1", code)
	}
}

// TestCheckBundlesAndSidecars: check describes bundle members and the
// daemon's own sidecars as the daemon treats them, and lists what an
// incomplete manifest still misses.
func TestCheckBundlesAndSidecars(t *testing.T) {
	f := newCheckFixture(t, "watch:\n  - path: ./drop\n    rules:\n      - name: hls\n        match: \"**/*.m3u8\"\n        bundle_timeout: 10m\n"+
		"      - name: all\n        match: \"**\"\n")
	f.write(t, "drop/show/master.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nv1/index.m3u8\n", 0o644)
	f.write(t, "drop/show/v1/index.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg0.ts\n#EXTINF:4,\nseg1.ts\n#EXT-X-ENDLIST\n", 0o644)
	f.write(t, "drop/show/v1/seg0.ts", "ts", 0o644)
	f.write(t, "drop/clip.mp4", "video", 0o644)
	f.write(t, "drop/clip.mp4.vod.json", "{}", 0o644)
	f.write(t, "drop/clip.mp4.error.json", "{}", 0o644)
	f.write(t, "drop/orphan.vod.json", "{}", 0o644)
	d := func(rel string) string { return filepath.Join(f.dir, rel) }
	out, errOut, err := f.run(t, nil, d("drop/show/master.m3u8"), d("drop/show/v1/index.m3u8"), d("drop/show/v1/seg0.ts"),
		d("drop/clip.mp4.vod.json"), d("drop/clip.mp4.error.json"), d("drop/orphan.vod.json"))
	if err != nil {
		t.Fatalf("check: %v\n%s%s", err, out, errOut)
	}
	wantLines(t, out,
		"master.m3u8\n  watch:     watch[0] ",
		"  rule:      hls (",
		"  missing:   1 file(s): v1/seg1.ts (the bundle waits up to 10m0s, then fails)",
		"index.m3u8\n  watch:     watch[0] "+d("drop")+" (mode auto)\n  path:      show/v1/index.m3u8\n  not taken: part of the HLS/DASH bundle of show/master.m3u8 (uploaded with it, never on its own)",
		"seg0.ts\n  watch:     watch[0] "+d("drop")+" (mode auto)\n  path:      show/v1/seg0.ts\n  not taken: part of the HLS/DASH bundle of show/v1/index.m3u8 (uploaded with it, never on its own)",
		"clip.mp4.vod.json\n  watch:     watch[0] "+d("drop")+" (mode auto)\n  path:      clip.mp4.vod.json\n  not taken: vodwatchd's own sidecar of clip.mp4 (result or error), never uploaded",
		"clip.mp4.error.json\n  watch:     watch[0] "+d("drop")+" (mode auto)\n  path:      clip.mp4.error.json\n  not taken: vodwatchd's own sidecar of clip.mp4 (result or error), never uploaded",
		"orphan.vod.json\n  watch:     watch[0] "+d("drop")+" (mode auto)\n  path:      orphan.vod.json\n  rule:      all (",
	)
	f.write(t, "drop/show/v1/seg1.ts", "ts", 0o644)
	out, _, _ = f.run(t, nil, d("drop/show/master.m3u8"))
	wantLines(t, out, "  complete:  3 referenced file(s), 89 B")
}

// TestCheckAndRunAgreeOnInotifyBudget: watches already held by this user
// count against the limit in `check` as they do when the watcher starts.
// Before, check counted folders only and passed where run refused.
func TestCheckAndRunAgreeOnInotifyBudget(t *testing.T) {
	held := holdInotifyWatches(t, 40)
	f := newCheckFixture(t, "watch:\n  - path: ./drop\n    mode: notify\n    rules:\n      - match: \"*\"\n")
	f.inUse = nil // count the real watches, as the watcher does
	f.write(t, "drop/a/b/x", "x", 0o644)
	const dirs = 3 // drop, a, a/b
	limit := dirs + held/2
	f.write(t, "max_user_watches", fmt.Sprintf("%d\n", limit), 0o644)

	out, _, err := f.run(t, nil)
	if !errors.Is(err, errCheckFailed) || !strings.Contains(out, "FAIL  inotify: watch root ") ||
		!strings.Contains(out, "already in use by this user") {
		t.Fatalf("check with %d folders, >= %d watches in use, limit %d: err %v, want an inotify FAIL; output:\n%s",
			dirs, held, limit, err, out)
	}

	w, err := watcher.New(watcher.Config{Root: filepath.Join(f.dir, "drop"), Mode: watcher.ModeNotify,
		Out: make(chan watcher.Event, 64), MaxUserWatches: limit})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var le *watcher.LimitError
	if err := w.Run(ctx); !errors.As(err, &le) {
		t.Fatalf("watcher.Run with the same limit = %v, want a *LimitError (run refuses)", err)
	}

	f.write(t, "max_user_watches", fmt.Sprintf("%d\n", 1<<30), 0o644)
	if out, _, err := f.run(t, nil); err != nil {
		t.Fatalf("check with a large limit failed: %v\n%s", err, out)
	}
}

// holdInotifyWatches adds n real inotify watches for the test's duration
// and returns n.
func holdInotifyWatches(t *testing.T, n int) int {
	t.Helper()
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsw.Close() })
	base := t.TempDir()
	for i := range n {
		d := filepath.Join(base, strconv.Itoa(i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fsw.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	return n
}
