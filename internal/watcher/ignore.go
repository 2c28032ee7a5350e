package watcher

import (
	"path"
	"path/filepath"
	"strings"
)

// IgnoreFunc says whether a path (slash, relative to the root) is skipped:
// an ignored folder is neither watched nor descended. The consumer supplies
// it (its config owns the patterns); DefaultIgnore is the built-in one.
type IgnoreFunc func(rel string, isDir bool) bool

func noIgnore(string, bool) bool { return false }

// DefaultIgnorePatterns are the temporary-name patterns ignored by default,
// as globs on the base name (a fresh slice each call).
func DefaultIgnorePatterns() []string {
	return []string{".*", "*.part", "*.tmp", "*.crdownload", "*.filepart"}
}

var tempSuffixes = [...]string{".part", ".tmp", ".crdownload", ".filepart"}

// DefaultIgnore ignores dotfiles and dot-folders, *.part, *.tmp,
// *.crdownload, *.filepart (case-insensitive) and rsync's temporary
// .name.XXXXXX files, anywhere under the root.
func DefaultIgnore(rel string, isDir bool) bool {
	if rel == "" {
		return false
	}
	name := path.Base(rel)
	if strings.HasPrefix(name, ".") || IsRsyncTemp(name) {
		return true
	}
	if isDir {
		return false
	}
	lower := strings.ToLower(name)
	for _, s := range tempSuffixes {
		if strings.HasSuffix(lower, s) && len(lower) > len(s) {
			return true
		}
	}
	return false
}

// IsRsyncTemp reports whether name looks like rsync's temporary file for a
// transfer in progress: ".<final name>.XXXXXX" with six letters or digits.
func IsRsyncTemp(name string) bool {
	if len(name) < 9 || name[0] != '.' || name[len(name)-7] != '.' {
		return false
	}
	for _, c := range name[len(name)-6:] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

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
