package postaction

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInterruptedMoveCompletes (issue 18 item 11): a move killed after its
// copy reached the destination and before the source was removed is
// completed from its recorded plan: the source goes, and no second copy
// ("clip (1).mp4") appears.
func TestInterruptedMoveCompletes(t *testing.T) {
	cases := []struct {
		name   string
		before func(t *testing.T, root, to string) // the disk as the crash left it
		want   string                              // file (under to) holding the media
	}{
		{"copied, source not removed", func(t *testing.T, root, to string) {
			write(t, to+"/news/clip.mp4", "media")
		}, "news/clip.mp4"},
		{"partial copy left", func(t *testing.T, root, to string) {
			write(t, partialName(to+"/news/clip.mp4"), "med")
		}, "news/clip.mp4"},
		{"planned name taken by another file meanwhile", func(t *testing.T, root, to string) {
			write(t, to+"/news/clip.mp4", "someone else's")
		}, "news/clip (1).mp4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root, to := t.TempDir(), t.TempDir()
			write(t, root+"/news/clip.mp4", "media")
			tc.before(t, root, to)
			plan := map[string]string{"news/clip.mp4": filepath.Join(to, "news", "clip.mp4")}
			var recorded []map[string]string
			spec := Spec{Action: Move, To: to, Sidecar: true, Planned: plan, Record: func(p map[string]string) error {
				if !exists(root + "/news/clip.mp4") {
					t.Error("the plan was recorded after a file moved")
				}
				recorded = append(recorded, p)
				return nil
			}}
			files := Files{Root: root, Main: "news/clip.mp4"}
			out, err := Done(context.Background(), files, spec, res)
			if err != nil {
				t.Fatal(err)
			}
			if exists(root + "/news/clip.mp4") {
				t.Error("the source is still there: two copies")
			}
			if got := readBody(t, filepath.Join(to, tc.want)); got != "media" {
				t.Errorf("%s = %q, want the media", tc.want, got)
			}
			if out.Main != filepath.Join(to, tc.want) {
				t.Errorf("Main = %s, want %s", out.Main, filepath.Join(to, tc.want))
			}
			entries, _ := os.ReadDir(to + "/news")
			var mp4 int
			for _, e := range entries {
				if strings.Contains(e.Name(), "clip") && strings.HasSuffix(e.Name(), ".mp4") && readBody(t, filepath.Join(to, "news", e.Name())) == "media" {
					mp4++
				}
				if strings.HasPrefix(e.Name(), ".vodwatchd-partial") {
					t.Errorf("partial copy %s left", e.Name())
				}
			}
			if mp4 != 1 {
				t.Errorf("%d copies of the media in the done folder, want 1", mp4)
			}
			if tc.want != "news/clip.mp4" && len(recorded) == 0 {
				t.Error("a new plan was not recorded")
			}
		})
	}
}

// TestSidecarFollowsFinalName (issue 18 item 9): a file moved under a free
// name ("clip (1).mp4") gets its sidecar under that name; the sidecar of
// the file that had the name first is left alone.
func TestSidecarFollowsFinalName(t *testing.T) {
	root, to := t.TempDir(), t.TempDir()
	for i, id := range []string{"first", "second"} {
		write(t, root+"/clip.mp4", id)
		r := res
		r.FileID = id
		out, err := Done(context.Background(), Files{Root: root, Main: "clip.mp4"}, Spec{Action: Move, To: to, Sidecar: true}, r)
		if err != nil {
			t.Fatal(err)
		}
		name := []string{"clip.mp4", "clip (1).mp4"}[i]
		if out.Main != filepath.Join(to, name) || out.Sidecar != filepath.Join(to, name)+".vod.json" {
			t.Errorf("run %d: main %s sidecar %s, want %s and its .vod.json", i, out.Main, out.Sidecar, name)
		}
	}
	for name, id := range map[string]string{"clip.mp4": "first", "clip (1).mp4": "second"} {
		var got Result
		if err := json.Unmarshal([]byte(readBody(t, filepath.Join(to, name)+".vod.json")), &got); err != nil {
			t.Fatal(err)
		}
		if got.FileID != id || readBody(t, filepath.Join(to, name)) != id {
			t.Errorf("%s holds %q with a sidecar of %q, want %q for both", name, readBody(t, filepath.Join(to, name)), got.FileID, id)
		}
	}
}

// TestSidecarNames: a media name too long for "<name>.vod.json" gets a
// shortened sidecar name (no endless retry), recognisably ours; a user's
// own "<name>.vod.json" is never overwritten.
func TestSidecarNames(t *testing.T) {
	t.Run("255-byte name", func(t *testing.T) {
		root := t.TempDir()
		long := strings.Repeat("é", 125) + "x.mp4" // 255 bytes
		write(t, filepath.Join(root, long), "media")
		r := res
		r.Path = long
		out, err := Done(context.Background(), Files{Root: root, Main: long}, Spec{Action: Keep, Sidecar: true}, r)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(out.Sidecar)
		if len(base) > 255 || !strings.HasSuffix(base, ".vod.json") || !IsResultSidecar(out.Sidecar) {
			t.Fatalf("sidecar %q (%d bytes): want a name of at most 255 bytes, ending .vod.json, recognised as ours", base, len(base))
		}
		other := sidecarName(strings.Repeat("é", 125)+"y.mp4", "", ResultSuffix)
		if other == base {
			t.Error("two long names share a sidecar name")
		}
	})
	t.Run("user's own sidecar kept", func(t *testing.T) {
		root := t.TempDir()
		write(t, root+"/clip.mp4", "media")
		write(t, root+"/clip.mp4.vod.json", "my own notes")
		r := res
		r.Path = "clip.mp4"
		for range 2 {
			out, err := Done(context.Background(), Files{Root: root, Main: "clip.mp4"}, Spec{Action: Keep, Sidecar: true}, r)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(root, "clip.mp4 (1).vod.json"); out.Sidecar != want {
				t.Fatalf("sidecar %s, want %s", out.Sidecar, want)
			}
		}
		if got := readBody(t, root+"/clip.mp4.vod.json"); got != "my own notes" {
			t.Fatalf("the user's file was overwritten: %q", got)
		}
		if exists(root + "/clip.mp4 (2).vod.json") {
			t.Fatal("a second run wrote another sidecar")
		}
	})
}

// TestMoveIntoRootThroughSymlinkRefused (issue 18 item 8): a destination
// that a symlink made after start leads into the watch root is refused at
// move time; nothing moves.
func TestMoveIntoRootThroughSymlinkRefused(t *testing.T) {
	root, other := t.TempDir(), t.TempDir()
	write(t, root+"/a.mp4", "media")
	link := filepath.Join(other, "done")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	_, err := Done(context.Background(), Files{Root: root, Main: "a.mp4"}, Spec{Action: Move, To: filepath.Join(link, "later")}, res)
	if err == nil || !strings.Contains(err.Error(), "inside the watch root") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if readBody(t, root+"/a.mp4") != "media" || exists(root+"/later") {
		t.Fatal("a file moved")
	}
	if errors.Is(err, os.ErrNotExist) {
		t.Fatal("wrong error kind")
	}
}
