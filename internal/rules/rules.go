// Package rules decides which configured rule takes a file and renders the
// upload parameters that rule asks VOD for.
package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/vodwatchd/vodwatchd/internal/config"
)

// Set is one watch's ordered rules.
type Set struct {
	watch *config.Watch
	rules []*Rule
	// suffixes is every cover suffix of any rule, for IsCover's quick test.
	suffixes []string
}

// Rule is a configured rule bound to a clock.
type Rule struct {
	*config.Rule
	now func() time.Time
}

// New binds a loaded watch's rules to now (time.Now when nil), which
// expire_after is counted from.
func New(w *config.Watch, now func() time.Time) *Set {
	if now == nil {
		now = time.Now
	}
	s := &Set{watch: w}
	seen := map[string]bool{}
	for i := range w.Rules {
		r := &w.Rules[i]
		s.rules = append(s.rules, &Rule{Rule: r, now: now})
		for _, suf := range r.Cover {
			if !seen[suf] {
				seen[suf] = true
				s.suffixes = append(s.suffixes, suf)
			}
		}
	}
	return s
}

// Watch returns the watch the set was built from.
func (s *Set) Watch() *config.Watch { return s.watch }

// Rules returns the rules in order.
func (s *Set) Rules() []*Rule { return s.rules }

// cleanRel normalizes a slash path relative to the root; ok is false for
// paths that leave the root or are empty.
func cleanRel(rel string) (string, bool) {
	if rel == "" || strings.HasPrefix(rel, "/") {
		return "", false
	}
	c := path.Clean(rel)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}

// Match returns the first rule whose glob matches the slash path rel
// (relative to the watch root). It returns false when no rule matches.
func (s *Set) Match(rel string) (*Rule, bool) {
	rel, ok := cleanRel(rel)
	if !ok {
		return nil, false
	}
	for _, r := range s.rules {
		if m, err := doublestar.Match(r.Match, rel); err == nil && m {
			return r, true
		}
	}
	return nil, false
}

// IsCover reports whether rel is the cover of a sibling media file: some
// name in siblings (base names of the files in rel's folder) is taken by a
// rule whose cover suffixes, put after the sibling's stem, give rel's name
// (clip.mp4 + ".jpg" -> clip.jpg). media is that sibling's rel path.
func (s *Set) IsCover(rel string, siblings []string) (media string, ok bool) {
	rel, ok = cleanRel(rel)
	if !ok || len(s.suffixes) == 0 {
		return "", false
	}
	dir, base := path.Split(rel)
	stems := map[string]bool{}
	for _, suf := range s.suffixes {
		if st, cut := strings.CutSuffix(base, suf); cut && st != "" {
			stems[st] = true
		}
	}
	if len(stems) == 0 {
		return "", false
	}
	for _, sib := range siblings {
		if sib == base || !stems[stem(sib)] {
			continue
		}
		cand := dir + sib
		r, ok := s.Match(cand)
		if !ok || s.watch.Ignored(cand) {
			continue
		}
		for _, c := range r.CoverCandidates(cand) {
			if c == rel {
				return cand, true
			}
		}
	}
	return "", false
}

func stem(name string) string {
	ext := path.Ext(name)
	if ext == name {
		return name
	}
	return strings.TrimSuffix(name, ext)
}

// CoverCandidates lists, in suffix order, the rel paths a cover of the
// media file rel may have.
func (r *Rule) CoverCandidates(rel string) []string {
	dir, base := path.Split(rel)
	var out []string
	for _, suf := range r.Cover {
		c := dir + stem(base) + suf
		if c != rel {
			out = append(out, c)
		}
	}
	return out
}

// FileFacts is what the daemon knows about a settled file.
type FileFacts struct {
	Root    string    // absolute watch root
	Rel     string    // slash path relative to Root
	Size    int64     // bytes
	ModTime time.Time // modification time
	JobID   string    // the daemon's job id; "" = JobHash of the other facts
}

