// Package drops makes what the end-to-end suites (crashtest, clustertest)
// drop into a watch folder, and checks VOD and the folders against it
// afterwards: media files small and multipart-sized, media with a cover,
// files a keep rule leaves in place, and HLS and DASH bundles with every
// file they reference.
package drops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/manifest"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// Item is one thing dropped: a media file (with an optional cover) or a
// bundle folder.
type Item struct {
	Name  string            // media name in VOD: the rules' {{.Rel}} of the main file
	Main  string            // rel of the main file
	Cover string            // rel of the cover, if any
	Keep  bool              // left in the drop folder by a keep rule; else moved to done with a sidecar
	Files map[string][]byte // every file of the item, rel under the drop root
}

// Set is the items dropped into one folder. Each is written in a staging
// folder beside it and renamed into the drop folder whole.
type Set struct {
	Stage, Drop, Done string
	Items             []*Item
	rng               *rand.Rand
	next              int
}

// NewSet makes the folders; rng picks the sizes (the caller's, so that a
// seed reproduces a whole run).
func NewSet(tb testing.TB, stage, drop, done string, rng *rand.Rand) *Set {
	tb.Helper()
	for _, d := range []string{stage, drop, done} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	return &Set{Stage: stage, Drop: drop, Done: done, rng: rng}
}

// The kinds of item Add makes. Their rules (see the suites) give every
// item the media name {{.Rel}} and move it to done with a sidecar, except
// Kept, matched by "keep*/**/*.mp4" with the keep action.
const (
	Small  = "small" // one file of 20-70 kB
	Multi  = "multi" // one file of 3-4 MiB: a multipart upload
	Covers = "cover" // show.mp4 with show.jpg beside it
	Kept   = "keep"  // one file a keep rule leaves in place
	HLS    = "hls"   // a master playlist, its variants and segments
	DASH   = "dash"  // an MPD with numbered segments
)

// itemFolder names an item's top folder: its kind and a running number.
const itemFolder = "%s%03d"

// Add drops one item of each kind given, in order.
func (s *Set) Add(tb testing.TB, kinds ...string) {
	tb.Helper()
	for _, kind := range kinds {
		s.next++
		dir := fmt.Sprintf(itemFolder, kind, s.next)
		it := &Item{Files: map[string][]byte{}}
		switch kind {
		case Small:
			it.Main = dir + "/clip.mp4"
			it.Files[it.Main] = testutil.Content(dir, 20_000+s.rng.IntN(50_000))
		case Multi:
			it.Main = dir + "/big.mp4"
			it.Files[it.Main] = testutil.Content(dir, 3<<20+s.rng.IntN(1<<20))
		case Covers:
			it.Main, it.Cover = dir+"/show.mp4", dir+"/show.jpg"
			it.Files[it.Main] = testutil.Content(dir, 40_000+s.rng.IntN(10_000))
			it.Files[it.Cover] = testutil.Content(dir+"jpg", 3000)
		case Kept:
			it.Main, it.Keep = dir+"/kept.mp4", true
			it.Files[it.Main] = testutil.Content(dir, 30_000+s.rng.IntN(10_000))
		case HLS, DASH:
			src := map[string]string{HLS: "hls_master", DASH: "dash_number"}[kind]
			top, files := bundle(tb, src)
			it.Main = dir + "/" + top
			for rel, b := range files {
				it.Files[dir+"/"+rel] = b
			}
		default:
			tb.Fatalf("drops: unknown kind %q", kind)
		}
		it.Name = it.Main
		for rel, b := range it.Files {
			p := filepath.Join(s.Stage, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				tb.Fatal(err)
			}
		}
		if err := os.Rename(filepath.Join(s.Stage, dir), filepath.Join(s.Drop, dir)); err != nil {
			tb.Fatal(err)
		}
		s.Items = append(s.Items, it)
	}
}

