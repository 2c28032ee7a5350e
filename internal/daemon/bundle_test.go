package daemon_test

import (
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/manifest"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

const bundleRules = `    rules:
      - name: hls
        match: "**/*.m3u8"
        media_name: "{{.Dir}}"
        bundle_timeout: 1500ms
      - name: dash
        match: "**/*.mpd"
        media_name: "{{.Dir}}"
        bundle_timeout: 1500ms
      - name: all
        match: "**/*"`

// bundleFiles lists a committed ffmpeg bundle: its top manifest and every
// file it references (rel to the manifest's folder), manifests first.
func bundleFiles(t *testing.T, name string) (top string, files []string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "manifest", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	top = ""
	for _, m := range []string{"master.m3u8", "index.m3u8", "manifest.mpd"} {
		if exists(filepath.Join(dir, m)) {
			top = m
			break
		}
	}
	b, err := manifest.Resolve(context.Background(), filepath.Join(dir, top), manifest.Options{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var lists, rest []string
	for _, f := range b.Files {
		if _, ok := manifest.KindOf(f.Rel); ok {
			lists = append(lists, f.Rel)
		} else {
			rest = append(rest, f.Rel)
		}
	}
	return top, append(append([]string{top}, lists...), rest...)
}

// TestBundles writes HLS and DASH bundles file by file, manifests first and
// manifests last, under a "**/*" catch-all rule: each bundle becomes one
// media with every file at dir(MediaStoragePath)/<rel>; segments and
// variant playlists never become media of their own.
func TestBundles(t *testing.T) {
	h := startHarness(t, bundleRules)
	type bundle struct {
		folder string
		src    string
		files  []string
	}
	var all []bundle
	for _, name := range []string{"hls_master", "hls_fmp4", "dash_number", "dash_timeline"} {
		_, files := bundleFiles(t, name)
		for _, order := range []string{"first", "last"} {
			b := bundle{folder: name + "-" + order, src: filepath.Join("..", "manifest", "testdata", name), files: files}
			if order == "last" {
				rev := append([]string(nil), files[1:]...)
				// Segments first, then variant playlists, the top manifest last.
				var segs, lists []string
				for _, f := range rev {
					if _, ok := manifest.KindOf(f); ok {
						lists = append(lists, f)
					} else {
						segs = append(segs, f)
					}
				}
				b.files = append(append(segs, lists...), files[0])
			}
			all = append(all, b)
		}
	}
	for _, b := range all {
		for _, rel := range b.files {
			data, err := os.ReadFile(filepath.Join(b.src, filepath.FromSlash(rel)))
			if err != nil {
				t.Fatal(err)
			}
			h.writeFile(b.folder+"/"+rel, data)
			time.Sleep(15 * time.Millisecond)
		}
	}
	h.waitDone(len(all), 40*time.Second)
	time.Sleep(1500 * time.Millisecond) // a segment taken as media would be queued by now
	if jobs := h.jobs(); len(jobs) != len(all) {
		for _, j := range jobs {
			t.Logf("job %s (%s) %s", j.Key.Rel, j.Kind, j.Stage)
		}
		t.Fatalf("%d jobs, want %d (one per bundle)", len(jobs), len(all))
	}
	media := h.emu.Media()
	if len(media) != len(all) {
		t.Fatalf("emulator has %d media, want %d", len(media), len(all))
	}
	byName := map[string]int{}
	for _, m := range media {
		byName[m.Name] = byName[m.Name] + 1
	}
	for _, b := range all {
		if byName[b.folder] != 1 {
			t.Errorf("%s: %d media, want 1 (names: %v)", b.folder, byName[b.folder], byName)
			continue
		}
		top := b.files[0]
		if strings.HasSuffix(b.folder, "-last") {
			top = b.files[len(b.files)-1]
		}
		j := h.jobAt(b.folder + "/" + top)
		if j.Kind != state.KindBundle || j.Stage != state.StageDone {
			t.Errorf("%s: job %s is %s/%s", b.folder, j.Key.Rel, j.Kind, j.Stage)
			continue
		}
		base := j.Result.MediaURL[:strings.LastIndex(j.Result.MediaURL, "/")]
		for _, rel := range b.files {
			want, _ := os.ReadFile(filepath.Join(b.src, filepath.FromSlash(rel)))
			at := base + "/" + path.Clean(rel)
			if rel == top {
				at = j.Result.MediaURL // the top manifest is the media itself
			}
			if got := fetch(t, at); !bytes.Equal(got, want) {
				t.Errorf("%s: %s at dir(MediaStoragePath) differs", b.folder, rel)
			}
		}
	}
}

// TestBundleIncomplete: a bundle that stays incomplete past bundle_timeout
// fails, naming the missing files.
func TestBundleIncomplete(t *testing.T) {
	h := startHarness(t, bundleRules)
	src := filepath.Join("..", "manifest", "testdata", "hls_fmp4")
	for _, rel := range []string{"index.m3u8", "init.mp4", "seg_000.m4s", "seg_002.m4s"} {
		data, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			t.Fatal(err)
		}
		h.writeFile("part/"+rel, data)
	}
	j := h.waitStage("part/index.m3u8", state.StageFailed, 20*time.Second)
	if j.LastError == nil || j.LastError.Code != "BundleIncomplete" {
		t.Fatalf("last error = %+v, want BundleIncomplete", j.LastError)
	}
	for _, miss := range []string{"seg_001.m4s", "seg_003.m4s"} {
		if !strings.Contains(j.LastError.Message, miss) {
			t.Errorf("message %q does not name %s", j.LastError.Message, miss)
		}
	}
	if n := len(h.emu.Media()); n != 0 {
		t.Errorf("emulator has %d media, want none", n)
	}
	if n := len(h.jobs()); n != 1 {
		t.Errorf("%d jobs, want 1: the present segments are not media", n)
	}
}

// TestBundleRenamedAfterUpload: a bundle folder kept in the watch root and
// renamed (or moved) after its upload is linked to its FileId, as a file
// is: its top manifest is the bundle's identity. A copy beside it is a
// bundle of its own.
func TestBundleRenamedAfterUpload(t *testing.T) {
	h := startHarness(t, bundleRules)
	top, files := bundleFiles(t, "hls_master")
	src := filepath.Join("..", "manifest", "testdata", "hls_master")
	for _, rel := range files {
		data, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		h.writeFile("show/"+rel, data)
	}
	first := h.waitStage("show/"+top, state.StageDone, 30*time.Second)
	if err := os.MkdirAll(filepath.Join(h.drop, "archive"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(h.drop, "show"), filepath.Join(h.drop, "archive", "show")); err != nil {
		t.Fatal(err)
	}
	moved := h.waitStage("archive/show/"+top, state.StageDone, 30*time.Second)
	if moved.Kind != state.KindBundle || moved.Result.FileID != first.Result.FileID {
		t.Fatalf("moved bundle: %s job with FileId %q, want a bundle linked to %q", moved.Kind, moved.Result.FileID, first.Result.FileID)
	}
	h.never(1500*time.Millisecond, "a segment of the moved bundle taken as media", func() bool { return len(h.jobs()) > 2 })
	if n := len(h.emu.Media()); n != 1 {
		t.Fatalf("%d media after moving the bundle, want 1", n)
	}
	// A copy (cp -a: same bytes and mtimes, new inodes) beside it.
	for _, rel := range files {
		from := filepath.Join(h.drop, "archive", "show", filepath.FromSlash(rel))
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(from)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(h.dir, "copy", "show", filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(to, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(filepath.Join(h.dir, "copy"), filepath.Join(h.drop, "copy")); err != nil {
		t.Fatal(err)
	}
	copied := h.waitStage("copy/show/"+top, state.StageDone, 30*time.Second)
	if copied.Result.FileID == first.Result.FileID || len(h.emu.Media()) != 2 {
		t.Fatalf("a copy beside the bundle: FileId %q, %d media; want a media of its own", copied.Result.FileID, len(h.emu.Media()))
	}
}
