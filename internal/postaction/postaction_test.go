package postaction

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func write(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readBody(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

var res = Result{FileID: "5285890781234", MediaURL: "http://x/media/a.mp4", Path: "news/a.mp4", UploadedAt: time.Unix(1700000000, 0).UTC()}

func TestDone(t *testing.T) {
	tests := []struct {
		name      string
		spec      Spec
		wantMain  func(root, to string) string // where the main file must be ("" = gone)
		wantCar   func(root, to string) string
		wantEmpty bool // the emptied news/ folder is removed
	}{
		{"keep", Spec{Action: Keep}, func(r, _ string) string { return r + "/news/a.mp4" }, nil, false},
		{"keep with sidecar", Spec{Action: Keep, Sidecar: true}, func(r, _ string) string { return r + "/news/a.mp4" },
			func(r, _ string) string { return r + "/news/a.mp4.vod.json" }, false},
		{"move keeps the relative path and the emptied folder", Spec{Action: Move, Sidecar: true}, func(_, to string) string { return to + "/news/a.mp4" },
			func(_, to string) string { return to + "/news/a.mp4.vod.json" }, false},
		{"move with prune_empty", Spec{Action: Move, Options: Options{PruneEmpty: true}}, func(_, to string) string { return to + "/news/a.mp4" },
			nil, true},
		{"delete keeps the emptied folder", Spec{Action: Delete}, func(string, string) string { return "" }, nil, false},
		{"delete with prune_empty", Spec{Action: Delete, Options: Options{PruneEmpty: true}}, func(string, string) string { return "" }, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, to := t.TempDir(), t.TempDir()
			write(t, root+"/news/a.mp4", "media")
			write(t, root+"/news/a.jpg", "cover")
			if tt.spec.Action == Move {
				tt.spec.To = to
			}
			files := Files{Root: root, Main: "news/a.mp4", Extra: []string{"news/a.jpg"}}
			for i := 0; i < 2; i++ { // the second run proves idempotence
				if _, err := Done(context.Background(), files, tt.spec, res); err != nil {
					t.Fatalf("run %d: %v", i, err)
				}
			}
			if want := tt.wantMain(root, to); want != "" {
				if got := readBody(t, want); got != "media" {
					t.Fatalf("main file %s = %q", want, got)
				}
			} else if exists(root + "/news/a.mp4") {
				t.Fatal("main file still there after delete")
			}
			if tt.wantCar != nil {
				var got Result
				if err := json.Unmarshal([]byte(readBody(t, tt.wantCar(root, to))), &got); err != nil {
					t.Fatal(err)
				}
				if got.FileID != res.FileID || got.MediaURL != res.MediaURL {
					t.Fatalf("sidecar = %+v", got)
				}
			}
			if exists(root+"/news") == tt.wantEmpty {
				t.Fatalf("news/ exists=%v, want removed=%v", exists(root+"/news"), tt.wantEmpty)
			}
			if !exists(root) {
				t.Fatal("the watch root itself was removed")
			}
		})
	}
}

func TestMoveNeverOverwrites(t *testing.T) {
	root, to := t.TempDir(), t.TempDir()
	write(t, root+"/a.mp4", "new")
	write(t, to+"/a.mp4", "old")
	write(t, to+"/a (1).mp4", "older")
	if _, err := Done(context.Background(), Files{Root: root, Main: "a.mp4"}, Spec{Action: Move, To: to}, res); err != nil {
		t.Fatal(err)
	}
	if readBody(t, to+"/a.mp4") != "old" || readBody(t, to+"/a (1).mp4") != "older" {
		t.Fatal("an existing file was overwritten")
	}
	if got := readBody(t, to+"/a (2).mp4"); got != "new" {
		t.Fatalf("moved file = %q", got)
	}
}

func TestMoveAcrossDevices(t *testing.T) {
	other := "/dev/shm"
	var a, b syscallStat
	root := t.TempDir()
	if !statDev(root, &a) || !statDev(other, &b) || a.dev == b.dev {
		t.Skip("no second filesystem to move across")
	}
	to, err := os.MkdirTemp(other, "postaction")
	if err != nil {
		t.Skip("cannot write to", other)
	}
	t.Cleanup(func() { os.RemoveAll(to) })
	write(t, root+"/deep/a.mp4", strings.Repeat("x", 1<<20))
	if _, err := Done(context.Background(), Files{Root: root, Main: "deep/a.mp4"}, Spec{Action: Move, To: to}, res); err != nil {
		t.Fatal(err)
	}
	if got := readBody(t, to+"/deep/a.mp4"); len(got) != 1<<20 {
		t.Fatalf("copied %d bytes", len(got))
	}
	if exists(root + "/deep/a.mp4") {
		t.Fatal("source kept after a cross-device move")
	}
	if exists(partialName(to + "/deep/a.mp4")) {
		t.Fatal("partial copy left behind")
	}
}

func TestQuarantine(t *testing.T) {
	root, q := t.TempDir(), t.TempDir()
	write(t, root+"/x/bad.mp4", "media")
	f := Failure{Path: "x/bad.mp4", Code: "InvalidParameterValue.MediaType", Message: "bad type", Attempts: 3}
	if err := Quarantine(context.Background(), Files{Root: root, Main: "x/bad.mp4"}, q, f, Options{}); err != nil {
		t.Fatal(err)
	}
	if readBody(t, q+"/x/bad.mp4") != "media" {
		t.Fatal("file not in quarantine")
	}
	var got Failure
	if err := json.Unmarshal([]byte(readBody(t, q+"/x/bad.mp4.error.json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Code != f.Code || got.Attempts != 3 {
		t.Fatalf("error sidecar = %+v", got)
	}
}

func TestBadInput(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/a.mp4", "media")
	if err := os.Mkdir(root+"/dir.mp4", 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files Files
		spec  Spec
		want  string
	}{
		{"move without folder", Files{Root: root, Main: "a.mp4"}, Spec{Action: Move}, "no destination"},
		{"unknown action", Files{Root: root, Main: "a.mp4"}, Spec{Action: "shred"}, "unknown action"},
		{"vanished source", Files{Root: root, Main: "gone.mp4"}, Spec{Action: Move, To: t.TempDir()}, "vanished"},
		{"not a regular file", Files{Root: root, Main: "dir.mp4"}, Spec{Action: Move, To: t.TempDir()}, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Done(context.Background(), tt.files, tt.spec, res)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if readBody(t, root+"/a.mp4") != "media" {
				t.Fatal("original lost")
			}
		})
	}
	if err := Quarantine(context.Background(), Files{Root: root, Main: "a.mp4"}, "", Failure{}, Options{}); err == nil {
		t.Fatal("quarantine without a folder accepted")
	}
}

// TestGroupReadableUnderUMask077: under the unit's UMask=0077, sidecars and
// the folders created for them are private unless GroupReadable, which
// makes them 0640/0750; folders that existed keep their mode and moved
// files keep theirs.
func TestGroupReadableUnderUMask077(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	for _, tc := range []struct {
		group             bool
		wantFile, wantDir fs.FileMode
	}{
		{false, 0o600, 0o700},
		{true, 0o640, 0o750},
	} {
		root, to := t.TempDir(), t.TempDir()
		if err := os.Chmod(to, 0o711); err != nil {
			t.Fatal(err)
		}
		write(t, root+"/news/2026/a.mp4", "media")
		if err := os.Chmod(root+"/news/2026/a.mp4", 0o604); err != nil {
			t.Fatal(err)
		}
		spec := Spec{Action: Move, To: to, Sidecar: true, Options: Options{GroupReadable: tc.group}}
		if _, err := Done(context.Background(), Files{Root: root, Main: "news/2026/a.mp4"}, spec, res); err != nil {
			t.Fatal(err)
		}
		mode := func(p string) fs.FileMode {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			return fi.Mode().Perm()
		}
		for p, want := range map[string]fs.FileMode{
			to + "/news/2026/a.mp4.vod.json": tc.wantFile,
			to + "/news":                     tc.wantDir,
			to + "/news/2026":                tc.wantDir,
			to:                               0o711, // existed: untouched
			to + "/news/2026/a.mp4":          0o604, // moved: its own mode
		} {
			if got := mode(p); got != want {
				t.Errorf("group_readable %v: %s mode %04o, want %04o", tc.group, p, got, want)
			}
		}
		q := t.TempDir()
		write(t, root+"/b.mp4", "media")
		if err := Quarantine(context.Background(), Files{Root: root, Main: "b.mp4"}, q+"/failed", Failure{}, spec.Options); err != nil {
			t.Fatal(err)
		}
		if got := mode(q + "/failed/b.mp4.error.json"); got != tc.wantFile {
			t.Errorf("group_readable %v: error sidecar mode %04o, want %04o", tc.group, got, tc.wantFile)
		}
		if got := mode(q + "/failed"); got != tc.wantDir {
			t.Errorf("group_readable %v: quarantine folder mode %04o, want %04o", tc.group, got, tc.wantDir)
		}
	}
}
