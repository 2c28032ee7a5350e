package manifest

import "fmt"

// limitRefBytes wraps emit so that the references it passes on add up to at
// most max bytes of text: past that, the manifest is refused with a
// *ParseError wrapping ErrLimit before its expansion can fill memory.
func limitRefBytes(max int64, emit func(Ref) error) func(Ref) error {
	var used int64
	return func(r Ref) error {
		used += int64(len(r.URI))
		if used > max {
			return &ParseError{Line: r.Line, Element: r.Element, Err: ErrLimit,
				Reason: fmt.Sprintf("references add up to more than %d bytes of text (MaxRefBytes)", max)}
		}
		return emit(r)
	}
}
