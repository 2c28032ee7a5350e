package manifest

import (
	"errors"
	"fmt"
	"strings"
)

// ErrLimit is wrapped by every error caused by an Options or size limit.
var ErrLimit = errors.New("limit exceeded")

// RefError is a reference that is not allowed (URL, absolute path, "..",
// escaping symlink, percent-encoded escape, cycle, not a regular file).
type RefError struct {
	Manifest string // absolute path of the manifest holding the reference
	Line     int    // HLS line, or line of the DASH Representation (0 if unknown)
	Element  string // HLS tag or DASH element path ("" for a plain HLS URI line)
	Ref      string // the reference as written (DASH: joined with its BaseURLs)
	Reason   string
}

func (e *RefError) Error() string {
	return fmt.Sprintf("%s: reference %q: %s", position(e.Manifest, e.Line, e.Element), e.Ref, e.Reason)
}

// ParseError is a manifest that cannot be read as HLS or DASH, or that is
// over a limit (then it wraps ErrLimit).
type ParseError struct {
	Manifest string
	Line     int
	Element  string
	Reason   string
	Err      error // ErrLimit, or the underlying read/XML error; may be nil
}

func (e *ParseError) Error() string {
	msg := position(e.Manifest, e.Line, e.Element) + ": " + e.Reason
	if e.Err != nil && e.Err != ErrLimit {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ParseError) Unwrap() error { return e.Err }

// MissingError lists every referenced file that does not exist (yet): the
// references are valid but the bundle is incomplete.
type MissingError struct {
	Manifest string // the top manifest
	Missing  []File // Path and Size are unset; Rel, From, Line, Element tell where each was referenced
}

func (e *MissingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d referenced file(s) missing:", e.Manifest, len(e.Missing))
	for i, f := range e.Missing {
		if i == 5 {
			fmt.Fprintf(&b, " ... and %d more", len(e.Missing)-i)
			break
		}
		fmt.Fprintf(&b, " %s (%s)", f.Rel, position(f.From, f.Line, f.Element))
	}
	return b.String()
}

func position(file string, line int, element string) string {
	s := file
	if line > 0 {
		s += fmt.Sprintf(":%d", line)
	}
	if element != "" {
		s += " " + element
	}
	return s
}
