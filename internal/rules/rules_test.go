package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
)

var fixedNow = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

func loadSet(t *testing.T, yaml string) *Set {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return New(&cfg.Watch[0], func() time.Time { return fixedNow })
}

const rulesYAML = `
watch:
  - path: ./drop
    rules:
      - name: news
        match: "news/**/*.mp4"
        procedure: news-transcode
        class_id: 12
        storage_region: ap-chongqing
        media_name: "{{.Parent}} - {{.Stem}}"
        expire_after: 720h
        cover: [".jpg", "-cover.png"]
        ready_marker: "{{.Name}}.done"
        after: { action: delete, sidecar: true }
      - name: any-mp4
        match: "**/*.mp4"
        expire_time: 2030-01-02T03:04:05+08:00
        source_context: "src:{{.Rel}}"
        session_context: "sess:{{.Size}}"
      - name: hls
        match: "**/*.m3u8"
        ready_marker: ".ready"
        media_name: "{{printf \"%s\\x07\\n\\t  %s\" .Parent .Stem}}"
      - name: raw
        match: "raw/*"
`

func TestMatchFirstWins(t *testing.T) {
	s := loadSet(t, rulesYAML)
	tests := []struct{ rel, want string }{
		{"news/2024/clip.mp4", "news"},
		{"news/clip.mp4", "news"},
		{"sport/clip.mp4", "any-mp4"},
		{"clip.mp4", "any-mp4"},
		{"a/b/c/show.m3u8", "hls"},
		{"raw/noext", "raw"},
		{"raw/deeper/x.mov", ""},
		{"clip.MP4", ""}, // globs are case-sensitive
		{"notes.txt", ""},
		{"../etc/x.mp4", ""},
		{"/abs/x.mp4", ""},
		{"", ""},
	}
	for _, tt := range tests {
		r, ok := s.Match(tt.rel)
		got := ""
		if ok {
			got = r.Name
		}
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Match(%q) = %q, %v; want %q", tt.rel, got, ok, tt.want)
		}
	}
}