// JobHash is a stable 32-hex-digit id of a file's identity.
func JobHash(root, rel string, size int64, mod time.Time) string {
	h := sha256.New()
	for _, s := range []string{root, rel, strconv.FormatInt(size, 10), strconv.FormatInt(mod.UnixNano(), 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Params is what a rule asks for one file: the ApplyUpload fields and the
// daemon's own settings.
type Params struct {
	Rule string // the rule's name

	// ApplyUpload fields (uploader.Request).
	MediaType              string
	MediaName              string
	Procedure              string
	ExpireTime             string // ISO 8601, UTC; "" = never
	ClassID                int64
	SourceContext          string
	SessionContext         string
	StorageRegion          string
	SubAppID               uint64
	ConcurrentUploadNumber int

	// The daemon's settings.
	CoverSuffixes   []string
	CoverCandidates []string // rel paths, in preference order
	CoverWait       time.Duration
	ReadyMarker     string // rel path of the marker that must exist; "" = none
	BundleTimeout   time.Duration
	BundleWait      time.Duration
	Priority        int
	Dedupe          bool
	After           config.After
	Quarantine      config.Quarantine
}

// ParamError is a rule that could not render its parameters for a file.
type ParamError struct {
	Rule  string
	Pos   config.Pos
	Field string // e.g. "watch[0].rules[1].media_name"
	Rel   string
	Err   error
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("%s: %s: for %q: %v", e.Pos, e.Field, e.Rel, e.Err)
}

func (e *ParamError) Unwrap() error { return e.Err }

// ExpireLayout is how expiry times are sent to VOD.
const ExpireLayout = "2006-01-02T15:04:05Z"

// Params renders the rule for one file.
func (r *Rule) Params(f FileFacts) (Params, error) {
	rel, ok := cleanRel(f.Rel)
	if !ok {
		return Params{}, r.fail("match", f.Rel, fmt.Errorf("not a path inside the watch root"))
	}
	if f.JobID == "" {
		f.JobID = JobHash(f.Root, rel, f.Size, f.ModTime)
	}
	data := config.NewTemplateData(f.Root, rel, f.Size, f.ModTime, f.JobID)
	p := Params{
		Rule: r.Name, Procedure: r.Procedure, ClassID: r.ClassID, StorageRegion: r.StorageRegion,
		SubAppID: r.SubAppID, ConcurrentUploadNumber: r.Concurrency,
		CoverSuffixes: r.Cover, CoverCandidates: r.CoverCandidates(rel), CoverWait: r.CoverWait,
		BundleTimeout: r.BundleTimeout, BundleWait: r.BundleWait, Priority: r.Priority, Dedupe: r.Dedupe,
		After: r.After, Quarantine: r.Quarantine,
	}
	var err error
	if p.MediaType, err = r.mediaType(data); err != nil {
		return Params{}, r.fail("media_type", rel, err)
	}
	if p.MediaName, err = r.mediaName(data); err != nil {
		return Params{}, r.fail("media_name", rel, err)
	}
	if p.SourceContext, err = renderContext(r.SourceContext, data, config.MaxSourceContext); err != nil {
		return Params{}, r.fail("source_context", rel, err)
	}
	if p.SessionContext, err = renderContext(r.SessionContext, data, config.MaxSessionContext); err != nil {
		return Params{}, r.fail("session_context", rel, err)
	}
	if p.ReadyMarker, err = r.readyMarker(data); err != nil {
		return Params{}, r.fail("ready_marker", rel, err)
	}
	switch {
	case !r.ExpireTime.IsZero():
		p.ExpireTime = r.ExpireTime.UTC().Format(ExpireLayout)
	case r.ExpireAfter > 0:
		p.ExpireTime = r.now().Add(r.ExpireAfter).UTC().Format(ExpireLayout)
	}
	return p, nil
}

func (r *Rule) fail(key, rel string, err error) error {
	return &ParamError{Rule: r.Name, Pos: r.Pos, Field: r.Field + "." + key, Rel: rel, Err: err}
}

func (r *Rule) mediaType(d config.TemplateData) (string, error) {
	if r.MediaType != "" {
		return r.MediaType, nil
	}
	t := strings.ToLower(strings.TrimPrefix(d.Ext, "."))
	if t == "" {
		return "", fmt.Errorf("the file has no extension; set media_type in the rule")
	}
	return t, nil
}

func (r *Rule) mediaName(d config.TemplateData) (string, error) {
	out, err := r.MediaName.Execute(d)
	if err != nil {
		return "", fmt.Errorf("template %q: %w", r.MediaName.Src, err)
	}
	name := SanitizeName(out)
	if name == "" {
		name = SanitizeName(d.Stem)
	}
	if name == "" {
		return "", fmt.Errorf("template %q renders an empty name", r.MediaName.Src)
	}
	return name, nil
}

func renderContext(t *config.Template, d config.TemplateData, max int) (string, error) {
	if t == nil {
		return "", nil
	}
	out, err := t.Execute(d)
	if err != nil {
		return "", fmt.Errorf("template %q: %w", t.Src, err)
	}
	out = stripControl(out)
	if n := utf8.RuneCountInString(out); n > max {
		return "", fmt.Errorf("renders to %d characters, VOD allows %d", n, max)
	}
	return out, nil
}

func (r *Rule) readyMarker(d config.TemplateData) (string, error) {
	if r.ReadyMarker == nil {
		return "", nil
	}
	out, err := r.ReadyMarker.Execute(d)
	if err != nil {
		return "", fmt.Errorf("template %q: %w", r.ReadyMarker.Src, err)
	}
	if out == "" || out == "." || out == ".." || strings.ContainsAny(out, "/\\\x00") {
		return "", fmt.Errorf("template %q renders %q, not a file name", r.ReadyMarker.Src, out)
	}
	if d.Dir == "" {
		return out, nil
	}
	return d.Dir + "/" + out, nil
}

// SanitizeName makes a VOD media name: valid UTF-8, no control or
// bidirectional-override characters, whitespace runs collapsed to one
// space, trimmed, at most config.MaxMediaName characters.
func SanitizeName(s string) string {
	var b strings.Builder
	n := 0
	space := false
	for _, c := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case unicode.IsSpace(c):
			space = b.Len() > 0
			continue
		case unicode.IsControl(c) || isBidi(c):
			continue
		}
		if space {
			if n+1 >= config.MaxMediaName {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		if n >= config.MaxMediaName {
			break
		}
		b.WriteRune(c)
		n++
	}
	return b.String()
}

func isBidi(c rune) bool {
	return (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0x200E || c == 0x200F || c == 0xFEFF
}

func stripControl(s string) string {
	return strings.Map(func(c rune) rune {
		if unicode.IsControl(c) || isBidi(c) {
			return -1
		}
		return c
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
