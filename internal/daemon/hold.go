package daemon

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/manifest"
	"github.com/vodwatchd/vodwatchd/internal/rules"
)

// partExts are the extensions HLS/DASH bundles are made of besides their
// manifests. A settled file with one of them may be a segment whose
// manifest is still to come (a bundle copied with its manifest last), so it
// becomes a job of its own only once its folder and the folder above have
// been quiet for bundleHold and no manifest there references it.
var partExts = map[string]bool{
	".ts": true, ".m4s": true, ".m4a": true, ".m4v": true, ".aac": true, ".ac3": true,
	".ec3": true, ".vtt": true, ".webvtt": true, ".key": true, ".cmfv": true, ".cmfa": true,
	".cmft": true, ".mp3": true,
}

// maybeBundlePart reports whether rel looks like a part of an HLS/DASH
// bundle: a segment, a key, an init segment or a (variant) manifest.
func maybeBundlePart(rel string) bool {
	base := strings.ToLower(path.Base(rel))
	ext := path.Ext(base)
	if partExts[ext] {
		return true
	}
	if _, ok := manifest.KindOf(rel); ok {
		return true
	}
	return strings.HasPrefix(base, "init") && (ext == ".mp4" || ext == ".m4a" || ext == ".m4v")
}

// bundleHold is how long a folder must be quiet before a file that may
// belong to a bundle is taken on its own.
func (a *assembler) bundleHold() time.Duration {
	return max(2*a.w.cfg.Settle, time.Second)
}

// folderQuiet reports whether the folder dir (slash, under the root) and
// its parent have seen no new or changed entry for the bundle hold, so
// that a manifest written last claims its parts before they are judged.
func (a *assembler) folderQuiet(dir string) bool {
	return a.folderQuietFor(dir, a.bundleHold())
}

// folderQuietFor is folderQuiet for a hold of its own (a rule's
// bundle_wait).
func (a *assembler) folderQuietFor(dir string, hold time.Duration) bool {
	now := a.d.now()
	for _, d := range []string{dir, path.Dir(dir)} {
		if d == ".." || strings.HasPrefix(d, "../") {
			continue
		}
		if now.Sub(a.activity(d)) < hold {
			return false
		}
		if d == "." {
			break
		}
	}
	return true
}

// activity returns the newest modification time in folder dir (the folder
// itself and its direct entries). Results
// are cached for one recheck pass.
func (a *assembler) activity(dir string) time.Time {
	if t, ok := a.actCache[dir]; ok && a.d.now().Sub(a.actAt) < recheckEvery/2 {
		return t
	}
	if a.d.now().Sub(a.actAt) >= recheckEvery/2 {
		a.actCache, a.actAt = map[string]time.Time{}, a.d.now()
	}
	full := filepath.Join(a.w.root, filepath.FromSlash(dir))
	newest := time.Time{}
	if fi, err := os.Stat(full); err == nil {
		newest = fi.ModTime()
	}
	entries, _ := os.ReadDir(full)
	for _, e := range entries {
		rel := path.Join(dir, e.Name())
		if a.w.cfg.Ignored(rel) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	a.actCache[dir] = newest
	return newest
}

// markerCache is the set of ready markers named by the files of one folder,
// valid while the folder's modification time is unchanged.
type markerCache struct {
	mtime   time.Time
	markers map[string]bool
}

// isReadyMarker reports whether rel is the ready marker of another file in
// its folder (clip.mp4.done of clip.mp4): a marker is never media, even
// when a rule like "**/*" matches it.
func (a *assembler) isReadyMarker(rel string) bool {
	if !a.markerRules {
		return false
	}
	for _, c := range a.pending {
		if c.params.ReadyMarker == rel {
			return true
		}
	}
	dir := path.Dir(rel)
	full := filepath.Join(a.w.root, filepath.FromSlash(dir))
	fi, err := os.Stat(full)
	if err != nil {
		return false
	}
	if mc, ok := a.markers[dir]; ok && mc.mtime.Equal(fi.ModTime()) {
		return mc.markers[rel]
	}
	mc := markerCache{mtime: fi.ModTime(), markers: map[string]bool{}}
	entries, _ := os.ReadDir(full)
	for _, e := range entries {
		srel := path.Join(dir, e.Name())
		if !e.Type().IsRegular() || a.w.cfg.Ignored(srel) {
			continue
		}
		rule, ok := a.w.rules.Match(srel)
		if !ok || rule.ReadyMarker == nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		p, err := rule.Params(rules.FileFacts{Root: a.w.root, Rel: srel, Size: info.Size(), ModTime: info.ModTime()})
		if err == nil && p.ReadyMarker != "" && p.ReadyMarker != srel {
			mc.markers[p.ReadyMarker] = true
		}
	}
	a.markers[dir] = mc
	return mc.markers[rel]
}

// hasMarkerRules reports whether any rule of the watch asks for a marker.
func hasMarkerRules(set *rules.Set) bool {
	for _, r := range set.Rules() {
		if r.ReadyMarker != nil {
			return true
		}
	}
	return false
}