// bundle reads a bundle of internal/manifest's test data: its top
// manifest's name and every file of it, by rel.
func bundle(tb testing.TB, name string) (string, map[string][]byte) {
	tb.Helper()
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(self), "..", "..", "manifest", "testdata", name)
	top := "manifest.mpd"
	if _, err := os.Stat(filepath.Join(dir, "master.m3u8")); err == nil {
		top = "master.m3u8"
	}
	b, err := manifest.Resolve(context.Background(), filepath.Join(dir, top), manifest.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	rels := []string{top}
	for _, f := range b.Files {
		rels = append(rels, f.Rel)
	}
	files := map[string][]byte{}
	for _, rel := range rels {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			tb.Fatal(err)
		}
		files[rel] = data
	}
	return top, files
}

// Files counts the files of every item.
func (s *Set) Files() int {
	n := 0
	for _, it := range s.Items {
		n += len(it.Files)
	}
	return n
}

// Settled reports whether every item has a media of its name in VOD and
// its post-action ran: a moved item's sidecar is in the done folder.
func (s *Set) Settled(media []emulator.MediaInfo) bool {
	names := map[string]bool{}
	for _, m := range media {
		names[m.Name] = true
	}
	for _, it := range s.Items {
		if !names[it.Name] {
			return false
		}
		if it.Keep {
			continue
		}
		if _, err := os.Stat(s.sidecar(it)); err != nil {
			return false
		}
	}
	return true
}

func (s *Set) sidecar(it *Item) string {
	return filepath.Join(s.Done, filepath.FromSlash(it.Main)+".vod.json")
}

// Verify checks VOD (media, the emulator's list of them) and the folders
// against the items, reporting each difference as a test error: exactly
// one media per item, every file served with the item's bytes, every
// file intact where its rule leaves it (and a moved one gone from the
// drop folder, its sidecar naming the FileId), and no media for anything
// else. It returns the numbers of duplicate and lost media.
func (s *Set) Verify(tb testing.TB, media []emulator.MediaInfo) (dups, lost int) {
	tb.Helper()
	byName := map[string][]emulator.MediaInfo{}
	for _, m := range media {
		byName[m.Name] = append(byName[m.Name], m)
	}
	for _, it := range s.Items {
		ms := byName[it.Name]
		switch {
		case len(ms) == 0:
			lost++
			tb.Errorf("%s: not in VOD", it.Name)
			continue
		case len(ms) > 1:
			dups += len(ms) - 1
			tb.Errorf("%s: %d media in VOD", it.Name, len(ms))
		}
		s.verifyItem(tb, it, ms[0])
	}
	if len(media) != len(s.Items) {
		tb.Errorf("VOD holds %d media for %d items", len(media), len(s.Items))
	}
	return dups, lost
}

func (s *Set) verifyItem(tb testing.TB, it *Item, m emulator.MediaInfo) {
	tb.Helper()
	base := m.MediaURL[:strings.LastIndex(m.MediaURL, "/")]
	where := s.Done
	if it.Keep {
		where = s.Drop
	}
	for rel, want := range it.Files {
		at := base + "/" + strings.TrimPrefix(rel, path.Dir(it.Main)+"/")
		switch rel {
		case it.Main:
			at = m.MediaURL
		case it.Cover:
			at = m.CoverURL
		}
		if got, err := testutil.Get(at); err != nil || !bytes.Equal(got, want) {
			tb.Errorf("%s: %s differs in VOD (%d vs %d bytes, %v)", it.Name, rel, len(got), len(want), err)
		}
		if got, err := os.ReadFile(filepath.Join(where, filepath.FromSlash(rel))); err != nil || !bytes.Equal(got, want) {
			tb.Errorf("%s: %s not intact in %s (%v)", it.Name, rel, where, err)
		}
		if _, err := os.Stat(filepath.Join(s.Drop, filepath.FromSlash(rel))); !it.Keep && err == nil {
			tb.Errorf("%s: %s still in the drop folder", it.Name, rel)
		}
	}
	if it.Keep {
		return
	}
	var side struct{ FileId string }
	b, err := os.ReadFile(s.sidecar(it))
	if err != nil || json.Unmarshal(b, &side) != nil || side.FileId != m.FileID {
		tb.Errorf("%s: sidecar %v %s, want FileId %s", it.Name, err, b, m.FileID)
	}
}
