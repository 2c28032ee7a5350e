package config

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// MaxTemplateOutput bounds what one template may render, in bytes.
const MaxTemplateOutput = 4096

// TemplateData is what media_name, source_context, session_context and
// ready_marker templates see.
type TemplateData struct {
	Name    string    // base name: "clip.mp4"
	Stem    string    // base name without its extension: "clip"
	Ext     string    // extension with its dot: ".mp4" ("" if none)
	Dir     string    // slash folder relative to the watch root: "news/2024" ("" at the root)
	Parent  string    // name of the containing folder: "2024" (the root's own name at the root)
	Rel     string    // slash path relative to the watch root: "news/2024/clip.mp4"
	Root    string    // absolute watch root
	Size    int64     // bytes
	ModTime time.Time // modification time
	JobID   string    // the daemon's job id (a hash of the file's identity when not given)
}

// NewTemplateData fills the name fields from a watch root and a slash rel path.
func NewTemplateData(root, rel string, size int64, mod time.Time, jobID string) TemplateData {
	rel = strings.TrimPrefix(path.Clean("/"+rel), "/")
	name := path.Base(rel)
	ext := path.Ext(name)
	if ext == name { // ".bashrc" has no stem/extension split
		ext = ""
	}
	dir := path.Dir(rel)
	if dir == "." {
		dir = ""
	}
	parent := path.Base(dir)
	if dir == "" {
		parent = path.Base(strings.ReplaceAll(root, "\\", "/"))
	}
	return TemplateData{
		Name: name, Stem: strings.TrimSuffix(name, ext), Ext: ext, Dir: dir, Parent: parent,
		Rel: rel, Root: root, Size: size, ModTime: mod, JobID: jobID,
	}
}

// sampleData is what templates are tried with when the configuration loads.
func sampleData() TemplateData {
	return NewTemplateData("/srv/drop", "news/2024/Sample clip.mp4", 1<<20,
		time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), "0123456789abcdef0123456789abcdef")
}

// Template is a parsed, restricted text/template.
type Template struct {
	Src string
	t   *template.Template
}

// String returns the template's source.
func (t *Template) String() string { return t.Src }

// Execute renders the template, bounded to MaxTemplateOutput bytes.
func (t *Template) Execute(data TemplateData) (string, error) {
	var w limitWriter
	if err := t.t.Execute(&w, data); err != nil {
		return "", cleanExecError(err)
	}
	return w.b.String(), nil
}

type limitWriter struct{ b strings.Builder }

var errTooLong = fmt.Errorf("output longer than %d bytes", MaxTemplateOutput)

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > MaxTemplateOutput {
		return 0, errTooLong
	}
	return w.b.Write(p)
}

// cleanExecError drops text/template's internal "template: NAME:" prefix.
func cleanExecError(err error) error {
	if errors.Is(err, errTooLong) {
		return errTooLong
	}
	msg := err.Error()
	if i := strings.Index(msg, "tpl:"); i >= 0 {
		msg = "at " + msg[i+4:]
	}
	return errors.New(msg)
}

// funcs is the whole function set templates may call. It replaces the
// builtins that could run away (printf with huge widths, call).
func funcs() template.FuncMap {
	return template.FuncMap{
		"lower":      strings.ToLower,
		"upper":      strings.ToUpper,
		"trim":       strings.TrimSpace,
		"trimPrefix": func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"replace":    func(old, new, s string) string { return replaceBounded(s, old, new) },
		"truncate":   truncate,
		"default":    func(def, s string) string { return defaultStr(def, s) },
		"date":       func(layout string, t time.Time) string { return t.Format(layout) },
		"printf":     safePrintf,
		"call":       func(...any) (string, error) { return "", errors.New("call is not allowed") },
	}
}

func defaultStr(def, s string) string {
	if s == "" {
		return def
	}
	return s
}

// truncate keeps the first n characters of s.
func truncate(n int, s string) string {
	if n < 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

func replaceBounded(s, old, new string) string {
	if old == "" {
		return s
	}
	if strings.Count(s, old)*len(new) > MaxTemplateOutput {
		return s
	}
	return strings.ReplaceAll(s, old, new)
}

// safePrintf is fmt.Sprintf without '*' widths or widths/precisions above 256.
func safePrintf(format string, args ...any) (string, error) {
	if len(format) > MaxTemplateOutput || len(args) > 64 {
		return "", errors.New("printf: format too long")
	}
	num := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch {
		case c == '*':
			return "", errors.New("printf: * widths are not allowed")
		case c >= '0' && c <= '9':
			num = num*10 + int(c-'0')
			if num > 256 {
				return "", errors.New("printf: widths and precisions above 256 are not allowed")
			}
		default:
			num = 0
		}
	}
	return fmt.Sprintf(format, args...), nil
}

// ParseTemplate parses src with the restricted function set and rejects
// constructs that can loop or recurse (range, template, define, block).
func ParseTemplate(src string) (*Template, error) {
	if len(src) > MaxTemplateOutput {
		return nil, fmt.Errorf("template longer than %d bytes", MaxTemplateOutput)
	}
	t, err := template.New("tpl").Funcs(funcs()).Option("missingkey=error").Parse(src)
	if err != nil {
		msg := err.Error()
		if i := strings.Index(msg, "tpl:"); i >= 0 {
			msg = "at " + msg[i+4:]
		}
		return nil, errors.New(msg)
	}
	if len(t.Templates()) > 1 {
		return nil, errors.New("define/block are not allowed")
	}
	if t.Tree != nil && t.Tree.Root != nil {
		if err := checkNodes(t.Tree.Root); err != nil {
			return nil, err
		}
	}
	return &Template{Src: src, t: t}, nil
}

func checkNodes(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNodes(c); err != nil {
				return err
			}
		}
	case *parse.RangeNode:
		return errors.New("range is not allowed in name templates")
	case *parse.TemplateNode:
		return errors.New("template calls are not allowed")
	case *parse.BreakNode, *parse.ContinueNode:
		return errors.New("break/continue are not allowed")
	case *parse.IfNode:
		return checkBranch(&n.BranchNode)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode)
	}
	return nil
}

func checkBranch(b *parse.BranchNode) error {
	if err := checkNodes(b.List); err != nil {
		return err
	}
	if b.ElseList != nil {
		return checkNodes(b.ElseList)
	}
	return nil
}

// cTemplate parses a template and tries it on sample data.
func cTemplate(d *decoder, n *yaml.Node, field string) (*Template, bool) {
	s, ok := d.scalar(n, field, "a template")
	if !ok {
		return nil, false
	}
	t, err := ParseTemplate(s)
	if err != nil {
		d.errorf(d.resolve(n), field, "bad template %q: %v", s, err)
		return nil, false
	}
	if _, err := t.Execute(sampleData()); err != nil {
		d.errorf(d.resolve(n), field, "bad template %q: %v", s, err)
		return nil, false
	}
	return t, true
}

// mustTemplate parses a built-in template.
func mustTemplate(src string) *Template {
	t, err := ParseTemplate(src)
	if err != nil {
		panic(fmt.Sprintf("built-in template %q: %v", src, err))
	}
	return t
}
