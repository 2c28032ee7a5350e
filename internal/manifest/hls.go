package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// ParseOptions bound a parser; zero values take the package defaults.
type ParseOptions struct {
	MaxBytes     int64 // manifest size; default DefaultMaxManifestBytes
	MaxLineBytes int   // HLS line length; default MaxLineBytes
	MaxSegments  int   // DASH segments generated per MPD; default DefaultMaxFiles
	MaxRefBytes  int64 // bytes of reference text emitted in all; default DefaultMaxRefBytes
}

func (p ParseOptions) withDefaults() ParseOptions {
	if p.MaxBytes <= 0 {
		p.MaxBytes = DefaultMaxManifestBytes
	}
	if p.MaxLineBytes <= 0 {
		p.MaxLineBytes = MaxLineBytes
	}
	if p.MaxSegments <= 0 {
		p.MaxSegments = DefaultMaxFiles
	}
	if p.MaxRefBytes <= 0 {
		p.MaxRefBytes = DefaultMaxRefBytes
	}
	return p
}

// uriTags are the HLS tags whose URI attribute names a file; the value tells
// whether that file is a playlist.
var uriTags = map[string]bool{
	"EXT-X-MAP": false, "EXT-X-PART": false, "EXT-X-PRELOAD-HINT": false,
	"EXT-X-SESSION-DATA": false, "EXT-X-KEY": false, "EXT-X-SESSION-KEY": false,
	"EXT-X-MEDIA": true, "EXT-X-I-FRAME-STREAM-INF": true, "EXT-X-RENDITION-REPORT": true,
}

// ParseHLS streams an HLS playlist (master or media) from r and calls emit
// for every reference, in order. It holds one line at a time. Errors from
// emit are returned as they are; problems with the text are *ParseError
// (without Manifest).
func ParseHLS(r io.Reader, po ParseOptions, emit func(Ref) error) error {
	po = po.withDefaults()
	lr := &io.LimitedReader{R: r, N: po.MaxBytes + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), po.MaxLineBytes)
	sc.Split(scanAnyLine)
	h := hlsParser{emit: limitRefBytes(po.MaxRefBytes, emit)}
	for sc.Scan() {
		h.line++
		if err := h.handle(sc.Bytes()); err != nil {
			return err
		}
	}
	return h.finish(sc.Err(), lr.N == 0, po)
}

type hlsParser struct {
	emit      func(Ref) error
	line      int
	streamInf int // line of a pending EXT-X-STREAM-INF, 0 if none
	sawHeader bool
}

func (h *hlsParser) handle(b []byte) error {
	b = bytes.TrimSpace(b)
	if h.line == 1 {
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		if !bytes.HasPrefix(b, []byte("#EXTM3U")) {
			return &ParseError{Line: 1, Reason: "not an HLS playlist (first line is not #EXTM3U)"}
		}
		h.sawHeader = true
		return nil
	}
	if len(b) == 0 {
		return nil
	}
	if b[0] != '#' {
		ref := Ref{URI: string(b), Line: h.line}
		if h.streamInf > 0 {
			ref.Playlist, ref.Element, h.streamInf = true, "EXT-X-STREAM-INF", 0
		}
		return h.emit(ref)
	}
	if !bytes.HasPrefix(b, []byte("#EXT")) {
		return nil // comment
	}
	name, attrs, _ := bytes.Cut(b[1:], []byte(":"))
	if string(name) == "EXT-X-STREAM-INF" {
		h.streamInf = h.line
		return nil
	}
	if _, ok := uriTags[string(name)]; !ok {
		return nil // no allocation for the common EXTINF/BYTERANGE lines
	}
	return h.tag(string(name), string(attrs))
}

func (h *hlsParser) tag(name, attrs string) error {
	playlist := uriTags[name]
	uri, found, err := hlsAttr(attrs, "URI")
	if err != nil {
		return &ParseError{Line: h.line, Element: name, Reason: err.Error()}
	}
	if name == "EXT-X-KEY" || name == "EXT-X-SESSION-KEY" {
		return h.key(name, attrs, uri, found)
	}
	if !found {
		return nil // e.g. EXT-X-MEDIA of closed captions or muxed audio
	}
	return h.emit(Ref{URI: uri, Line: h.line, Element: name + "@URI", Playlist: playlist})
}

// key handles EXT-X-KEY / EXT-X-SESSION-KEY: METHOD=NONE has no URI, and a
// KEYFORMAT other than "identity" names a DRM system's key (skd://, data:),
// not a file of the bundle, so it is not followed.
func (h *hlsParser) key(name, attrs, uri string, found bool) error {
	method, _, _ := hlsAttr(attrs, "METHOD")
	if method == "NONE" {
		return nil
	}
	if format, ok, _ := hlsAttr(attrs, "KEYFORMAT"); ok && format != "identity" {
		return nil
	}
	if !found {
		return &ParseError{Line: h.line, Element: name, Reason: "METHOD=" + method + " without URI"}
	}
	return h.emit(Ref{URI: uri, Line: h.line, Element: name + "@URI"})
}

func (h *hlsParser) finish(err error, overLimit bool, po ParseOptions) error {
	if errors.Is(err, bufio.ErrTooLong) {
		return &ParseError{Line: h.line + 1, Reason: "line longer than " + itoa(po.MaxLineBytes) + " bytes", Err: ErrLimit}
	}
	if err != nil {
		return &ParseError{Line: h.line, Reason: "read failed", Err: err}
	}
	if overLimit {
		return &ParseError{Line: h.line, Reason: "manifest larger than " + itoa(int(po.MaxBytes)) + " bytes", Err: ErrLimit}
	}
	if !h.sawHeader {
		return &ParseError{Reason: "empty file, not an HLS playlist"}
	}
	if h.streamInf > 0 {
		return &ParseError{Line: h.streamInf, Element: "EXT-X-STREAM-INF", Reason: "no URI line follows"}
	}
	return nil
}

// hlsAttr finds name in an HLS attribute list (NAME=value,NAME="quoted,value").
func hlsAttr(list, name string) (value string, found bool, err error) {
	for list != "" {
		key, rest, ok := strings.Cut(list, "=")
		if !ok {
			return "", false, errors.New("malformed attribute list (missing '=')")
		}
		key = strings.TrimSpace(key)
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return "", false, errors.New("unterminated quoted string in attribute " + key)
			}
			value, list = rest[1:1+end], strings.TrimLeft(rest[2+end:], " \t")
			if list != "" && list[0] != ',' {
				return "", false, errors.New("text after quoted string in attribute " + key)
			}
			list = strings.TrimPrefix(list, ",")
		} else {
			value, list, _ = strings.Cut(rest, ",")
		}
		if key == name {
			return value, true, nil
		}
	}
	return "", false, nil
}

// scanAnyLine splits lines ending in LF, CRLF or a lone CR (classic Mac
// line ends, which some packagers still write): a playlist is never read
// as one long line that hides its segments.
func scanAnyLine(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\n' {
			return i + 1, data[:i], nil
		}
		if i+1 < len(data) {
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			return i + 1, data[:i], nil
		}
		return 0, nil, nil // a CR at the end of the buffer: is LF next?
	}
	if atEOF {
		return len(data), data, nil
	}
	return 0, nil, nil
}
