package manifest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// readCloser is what fileSystem.Open returns.
type readCloser = io.ReadCloser

// fileSystem is what the resolver needs from the OS; tests and benchmarks
// substitute an in-memory one.
type fileSystem interface {
	Open(name string) (readCloser, error)
	Stat(name string) (os.FileInfo, error)
	Lstat(name string) (os.FileInfo, error)
	EvalSymlinks(name string) (string, error)
	Readlink(name string) (string, error)
}

// ctxCheckEvery is how many references pass between context checks.
const ctxCheckEvery = 1024

// resolver walks a bundle: it parses manifests, validates and stats every
// reference, and recurses into nested playlists.
type resolver struct {
	ctx     context.Context
	fs      fileSystem
	opts    Options
	top     string // absolute path of the top manifest
	topRel  string // its name, relative to dir
	dir     string // the bundle folder
	realDir string // dir with symlinks resolved
	seen    map[string]bool
	parsed  map[string]bool // playlists already parsed (a diamond is parsed once)
	stack   []string        // playlists being parsed, for cycle detection
	files   []File
	missing []File
	refs    int
	bytes   int64             // reference text seen so far, against opts.MaxRefBytes
	absent  map[string]bool   // bundle folders (slash, relative) known not to exist
	dirs    map[string]string // bundle folders known to exist inside the bundle -> real path
}

func newResolver(ctx context.Context, fsys fileSystem, abs string, opts Options) (*resolver, error) {
	dir := filepath.Dir(abs)
	realDir, err := fsys.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: bundle folder: %w", abs, err)
	}
	info, err := fsys.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", abs, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("manifest %s: not a regular file", abs)
	}
	return &resolver{
		ctx: ctx, fs: fsys, opts: opts, top: abs, topRel: filepath.Base(abs),
		dir: dir, realDir: realDir, seen: map[string]bool{}, parsed: map[string]bool{}, absent: map[string]bool{}, dirs: map[string]string{},
	}, nil
}

func (r *resolver) run(kind Kind) error {
	return r.parse(r.topRel, r.top, kind)
}

// parse reads one manifest (rel to the bundle folder, local path p).
func (r *resolver) parse(rel, p string, kind Kind) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	f, err := r.fs.Open(p)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", p, err)
	}
	defer f.Close()
	r.parsed[rel] = true
	r.stack = append(r.stack, rel)
	defer func() { r.stack = r.stack[:len(r.stack)-1] }()
	po := ParseOptions{MaxBytes: r.opts.MaxManifestBytes, MaxSegments: r.opts.MaxFiles, MaxRefBytes: r.opts.MaxRefBytes}
	refs := 0
	emit := func(ref Ref) error { refs++; return r.add(rel, p, ref) }
	if kind == DASH {
		err = ParseDASH(f, po, emit)
	} else {
		err = ParseHLS(f, po, emit)
	}
	if err == nil && refs == 0 {
		// Uploaded, it would be a media that plays nothing.
		err = &ParseError{Reason: "references no files (no segment, variant or media)"}
	}
	var pe *ParseError
	if errors.As(err, &pe) && pe.Manifest == "" {
		pe.Manifest = p
	}
	return err
}

// add validates one reference found in manifest from (rel; local path fromPath).
func (r *resolver) add(from, fromPath string, ref Ref) error {
	if r.refs++; r.refs%ctxCheckEvery == 0 {
		if err := r.ctx.Err(); err != nil {
			return err
		}
	}
	if r.bytes += int64(len(ref.URI)); r.bytes > r.opts.MaxRefBytes {
		return &ParseError{Manifest: fromPath, Line: ref.Line, Element: ref.Element, Err: ErrLimit,
			Reason: fmt.Sprintf("bundle references add up to more than %d bytes of text (MaxRefBytes)", r.opts.MaxRefBytes)}
	}
	refErr := func(reason string) error {
		return &RefError{Manifest: fromPath, Line: ref.Line, Element: ref.Element, Ref: ref.URI, Reason: reason}
	}
	rel, reason := cleanRef(path.Dir(from), ref.URI)
	if reason != "" {
		return refErr(reason)
	}
	if cyc := r.cycle(rel); cyc != "" {
		return refErr(cyc)
	}
	if r.seen[rel] {
		return r.maybeRecurse(rel, ref, refErr)
	}
	if len(r.seen) >= r.opts.MaxFiles {
		return &ParseError{Manifest: fromPath, Line: ref.Line, Element: ref.Element,
			Reason: fmt.Sprintf("bundle references more than %d files (MaxFiles)", r.opts.MaxFiles), Err: ErrLimit}
	}
	r.seen[rel] = true
	file := File{Rel: rel, From: from, Line: ref.Line, Element: ref.Element}
	found, err := r.stat(&file, refErr)
	if err != nil || !found {
		return err
	}
	r.files = append(r.files, file)
	return r.maybeRecurse(rel, ref, refErr)
}

