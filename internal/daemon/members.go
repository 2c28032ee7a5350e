package daemon

import (
	"errors"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/manifest"
)

// memberIndex tells whether a file of one watch belongs to a bundle: a
// manifest in any folder above it (at any depth) references it, directly or
// through the playlists it nests. It reads manifests on demand from the
// disk, so it needs no memory of earlier runs, and it caches their
// references within a byte budget, evicting the least recently used.
type memberIndex struct {
	now     func() time.Time
	root    string
	ignored func(rel string) bool
	log     *slog.Logger
	budget  int64 // bytes of references cached in all
	perFile int64 // bytes of reference text one manifest may expand to
	used    int64
	clock   uint64
	lists   map[string]*refList   // manifest rel -> its references
	dirs    map[string]folderList // folder rel -> manifests in it
}

// refList is one version of a manifest's direct references.
type refList struct {
	mtime     time.Time
	size      int64
	refs      map[string]bool // slash paths under the root
	playlists []string        // the references that are playlists in turn
	cost      int64
	used      uint64
	checked   time.Time // when the file was last seen unchanged
}

// freshFor is how long a manifest seen unchanged is not looked at again:
// one recheck pass asks about many files, the disk once.
const freshFor = recheckEvery / 2

// folderList is the manifests of one folder, valid while its mtime holds.
type folderList struct {
	mtime     time.Time
	manifests []string
	checked   time.Time
}

// Budgets of a watch's member index.
const (
	memberCacheBytes  = 64 << 20
	memberNestedDepth = manifest.DefaultMaxDepth
	refOverhead       = 48 // map entry and string header per cached reference
)

func newMemberIndex(root string, ignored func(string) bool, log *slog.Logger, now func() time.Time) *memberIndex {
	return &memberIndex{now: now, root: root, ignored: ignored, log: log, budget: memberCacheBytes,
		perFile: manifest.DefaultMaxRefBytes, lists: map[string]*refList{}, dirs: map[string]folderList{}}
}

// claimant returns a manifest that references rel, if any. A manifest that
// rel itself reaches (a playlist cycle) does not claim it: the cycle is then
// reported when its manifests are resolved, instead of hiding both.
func (m *memberIndex) claimant(rel string) (string, bool) {
	_, relIsList := manifest.KindOf(rel)
	for d := path.Dir(rel); ; d = path.Dir(d) {
		for _, list := range m.manifestsIn(d) {
			if list == rel || !m.reaches(list, rel, 0, map[string]bool{}) {
				continue
			}
			if relIsList && m.reaches(rel, list, 0, map[string]bool{}) {
				continue
			}
			return list, true
		}
		if d == "." || d == "/" {
			return "", false
		}
	}
}

// reaches reports whether manifest list references rel, directly or
// through its nested playlists.
func (m *memberIndex) reaches(list, rel string, depth int, seen map[string]bool) bool {
	if seen[list] {
		return false
	}
	seen[list] = true
	l := m.refsOf(list)
	if l == nil {
		return false
	}
	if l.refs[rel] {
		return true
	}
	if depth >= memberNestedDepth {
		return false
	}
	for _, p := range l.playlists {
		if m.reaches(p, rel, depth+1, seen) {
			return true
		}
	}
	return false
}

// manifestsIn lists the manifests of folder dir (slash, under the root).
func (m *memberIndex) manifestsIn(dir string) []string {
	now := m.now()
	if f, ok := m.dirs[dir]; ok && now.Sub(f.checked) < freshFor && !now.Before(f.checked) {
		return f.manifests
	}
	full := filepath.Join(m.root, filepath.FromSlash(dir))
	fi, err := os.Stat(full)
	if err != nil {
		delete(m.dirs, dir)
		return nil
	}
	if f, ok := m.dirs[dir]; ok && f.mtime.Equal(fi.ModTime()) {
		f.checked = now
		m.dirs[dir] = f
		return f.manifests
	}
	entries, _ := os.ReadDir(full)
	var lists []string
	for _, e := range entries {
		rel := path.Join(dir, e.Name())
		if _, ok := manifest.KindOf(rel); ok && !e.IsDir() && !m.ignored(rel) {
			lists = append(lists, rel)
		}
	}
	m.dirs[dir] = folderList{mtime: fi.ModTime(), manifests: lists, checked: now}
	return lists
}

