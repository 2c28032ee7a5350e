package daemon

import (
	"context"
	"os"
	"sync"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// renameIndex finds the done job of a file renamed inside its watch root
// after its upload, so that the new name is linked to the same FileId
// instead of being uploaded again on every rename.
//
// A rename keeps the device, inode, size and mtime: those four pick the
// candidate, and the old path must no longer hold that file. A copy or a
// NAS migration changes device or inode; confirming those needs the
// content CRC recorded at upload (the NAS identity work, issue 11), which
// belongs in sameVersion.
type renameIndex struct {
	mu     sync.Mutex
	built  map[string]bool // roots indexed
	byFile map[fileVersion][]string
}

// fileVersion is a file's identity without its path.
type fileVersion struct {
	root       string
	size, mtNs int64
	dev, ino   uint64
}

func versionOf(k state.Key) fileVersion {
	return fileVersion{root: k.Root, size: k.Size, mtNs: k.MtimeNs, dev: k.Dev, ino: k.Ino}
}

// add notes a done job (only for roots already indexed: a later build
// reads it from the state).
func (x *renameIndex) add(k state.Key, id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.built[k.Root] {
		x.byFile[versionOf(k)] = append(x.byFile[versionOf(k)], id)
	}
}

// candidates returns the ids of the jobs with j's file version, indexing
// j's root from the state on first use.
func (x *renameIndex) candidates(ctx context.Context, store *state.Store, k state.Key) ([]string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byFile == nil {
		x.built, x.byFile = map[string]bool{}, map[fileVersion][]string{}
	}
	if !x.built[k.Root] {
		err := store.Keys(ctx, k.Root, func(o state.Key, id string) bool {
			x.byFile[versionOf(o)] = append(x.byFile[versionOf(o)], id)
			return true
		})
		if err != nil {
			return nil, err
		}
		x.built[k.Root] = true
	}
	return append([]string(nil), x.byFile[versionOf(k)]...), nil
}

// renamedFrom returns the done job, left in place by a keep post-action,
// whose file j's file is under a new name.
func (d *Daemon) renamedFrom(ctx context.Context, j *state.Job) (*state.Job, bool) {
	if j.Kind != state.KindFile || j.Key.Ino == 0 {
		return nil, false // without an inode a rename cannot be told from a copy
	}
	ids, err := d.renames.candidates(ctx, d.store, j.Key)
	if err != nil {
		return nil, false
	}
	for _, id := range ids {
		if id == j.ID {
			continue
		}
		o, err := d.store.Get(ctx, id)
		if err != nil || o.Stage != state.StageDone || o.Result.FileID == "" || o.Key.Rel == j.Key.Rel {
			continue
		}
		if (o.Post.Action != "" && o.Post.Action != "keep") || sameVersion(o.Key.Path(), o.Key) {
			continue // moved or deleted by its post-action, or still at its old path (a hard link)
		}
		return o, true
	}
	return nil, false
}

// sameVersion reports whether the file at p is still the version k.
func sameVersion(p string, k state.Key) bool {
	fi, err := os.Stat(p)
	if err != nil {
		return false
	}
	id, v := fileid.FromInfo(fi), k.Version()
	return id.Size == v.Size && id.ModTime.Equal(v.ModTime) && id.Dev == v.Dev && id.Ino == v.Ino
}