// cycle explains why rel may not be referenced from the current playlist.
func (r *resolver) cycle(rel string) string {
	if rel == r.topRel {
		return "references the top manifest (cycle)"
	}
	for i, s := range r.stack {
		if s == rel {
			return "playlist cycle: " + strings.Join(append(r.stack[i:len(r.stack):len(r.stack)], rel), " -> ")
		}
	}
	return ""
}

func (r *resolver) maybeRecurse(rel string, ref Ref, refErr func(string) error) error {
	if !ref.Playlist || r.parsed[rel] || !r.exists(rel) {
		return nil
	}
	if len(r.stack) > r.opts.MaxDepth {
		return refErr(fmt.Sprintf("playlists nested deeper than %d (MaxDepth)", r.opts.MaxDepth))
	}
	return r.parse(rel, filepath.Join(r.dir, filepath.FromSlash(rel)), HLS)
}

func (r *resolver) exists(rel string) bool {
	for _, m := range r.missing {
		if m.Rel == rel {
			return false
		}
	}
	return true
}

// stat fills Path and Size, or records the file as missing (found=false).
func (r *resolver) stat(f *File, refErr func(string) error) (found bool, err error) {
	dirRel := path.Dir(f.Rel)
	if r.absent[dirRel] || r.absentIn(dirRel, path.Base(f.Rel)) {
		// Its folder does not exist, or it is not in a folder already
		// resolved (escapes checked once per folder): a bundle of many
		// missing files costs one syscall or none per reference.
		r.missing = append(r.missing, *f)
		return false, nil
	}
	local := filepath.Join(r.dir, filepath.FromSlash(f.Rel))
	real, err := r.fs.EvalSymlinks(local)
	if errors.Is(err, fs.ErrNotExist) {
		if reason := r.danglingEscape(local); reason != "" {
			return false, refErr(reason)
		}
		r.learnDir(dirRel, filepath.Dir(local))
		r.missing = append(r.missing, *f)
		return false, nil
	}
	if err != nil {
		return false, refErr("cannot resolve: " + unwrapPath(err))
	}
	if !within(r.realDir, real) {
		return false, refErr(fmt.Sprintf("symlink resolves outside the bundle folder (to %s)", real))
	}
	info, err := r.fs.Stat(real)
	if err != nil {
		return false, refErr("cannot stat: " + unwrapPath(err))
	}
	if info.IsDir() {
		return false, refErr("names a folder, not a file")
	}
	if !info.Mode().IsRegular() {
		return false, refErr("not a regular file (" + info.Mode().Type().String() + ")")
	}
	f.Path, f.Size = real, info.Size()
	return true, nil
}

// absentIn reports whether name is certainly not in folder dirRel, a
// folder resolved before.
func (r *resolver) absentIn(dirRel, name string) bool {
	real, ok := r.dirs[dirRel]
	if !ok {
		return false
	}
	_, err := r.fs.Lstat(filepath.Join(real, name))
	return errors.Is(err, fs.ErrNotExist)
}

// learnDir notes whether the folder of a missing file exists, and where.
func (r *resolver) learnDir(dirRel, local string) {
	real, err := r.fs.EvalSymlinks(local)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.absent[dirRel] = true
	case err == nil && within(r.realDir, real):
		r.dirs[dirRel] = real
	}
}

// danglingEscape finds the deepest existing part of a missing path (the path
// itself may be a dangling symlink) and tells whether it points outside the
// bundle.
func (r *resolver) danglingEscape(local string) string {
	for q := local; len(q) > len(r.dir); q = filepath.Dir(q) {
		info, err := r.fs.Lstat(q)
		if err != nil {
			continue
		}
		real, err := r.fs.EvalSymlinks(q)
		if err != nil && info.Mode()&fs.ModeSymlink != 0 {
			real, err = r.danglingTarget(q)
		}
		if err == nil && !within(r.realDir, real) {
			return fmt.Sprintf("symlink resolves outside the bundle folder (to %s)", real)
		}
		return ""
	}
	return ""
}

// danglingTarget is where the dangling symlink q would point.
func (r *resolver) danglingTarget(q string) (string, error) {
	target, err := r.fs.Readlink(q)
	if err != nil || filepath.IsAbs(target) {
		return target, err
	}
	parent, err := r.fs.EvalSymlinks(filepath.Dir(q))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, target), nil
}

func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func unwrapPath(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
