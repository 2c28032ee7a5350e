package watcher

import (
	"path/filepath"
)

// IgnoreFunc says whether a path (slash, relative to the root) is skipped:
// an ignored folder is neither watched nor descended. The consumer supplies
// it (its config owns the patterns: config.Watch.IgnoreFunc).
type IgnoreFunc func(rel string, isDir bool) bool

func noIgnore(string, bool) bool { return false }

// joinRel joins a slash rel path onto root as an OS path.
func joinRel(root, rel string) string {
	if rel == "" {
		return root
	}
	return root + string(filepath.Separator) + filepath.FromSlash(rel)
}

func childRel(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "/" + name
}
