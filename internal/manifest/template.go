package manifest

import (
	"fmt"
	"strconv"
	"strings"
)

// template is a compiled DASH SegmentTemplate string.
type template struct {
	parts     []tmplPart
	hasNumber bool
	hasTime   bool
}

type tmplPart struct {
	lit   string
	ident string // "", "RepresentationID", "Number", "Time", "Bandwidth"
	width int
}

// tmplVars are the values substituted into a template.
type tmplVars struct {
	repID     string
	bandwidth uint64
	number    uint64
	time      uint64
}

// compileTemplate parses $Identifier$ and $Identifier%0Nd$ substitutions and
// the $$ escape.
func compileTemplate(s string) (*template, error) {
	t := &template{}
	for s != "" {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			t.parts = append(t.parts, tmplPart{lit: s})
			break
		}
		j := strings.IndexByte(s[i+1:], '$')
		if j < 0 {
			return nil, fmt.Errorf("unterminated $ identifier in %q", s)
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: s[:i]})
		}
		p, err := compileIdent(s[i+1 : i+1+j])
		if err != nil {
			return nil, err
		}
		t.hasNumber = t.hasNumber || p.ident == "Number"
		t.hasTime = t.hasTime || p.ident == "Time"
		t.parts = append(t.parts, p)
		s = s[i+2+j:]
	}
	return t, nil
}

func compileIdent(id string) (tmplPart, error) {
	if id == "" {
		return tmplPart{lit: "$"}, nil
	}
	name, format, hasFormat := strings.Cut(id, "%")
	switch name {
	case "RepresentationID":
		if hasFormat {
			return tmplPart{}, fmt.Errorf("$RepresentationID$ takes no format tag")
		}
		return tmplPart{ident: name}, nil
	case "Number", "Time", "Bandwidth":
	default:
		return tmplPart{}, fmt.Errorf("unsupported template identifier $%s$", id)
	}
	if !hasFormat {
		return tmplPart{ident: name}, nil
	}
	w, err := parseWidth(format)
	if err != nil {
		return tmplPart{}, fmt.Errorf("$%s$: %w", id, err)
	}
	return tmplPart{ident: name, width: w}, nil
}

// parseWidth accepts the only format tag DASH allows: %0<width>d.
func parseWidth(f string) (int, error) {
	if !strings.HasSuffix(f, "d") {
		return 0, fmt.Errorf("format tag must be %%0<width>d")
	}
	digits := strings.TrimSuffix(f, "d")
	if digits == "" {
		return 0, nil
	}
	w, err := strconv.Atoi(digits)
	if err != nil || w < 0 || w > 32 {
		return 0, fmt.Errorf("format tag must be %%0<width>d with width 0..32")
	}
	return w, nil
}

// render writes the template with v into buf and returns the result.
func (t *template) render(buf []byte, v tmplVars) []byte {
	for _, p := range t.parts {
		switch p.ident {
		case "":
			buf = append(buf, p.lit...)
		case "RepresentationID":
			buf = append(buf, v.repID...)
		case "Number":
			buf = appendPadded(buf, v.number, p.width)
		case "Time":
			buf = appendPadded(buf, v.time, p.width)
		case "Bandwidth":
			buf = appendPadded(buf, v.bandwidth, p.width)
		}
	}
	return buf
}

func appendPadded(buf []byte, n uint64, width int) []byte {
	var tmp [24]byte
	s := strconv.AppendUint(tmp[:0], n, 10)
	for i := len(s); i < width; i++ {
		buf = append(buf, '0')
	}
	return append(buf, s...)
}
