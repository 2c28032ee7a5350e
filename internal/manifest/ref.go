package manifest

import (
	"fmt"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"
)

// Ref is one reference found by a parser, before validation.
type Ref struct {
	URI      string // as written (DASH: joined with its BaseURLs)
	Line     int    // 1-based line (HLS) or line of the Representation element (DASH); 0 if unknown
	Element  string // HLS tag ("EXT-X-MAP@URI", "" for a URI line) or DASH element path
	Playlist bool   // the target is an HLS playlist to parse in turn
}

// cleanRef turns a reference written in the manifest whose folder is base
// (slash path relative to the bundle folder, "." for the top) into a slash
// path relative to the bundle folder, or returns why it is not allowed.
func cleanRef(base, raw string) (rel, reason string) {
	if raw == "" {
		return "", "empty reference"
	}
	if strings.ContainsRune(raw, '\\') {
		return "", "backslash in reference (Windows-style path) is not allowed"
	}
	if s, ok := scheme(raw); ok {
		if len(s) == 1 {
			return "", fmt.Sprintf("drive letter or URL scheme %q is not allowed", s+":")
		}
		return "", fmt.Sprintf("URL with scheme %q is not allowed; references must be relative paths", s+":")
	}
	if strings.HasPrefix(raw, "//") {
		return "", "network-path URL (//host) is not allowed"
	}
	p := stripQuery(raw)
	if p == "" {
		return "", "reference has no path (only a query or fragment)"
	}
	if strings.HasPrefix(p, "/") {
		return "", "absolute path is not allowed"
	}
	return cleanPath(base, p)
}

func cleanPath(base, p string) (rel, reason string) {
	lower := strings.ToLower(p)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return "", "percent-encoded path separator (%2F or %5C) is not allowed"
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		return "", "bad percent-encoding"
	}
	if reason := badChars(dec); reason != "" {
		return "", reason
	}
	if strings.HasSuffix(dec, "/") || dec == "." || dec == ".." {
		return "", "reference names a folder, not a file"
	}
	rel = path.Join(base, dec)
	if rel == ".." || strings.HasPrefix(rel, "../") || rel == "." {
		return "", fmt.Sprintf("leaves the bundle folder (%q after decoding and cleaning)", rel)
	}
	return rel, ""
}

func badChars(s string) string {
	if !utf8.ValidString(s) {
		return "reference is not valid UTF-8"
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return "control character in reference"
		}
	}
	return ""
}

// stripQuery drops a URL query string and fragment: they do not name a file.
func stripQuery(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i]
	}
	return s
}

// scheme reports the RFC 3986 scheme of s, if it has one.
func scheme(s string) (string, bool) {
	i := strings.IndexAny(s, ":/?#")
	if i <= 0 || s[i] != ':' {
		return "", false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		alpha := c|0x20 >= 'a' && c|0x20 <= 'z'
		if !alpha && (j == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", false
		}
	}
	return s[:i], true
}

// RelRef turns a reference written in a manifest whose folder is base (a
// slash path under some root, "." for the root) into the slash path it
// names under that root, as Resolve does (query stripped, percent-encoding
// decoded); ok is false for a reference Resolve would refuse, or one that
// leaves the root.
func RelRef(base, raw string) (rel string, ok bool) {
	rel, reason := cleanRef(base, raw)
	return rel, reason == ""
}
