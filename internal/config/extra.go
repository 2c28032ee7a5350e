package config

import (
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/vodwatchd/vodwatchd/internal/rootlock"
)

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 parse error into a FieldError.
func syntaxError(name string, err error) *FieldError {
	msg := err.Error()
	line := 1
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &FieldError{Pos: Pos{File: name, Line: line, Column: 1}, Msg: "YAML syntax: " + msg}
}

// IgnoreFunc is Ignored as the watcher's ignore function (the root itself
// is never ignored).
func (w *Watch) IgnoreFunc() func(rel string, isDir bool) bool {
	return func(rel string, _ bool) bool { return rel != "" && w.Ignored(rel) }
}

// Ignored reports whether a slash path relative to the watch root is
// ignored. Patterns without a slash are matched against every path
// element (so ".*" hides dot folders too); patterns with a slash against
// the whole relative path.
func (w *Watch) Ignored(rel string) bool {
	rel = strings.Trim(path.Clean("/"+rel), "/")
	if rel == "" {
		return false
	}
	if rel == rootlock.Name {
		return true // the daemon's own lock file, whatever the patterns say
	}
	elems := strings.Split(rel, "/")
	for _, p := range w.Ignore {
		if strings.Contains(p, "/") {
			if ok, _ := doublestar.Match(p, rel); ok {
				return true
			}
			continue
		}
		for _, e := range elems {
			if ok, _ := doublestar.Match(p, e); ok {
				return true
			}
		}
	}
	return false
}