func TestParams(t *testing.T) {
	s := loadSet(t, rulesYAML)
	root := "/srv/drop"
	mod := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		rel   string
		check func(t *testing.T, p Params)
	}{
		{"news/2024/Big Clip.mp4", func(t *testing.T, p Params) {
			want := Params{Rule: "news", MediaType: "mp4", MediaName: "2024 - Big Clip", Procedure: "news-transcode",
				ExpireTime: "2024-07-01T12:00:00Z", ClassID: 12, StorageRegion: "ap-chongqing", ConcurrentUploadNumber: 32,
				ReadyMarker: "news/2024/Big Clip.mp4.done", CoverWait: 30 * time.Second, BundleTimeout: 30 * time.Minute}
			if p.Rule != want.Rule || p.MediaType != want.MediaType || p.MediaName != want.MediaName || p.Procedure != want.Procedure ||
				p.ExpireTime != want.ExpireTime || p.ClassID != want.ClassID || p.StorageRegion != want.StorageRegion ||
				p.ConcurrentUploadNumber != want.ConcurrentUploadNumber || p.ReadyMarker != want.ReadyMarker ||
				p.CoverWait != want.CoverWait || p.BundleTimeout != want.BundleTimeout {
				t.Errorf("got %+v\nwant %+v", p, want)
			}
			if got := strings.Join(p.CoverCandidates, ","); got != "news/2024/Big Clip.jpg,news/2024/Big Clip-cover.png" {
				t.Errorf("cover candidates %q", got)
			}
			if p.After.Action != config.AfterDelete || !p.After.Sidecar {
				t.Errorf("after %+v", p.After)
			}
			if !strings.HasPrefix(p.SourceContext, "vodwatchd:") || len(p.SourceContext) != len("vodwatchd:")+32 {
				t.Errorf("default source context %q", p.SourceContext)
			}
		}},
		{"sport/x.mp4", func(t *testing.T, p Params) {
			if p.ExpireTime != "2030-01-01T19:04:05Z" || p.SourceContext != "src:sport/x.mp4" || p.SessionContext != "sess:42" {
				t.Errorf("got %+v", p)
			}
			if p.MediaName != "x" {
				t.Errorf("default media name %q", p.MediaName)
			}
		}},
		{"show/master.m3u8", func(t *testing.T, p Params) {
			if p.MediaName != "show master" || p.MediaType != "m3u8" || p.ReadyMarker != "show/.ready" || p.ExpireTime != "" {
				t.Errorf("got %+v", p)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rel, func(t *testing.T) {
			r, ok := s.Match(tt.rel)
			if !ok {
				t.Fatalf("no rule for %q", tt.rel)
			}
			p, err := r.Params(FileFacts{Root: root, Rel: tt.rel, Size: 42, ModTime: mod})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}

func TestParamsSourceContextIsStable(t *testing.T) {
	s := loadSet(t, rulesYAML)
	r, _ := s.Match("news/a.mp4")
	f := FileFacts{Root: "/srv/drop", Rel: "news/a.mp4", Size: 1, ModTime: fixedNow}
	p1, _ := r.Params(f)
	p2, _ := r.Params(f)
	f.Size = 2
	p3, _ := r.Params(f)
	f.JobID = "job-77"
	p4, _ := r.Params(f)
	if p1.SourceContext != p2.SourceContext || p1.SourceContext == p3.SourceContext || p4.SourceContext != "vodwatchd:job-77" {
		t.Errorf("source contexts %q %q %q %q", p1.SourceContext, p2.SourceContext, p3.SourceContext, p4.SourceContext)
	}
}

func TestParamsErrors(t *testing.T) {
	s := loadSet(t, `
watch:
  - path: ./drop
    rules:
      - match: "noext/*"
      - match: "long/*"
        source_context: "{{.Rel}}{{.Rel}}{{.Rel}}"
      - match: "bad/*"
        media_name: "{{slice .Name 0 10}}"
`)
	long := "long/" + strings.Repeat("n", 116) + ".mp4"
	tests := []struct{ rel, want string }{
		{"noext/README", `watch[0].rules[0].media_type: for "noext/README": the file has no extension`},
		{long, `watch[0].rules[1].source_context: for "` + long + `": renders to 375 characters, VOD allows 250`},
		{"bad/ab.mp4", `watch[0].rules[2].media_name: for "bad/ab.mp4": template "{{slice .Name 0 10}}"`},
	}
	for _, tt := range tests {
		r, ok := s.Match(tt.rel)
		if !ok {
			t.Fatalf("no rule for %q", tt.rel)
		}
		_, err := r.Params(FileFacts{Root: "/d", Rel: tt.rel})
		var pe *ParamError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "config.yaml:") {
			t.Errorf("Params(%q) error %v, want it to contain %q and the rule's file:line", tt.rel, err, tt.want)
		}
	}
}

func TestSanitizeName(t *testing.T) {
	tests := map[string]string{
		"plain":                         "plain",
		"  spaced \t\n out  ":           "spaced out",
		"bell\x07and\x1bescape":         "bellandescape",
		"bidi\u202eevil":                "bidievil",
		"bad\xffutf8":                   "bad\uFFFDutf8",
		strings.Repeat("a", 100):        strings.Repeat("a", 64),
		strings.Repeat("视", 70):         strings.Repeat("视", 64),
		strings.Repeat("a", 63) + " bc": strings.Repeat("a", 63),
	}
	for in, want := range tests {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsCover(t *testing.T) {
	s := loadSet(t, rulesYAML)
	tests := []struct {
		rel      string
		siblings []string
		media    string
	}{
		{"news/clip.jpg", []string{"clip.mp4", "clip.jpg"}, "news/clip.mp4"},
		{"news/clip-cover.png", []string{"clip.mp4", "clip-cover.png"}, "news/clip.mp4"},
		{"news/clip.png", []string{"clip.mp4", "clip.png"}, ""},      // .png is not a suffix of the news rule
		{"news/clip.jpg", []string{"other.mp4", "clip.jpg"}, ""},     // no media with that stem
		{"sport/clip.jpg", []string{"clip.mp4", "clip.jpg"}, ""},     // any-mp4 has no cover suffixes
		{"news/clip.jpg", []string{".clip.mp4", "clip.jpg"}, ""},     // ignored sibling
		{"news/clip.jpg", []string{"clip.mp4.part", "clip.jpg"}, ""}, // ignored/unmatched sibling
	}
	for _, tt := range tests {
		media, ok := s.IsCover(tt.rel, tt.siblings)
		if media != tt.media || ok != (tt.media != "") {
			t.Errorf("IsCover(%q, %v) = %q, %v; want %q", tt.rel, tt.siblings, media, ok, tt.media)
		}
	}
}
