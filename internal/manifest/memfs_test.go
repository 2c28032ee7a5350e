package manifest

import (
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// memFS is an in-memory fileSystem: manifests are the given texts and every
// other path is a regular file of 1000 bytes (no symlinks).
type memFS struct {
	texts  map[string]string
	stats  int
	onStat func(n int)
}

func newMemFS(texts map[string]string) *memFS { return &memFS{texts: texts} }

func (m *memFS) Open(name string) (readCloser, error) {
	s, ok := m.texts[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return io.NopCloser(strings.NewReader(s)), nil
}

func (m *memFS) Stat(name string) (os.FileInfo, error) {
	m.stats++
	if m.onStat != nil {
		m.onStat(m.stats)
	}
	if s, ok := m.texts[name]; ok {
		return fakeInfo{size: int64(len(s))}, nil
	}
	if name == "/b" {
		return fakeInfo{dir: true}, nil
	}
	return fakeInfo{size: 1000}, nil
}

func (m *memFS) Lstat(name string) (os.FileInfo, error)   { return m.Stat(name) }
func (m *memFS) EvalSymlinks(name string) (string, error) { return name, nil }
func (m *memFS) Readlink(name string) (string, error)     { return "", fs.ErrInvalid }

type fakeInfo struct {
	size int64
	dir  bool
}

func (f fakeInfo) Name() string { return "f" }
func (f fakeInfo) Size() int64  { return f.size }
func (f fakeInfo) Mode() fs.FileMode {
	if f.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.dir }
func (f fakeInfo) Sys() any           { return nil }
