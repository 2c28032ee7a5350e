// Package buildinfo reports the binary's version, Go version and the module
// versions it was built with.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sort"
)

// version is set at link time:
//
//	go build -ldflags "-X github.com/vodwatchd/vodwatchd/internal/buildinfo.version=v1.2.3" ./cmd/vodwatchd
//
// The linker is its only writer.
var version string

// Module is one module of the build.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Sum     string `json:"sum,omitempty"`
	Replace string `json:"replace,omitempty"` // "path version" of a replacement
}

// Info describes the running binary.
type Info struct {
	Version   string   `json:"version"`
	GoVersion string   `json:"go_version"`
	Platform  string   `json:"platform"` // GOOS/GOARCH
	Module    string   `json:"module,omitempty"`
	Revision  string   `json:"vcs_revision,omitempty"`
	Time      string   `json:"vcs_time,omitempty"`
	Modified  bool     `json:"vcs_modified,omitempty"`
	Deps      []Module `json:"deps"`
}

// Read returns the binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	return fromBuildInfo(version, bi, ok)
}

func fromBuildInfo(linked string, bi *debug.BuildInfo, ok bool) Info {
	info := Info{
		Version:   "devel",
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
		Deps:      []Module{},
	}
	if ok && bi != nil {
		info.Module = bi.Main.Path
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
		}
		readSettings(&info, bi.Settings)
		info.Deps = deps(bi.Deps)
	}
	if linked != "" {
		info.Version = linked
	}
	return info
}

func readSettings(info *Info, settings []debug.BuildSetting) {
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
}

func deps(in []*debug.Module) []Module {
	out := make([]Module, 0, len(in))
	for _, d := range in {
		if d == nil {
			continue
		}
		m := Module{Path: d.Path, Version: d.Version, Sum: d.Sum}
		if r := d.Replace; r != nil {
			m.Replace = r.Path + " " + r.Version
			m.Sum = r.Sum
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