// refsOf returns the references of the current version of manifest rel,
// reading it when the cached one is stale; nil when it cannot be read or
// is refused.
func (m *memberIndex) refsOf(rel string) *refList {
	m.clock++
	now := m.now()
	if l, ok := m.lists[rel]; ok && now.Sub(l.checked) < freshFor && !now.Before(l.checked) {
		l.used = m.clock
		return l
	}
	fi, err := os.Stat(filepath.Join(m.root, filepath.FromSlash(rel)))
	if err != nil || !fi.Mode().IsRegular() {
		m.forget(rel)
		return nil
	}
	if l, ok := m.lists[rel]; ok && l.mtime.Equal(fi.ModTime()) && l.size == fi.Size() {
		l.used, l.checked = m.clock, now
		return l
	}
	m.forget(rel)
	l := m.read(rel, fi)
	l.used, l.checked = m.clock, now
	m.lists[rel] = l
	m.used += l.cost
	m.evict(rel)
	return l
}

// read parses one manifest's direct references within the per-manifest
// budget. A manifest over it is refused here too: it keeps no references
// (what it would claim is left to the bundle's own refusal).
func (m *memberIndex) read(rel string, fi os.FileInfo) *refList {
	l := &refList{mtime: fi.ModTime(), size: fi.Size(), refs: map[string]bool{}}
	err := directRefs(filepath.Join(m.root, filepath.FromSlash(rel)), path.Dir(rel), m.perFile, func(ref string, playlist bool) {
		if !l.refs[ref] {
			l.refs[ref] = true
			l.cost += int64(len(ref)) + refOverhead
			if _, isList := manifest.KindOf(ref); playlist || isList {
				l.playlists = append(l.playlists, ref)
			}
		}
	})
	if errors.Is(err, manifest.ErrLimit) {
		m.log.Warn("manifest over a limit; it claims no files", "root", m.root, "path", rel, "err", err)
		return &refList{mtime: fi.ModTime(), size: fi.Size()}
	}
	if err != nil {
		m.log.Debug("manifest not fully readable (yet)", "root", m.root, "path", rel, "err", err)
	}
	return l
}

// evict drops the least recently used lists (never keep) until the cache
// is within three quarters of its budget.
func (m *memberIndex) evict(keep string) {
	if m.used <= m.budget {
		return
	}
	rels := make([]string, 0, len(m.lists))
	for r := range m.lists {
		if r != keep {
			rels = append(rels, r)
		}
	}
	sort.Slice(rels, func(i, j int) bool { return m.lists[rels[i]].used < m.lists[rels[j]].used })
	for _, r := range rels {
		if m.used <= m.budget*3/4 {
			return
		}
		m.forget(r)
	}
}

// forget drops what is cached for rel (a manifest or a folder gone).
func (m *memberIndex) forget(rel string) {
	if l, ok := m.lists[rel]; ok {
		m.used -= l.cost
		delete(m.lists, rel)
	}
}

// forgetTree drops everything cached at or below rel.
func (m *memberIndex) forgetTree(rel string) {
	m.forget(rel)
	delete(m.dirs, rel)
	for r := range m.lists {
		if strings.HasPrefix(r, rel+"/") {
			m.forget(r)
		}
	}
	for d := range m.dirs {
		if strings.HasPrefix(d, rel+"/") {
			delete(m.dirs, d)
		}
	}
}

// directRefs calls add with every reference written in one manifest, as a
// slash path under the root (dir is the manifest's folder there), reading
// at most maxBytes of reference text.
func directRefs(p, dir string, maxBytes int64, add func(ref string, playlist bool)) error {
	kind, _ := manifest.KindOf(p)
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	emit := func(r manifest.Ref) error {
		if rel, ok := manifest.RelRef(dir, r.URI); ok {
			add(rel, r.Playlist)
		}
		return nil
	}
	po := manifest.ParseOptions{MaxRefBytes: maxBytes}
	if kind == manifest.DASH {
		return manifest.ParseDASH(f, po, emit)
	}
	return manifest.ParseHLS(f, po, emit)
}
