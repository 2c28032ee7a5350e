// Package realpath resolves paths that may not exist yet: symlinks in every
// existing ancestor, so that a folder still to be created is judged by where
// it will really be.
package realpath

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxLinkHops bounds the dangling symlinks Existing follows.
const maxLinkHops = 40

// Existing returns p (cleaned) with symlinks resolved in its longest
// existing prefix and the rest appended as written; a dangling symlink on
// the way is followed to where it points.
func Existing(p string) string {
	return resolveExisting(filepath.Clean(p), 0)
}

func resolveExisting(p string, hops int) string {
	tail := ""
	for q := p; ; q = filepath.Dir(q) {
		if r, err := filepath.EvalSymlinks(q); err == nil {
			return filepath.Join(r, tail)
		}
		if fi, err := os.Lstat(q); err == nil && fi.Mode()&fs.ModeSymlink != 0 && hops < maxLinkHops {
			if target, err := os.Readlink(q); err == nil {
				if !filepath.IsAbs(target) {
					target = filepath.Join(filepath.Dir(q), target)
				}
				return resolveExisting(filepath.Join(target, tail), hops+1)
			}
		}
		parent := filepath.Dir(q)
		if parent == q {
			return p
		}
		tail = filepath.Join(filepath.Base(q), tail)
	}
}

// Within reports whether p is dir or lies below it, both taken as written.
func Within(p, dir string) bool {
	if p == dir {
		return true
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
