package manifest

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// bundleCases are the ffmpeg-made bundles under testdata (see make.sh).
var bundleCases = []struct {
	dir, top string
	kind     Kind
}{
	{"hls_fmp4", "index.m3u8", HLS},
	{"hls_aes", "index.m3u8", HLS},
	{"hls_single", "index.m3u8", HLS},
	{"hls_master", "master.m3u8", HLS},
	{"dash_timeline", "manifest.mpd", DASH},
	{"dash_time", "manifest.mpd", DASH},
	{"dash_number", "manifest.mpd", DASH},
	{"dash_list", "manifest.mpd", DASH},
}

// folderFiles lists every file under dir (rel -> size) except the top
// manifest and ffmpeg's key info input, which no playlist references.
func folderFiles(t *testing.T, dir, top string) map[string]int64 {
	t.Helper()
	want := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == top || strings.HasSuffix(rel, ".keyinfo") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want[filepath.ToSlash(rel)] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func bundleFiles(b *Bundle) map[string]int64 {
	got := map[string]int64{}
	for _, f := range b.Files {
		got[f.Rel] = f.Size
	}
	return got
}

func TestFFmpegBundlesResolveToExactlyTheirFiles(t *testing.T) {
	for _, tc := range bundleCases {
		t.Run(tc.dir, func(t *testing.T) {
			dir := filepath.Join("testdata", tc.dir)
			b, err := Resolve(context.Background(), filepath.Join(dir, tc.top), Options{})
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if b.Kind != tc.kind {
				t.Errorf("Kind = %q, want %q", b.Kind, tc.kind)
			}
			want := folderFiles(t, dir, tc.top)
			if got := bundleFiles(b); !reflect.DeepEqual(got, want) {
				t.Errorf("files:\n got %v\nwant %v", got, want)
			}
			if len(b.Files) != len(want) {
				t.Errorf("%d File entries for %d distinct files: not de-duplicated", len(b.Files), len(want))
			}
			checkFileFields(t, b)
		})
	}
}

func checkFileFields(t *testing.T, b *Bundle) {
	t.Helper()
	absDir, _ := filepath.Abs(filepath.Dir(b.Manifest))
	if b.Dir != absDir || !filepath.IsAbs(b.Manifest) {
		t.Errorf("Dir = %q Manifest = %q, want absolute paths in %q", b.Dir, b.Manifest, absDir)
	}
	for _, f := range b.Files {
		if !filepath.IsAbs(f.Path) || f.From == "" || f.Line <= 0 {
			t.Errorf("file %+v: want absolute Path, From and Line", f)
		}
		data, err := os.ReadFile(f.Path)
		if err != nil || int64(len(data)) != f.Size {
			t.Errorf("file %s: read %d bytes (%v), Size %d", f.Rel, len(data), err, f.Size)
		}
	}
}

func TestFFmpegHLSMasterRecordsWhereEachFileIsReferenced(t *testing.T) {
	b, err := Resolve(context.Background(), "testdata/hls_master/master.m3u8", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]File{}
	for _, f := range b.Files {
		got[f.Rel] = f
	}
	if f := got["lo/index.m3u8"]; f.From != "master.m3u8" || f.Line != 7 || f.Element != "EXT-X-STREAM-INF" {
		t.Errorf("lo/index.m3u8 = %+v, want from master.m3u8 line 7 EXT-X-STREAM-INF", f)
	}
	if f := got["lo/seg_002.ts"]; f.From != "lo/index.m3u8" || f.Line != 11 {
		t.Errorf("lo/seg_002.ts = %+v, want from lo/index.m3u8 line 11", f)
	}
}

func TestFFmpegDASHAudioPrimingBugIsAMissingFile(t *testing.T) {
	// ffmpeg 5.1 names the first AAC segment chunk-1--1024.m4s while the MPD
	// says t="0": a player would fetch chunk-1-0.m4s, so the bundle is
	// incomplete and Resolve must say exactly which file is absent.
	_, err := Resolve(context.Background(), "testdata/dash_audio/manifest.mpd", Options{})
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want *MissingError", err)
	}
	var rels []string
	for _, f := range me.Missing {
		rels = append(rels, f.Rel)
	}
	sort.Strings(rels)
	if !reflect.DeepEqual(rels, []string{"chunk-1-0.m4s"}) {
		t.Fatalf("missing = %v, want [chunk-1-0.m4s]", rels)
	}
	m := me.Missing[0]
	if m.Element != "Period[0]/AdaptationSet[1]/Representation[1]/SegmentTemplate/SegmentTimeline/S[0]" || m.Line != 26 {
		t.Errorf("missing file position = line %d %q", m.Line, m.Element)
	}
	if !strings.Contains(err.Error(), "chunk-1-0.m4s") {
		t.Errorf("message %q does not name the file", err)
	}
}
