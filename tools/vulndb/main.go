// Command vulndb turns the OSV files of the golang.org/x/vulndb module into
// the directory layout that `govulncheck -db file://DIR` reads, so that the
// vulnerability check runs where only the Go module proxy is reachable.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type osvEntry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Events []struct {
				Fixed string `json:"fixed"`
			} `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type moduleIndex struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vulnIndex struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

func main() {
	src := flag.String("src", "", "the vulndb module's data/osv folder")
	dst := flag.String("dst", "", "output folder for govulncheck -db file://")
	flag.Parse()
	if *src == "" || *dst == "" {
		fmt.Fprintln(os.Stderr, "usage: vulndb -src DIR/data/osv -dst DIR")
		os.Exit(2)
	}
	if err := build(*src, *dst); err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
}

func build(src, dst string) error {
	files, err := filepath.Glob(filepath.Join(src, "*.json"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no OSV files in %s", src)
	}
	if err := os.MkdirAll(filepath.Join(dst, "ID"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dst, "index"), 0o755); err != nil {
		return err
	}
	modules := map[string][]moduleVuln{}
	var vulns []vulnIndex
	var newest time.Time
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e osvEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := os.WriteFile(filepath.Join(dst, "ID", e.ID+".json"), raw, 0o644); err != nil {
			return err
		}
		vulns = append(vulns, vulnIndex{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		if e.Modified.After(newest) {
			newest = e.Modified
		}
		for _, a := range e.Affected {
			modules[a.Package.Name] = append(modules[a.Package.Name],
				moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: lastFixed(a.Ranges)})
		}
	}
	var mods []moduleIndex
	for p, v := range modules {
		mods = append(mods, moduleIndex{Path: p, Vulns: v})
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	if newest.IsZero() {
		newest = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if err := writeJSON(filepath.Join(dst, "index", "modules.json"), mods); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dst, "index", "vulns.json"), vulns); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dst, "index", "db.json"), map[string]time.Time{"modified": newest})
}

func lastFixed(ranges []struct {
	Events []struct {
		Fixed string `json:"fixed"`
	} `json:"events"`
}) string {
	fixed := ""
	for _, r := range ranges {
		for _, ev := range r.Events {
			if ev.Fixed != "" && !strings.HasPrefix(ev.Fixed, "0") {
				fixed = ev.Fixed
			}
		}
	}
	return fixed
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
