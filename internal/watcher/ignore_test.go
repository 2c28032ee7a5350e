package watcher

import (
	"strings"
	"testing"
)

func TestDefaultIgnore(t *testing.T) {
	for _, tc := range []struct {
		rel   string
		isDir bool
		want  bool
	}{
		{"", true, false},
		{"movie.mp4", false, false},
		{".DS_Store", false, true},
		{"sub/.hidden.mp4", false, true},
		{".git", true, true},
		{"a/movie.mp4.part", false, true},
		{"movie.mp4.PART", false, true},
		{"x.tmp", false, true},
		{"dl.crdownload", false, true},
		{"up.filepart", false, true},
		{".movie.mp4.a1B2c3", false, true},
		{"movie.part", true, false}, // suffixes are for files
		{".part", false, true},      // a dotfile anyway
		{"part", false, false},
		{"news/clip.tmp.mp4", false, false},
	} {
		if got := DefaultIgnore(tc.rel, tc.isDir); got != tc.want {
			t.Errorf("DefaultIgnore(%q, %v) = %v, want %v", tc.rel, tc.isDir, got, tc.want)
		}
	}
	for name, want := range map[string]bool{
		".movie.mp4.a1B2c3": true, ".x.ABCDEF": true, ".x.ABCDE": false,
		"movie.mp4.a1B2c3": false, ".x.ab-def": false, ".a1B2c3": false,
	} {
		if got := IsRsyncTemp(name); got != want {
			t.Errorf("IsRsyncTemp(%q) = %v, want %v", name, got, want)
		}
	}
	if p := DefaultIgnorePatterns(); len(p) != 5 || p[0] != ".*" {
		t.Errorf("DefaultIgnorePatterns = %v", p)
	}
}

func FuzzDefaultIgnore(f *testing.F) {
	for _, s := range []string{"a.mp4", ".x.abcdef", "a/b.part", "\xff.tmp", "", ".", "a/.b/c"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, rel string, isDir bool) {
		got := DefaultIgnore(rel, isDir)
		base := rel[strings.LastIndex(rel, "/")+1:]
		if rel != "" && strings.HasPrefix(base, ".") && base != "" && !got {
			t.Fatalf("dot name %q not ignored", rel)
		}
		if rel == "" && got {
			t.Fatal("root ignored")
		}
	})
}
