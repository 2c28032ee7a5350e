// Package manifest finds every file an HLS or DASH bundle references and checks that each reference stays inside the bundle.
package manifest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Kind is the streaming format of a manifest.
type Kind string

// The manifest kinds Resolve understands.
const (
	HLS  Kind = "hls"
	DASH Kind = "dash"
)

// KindOf tells the manifest kind from the file extension (.m3u8 or .mpd,
// case-insensitive).
func KindOf(path string) (Kind, bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".m3u8":
		return HLS, true
	case ".mpd":
		return DASH, true
	}
	return "", false
}

// File is one file referenced by a bundle.
type File struct {
	Rel     string // slash path relative to the top manifest's folder (the COS key suffix)
	Path    string // local absolute path (symlinks inside the bundle resolved)
	Size    int64
	From    string // manifest (Rel) that referenced it first
	Line    int    // line of that reference (HLS) or of its Representation element (DASH)
	Element string // tag (HLS, e.g. "EXT-X-MAP@URI") or element path (DASH) of that reference
}

// Bundle is a top manifest and every file it references.
type Bundle struct {
	Kind     Kind
	Manifest string // absolute path of the top manifest
	Dir      string // its folder
	Files    []File // every referenced file, de-duplicated, in first-reference order, not the top manifest
}

// Size is the total size of the referenced files (not the top manifest).
func (b *Bundle) Size() int64 {
	var n int64
	for _, f := range b.Files {
		n += f.Size
	}
	return n
}

// Options bound the work Resolve does on hostile input; zero values take the
// defaults below.
type Options struct {
	MaxManifestBytes int64 // per manifest file; default DefaultMaxManifestBytes
	MaxFiles         int   // distinct files (and DASH segments per MPD); default DefaultMaxFiles
	MaxDepth         int   // nesting of HLS playlists below the top one; default DefaultMaxDepth
	MaxRefBytes      int64 // reference text of the whole bundle, in bytes; default DefaultMaxRefBytes
}

// Defaults for Options.
const (
	DefaultMaxManifestBytes = 64 << 20
	DefaultMaxFiles         = 200_000
	DefaultMaxDepth         = 8
	// DefaultMaxRefBytes bounds the text of a bundle's references (what
	// its manifests expand to: a DASH template over a long presentation, a
	// long BaseURL joined to every segment). Memory follows these bytes,
	// not the count of references: 200,000 segments of 80-byte paths are
	// 16 MB, while 200,000 references joined to a 4 KB BaseURL would be
	// 800 MB.
	DefaultMaxRefBytes = 32 << 20
	// MaxLineBytes is the longest HLS line accepted.
	MaxLineBytes = 64 << 10
)

func (o Options) withDefaults() Options {
	if o.MaxManifestBytes <= 0 {
		o.MaxManifestBytes = DefaultMaxManifestBytes
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxRefBytes <= 0 {
		o.MaxRefBytes = DefaultMaxRefBytes
	}
	return o
}

// Resolve parses the manifest at manifestPath and every playlist it nests,
// validates every reference, and stats every referenced file. It returns a
// *RefError for a reference that is not allowed, a *ParseError for a
// manifest it cannot read, and a *MissingError (listing all of them) when the
// references are fine but some files do not exist yet.
//
// References are URL paths: a query string or fragment is stripped (the
// server that plays the bundle ignores it too), percent-encoding is decoded,
// and percent-encoded separators (%2F, %5C), backslashes, schemes, absolute
// paths and ".." that leave the top manifest's folder are refused.
func Resolve(ctx context.Context, manifestPath string, opts Options) (*Bundle, error) {
	return resolveWith(ctx, osFS{}, manifestPath, opts)
}

func resolveWith(ctx context.Context, fsys fileSystem, manifestPath string, opts Options) (*Bundle, error) {
	kind, ok := KindOf(manifestPath)
	if !ok {
		return nil, fmt.Errorf("manifest %s: not a .m3u8 or .mpd file", manifestPath)
	}
	abs, err := filepath.Abs(manifestPath)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", manifestPath, err)
	}
	r, err := newResolver(ctx, fsys, abs, opts.withDefaults())
	if err != nil {
		return nil, err
	}
	if err := r.run(kind); err != nil {
		return nil, err
	}
	if len(r.missing) > 0 {
		return nil, &MissingError{Manifest: abs, Missing: r.missing}
	}
	return &Bundle{Kind: kind, Manifest: abs, Dir: r.dir, Files: r.files}, nil
}

// osFS is the real file system.
type osFS struct{}

func (osFS) Open(name string) (readCloser, error)     { return os.Open(name) }
func (osFS) Stat(name string) (os.FileInfo, error)    { return os.Stat(name) }
func (osFS) Lstat(name string) (os.FileInfo, error)   { return os.Lstat(name) }
func (osFS) EvalSymlinks(name string) (string, error) { return filepath.EvalSymlinks(name) }
func (osFS) Readlink(name string) (string, error)     { return os.Readlink(name) }
