package rules

import (
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vodwatchd/vodwatchd/internal/config"
)

// FuzzRuleMatch loads a one-rule config from a fuzzed glob and template,
// then matches and renders a fuzzed path: no panic, no hang, and the
// rendered parameters always within VOD's limits.
func FuzzRuleMatch(f *testing.F) {
	f.Add("news/**/*.mp4", "news/2024/clip.mp4", "{{.Parent}} {{.Stem}}")
	f.Add("**/*.{mp4,mov}", "a/b.mov", "{{.Stem | upper | truncate 3}}")
	f.Add("[a-c]?/x", "b1/x", `{{printf "%05d" .Size}}-{{.ModTime.Format "2006"}}`)
	f.Add("**", "a/\x07b\n/c", "{{if .Dir}}{{.Dir}}{{else}}root{{end}}")
	if b, err := os.ReadFile("../../config.example.yaml"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if _, v, ok := strings.Cut(line, "match: "); ok {
				f.Add(strings.Trim(v, `"`), "news/x/clip.mp4", "{{.Stem}}")
			}
		}
	}
	f.Fuzz(func(t *testing.T, glob, rel, tmpl string) {
		if !utf8.ValidString(glob) || !utf8.ValidString(tmpl) {
			return // YAML itself refuses invalid UTF-8
		}
		yaml := "watch:\n  - path: /srv/drop\n    rules:\n      - match: " + quote(glob) + "\n        media_name: " + quote(tmpl) + "\n"
		cfg, err := config.Parse("/fuzz/config.yaml", []byte(yaml))
		if err != nil {
			return
		}
		s := New(&cfg.Watch[0], func() time.Time { return time.Unix(0, 0) })
		r, ok := s.Match(rel)
		if !ok {
			return
		}
		p, err := r.Params(FileFacts{Root: "/srv/drop", Rel: rel, Size: 7, ModTime: time.Unix(1e9, 0)})
		if err != nil {
			if !strings.Contains(err.Error(), "/fuzz/config.yaml:") {
				t.Fatalf("error without location: %v", err)
			}
			return
		}
		if n := utf8.RuneCountInString(p.MediaName); n == 0 || n > config.MaxMediaName {
			t.Fatalf("media name %q has %d characters", p.MediaName, n)
		}
		if strings.ContainsFunc(p.MediaName, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("control character in media name %q", p.MediaName)
		}
		if utf8.RuneCountInString(p.SourceContext) > config.MaxSourceContext {
			t.Fatalf("source context too long: %q", p.SourceContext)
		}
		s.IsCover(rel, []string{"a.mp4", "clip.jpg"})
	})
}

// quote makes a YAML double-quoted scalar.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfeff || r == 0x2028 || r == 0x2029:
			b.WriteString(`\u`)
			b.WriteString(strings.ToUpper(strings.TrimPrefix(hex4(r), "")))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func hex4(r rune) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[r>>12&0xf], digits[r>>8&0xf], digits[r>>4&0xf], digits[r&0xf]})
}
