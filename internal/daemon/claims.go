package daemon

import (
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
	"github.com/vodwatchd/vodwatchd/internal/manifest"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// What `vodwatchd check` asks of the daemon's own reading of a folder, so
// that it explains a path the way the daemon treats it.

// ClaimedBy returns the manifests under root (slash paths) that reference
// rel: a variant playlist, segment or key travels with them and is never a
// job of its own. References never leave a manifest's folder, so only rel's
// folder and the folders above it, up to root, are read.
func ClaimedBy(root, rel string) []string {
	var out []string
	for dir := path.Dir(rel); ; dir = path.Dir(dir) {
		ents, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(dir)))
		if err == nil {
			for _, e := range ents {
				m := path.Join(dir, e.Name())
				if _, ok := manifest.KindOf(m); !ok || m == rel || !e.Type().IsRegular() {
					continue
				}
				claims := false
				_ = directRefs(filepath.Join(root, filepath.FromSlash(m)), path.Dir(m), manifest.DefaultMaxRefBytes,
					func(ref string, _ bool) { claims = claims || ref == rel })
				if claims {
					out = append(out, m)
				}
			}
		}
		if dir == "." || dir == "/" {
			break
		}
	}
	sort.Strings(out)
	return out
}

// JobKey is the identity the daemon records a version of root/rel under;
// its ID() is the job's id, and so .JobID in source_context and the other
// templates.
func JobKey(root, rel string, id fileid.ID) state.Key { return state.NewKey(root, rel, id) }

// SidecarOf reports whether rel is named like a file the daemon writes
// beside a media file (<media>.vod.json, <media>.error.json) and names the
// media file. The daemon skips it while that media file exists or is known.
func SidecarOf(rel string) (media string, ok bool) {
	for _, suf := range sidecarSuffixes {
		if m, ok := strings.CutSuffix(rel, suf); ok && m != "" && !strings.HasSuffix(m, "/") {
			return m, true
		}
	}
	return "", false
}
