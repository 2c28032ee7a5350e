package daemon

import (
	"context"
	"log/slog"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// maxLookalikes bounds the files of one size and mtime that a new file is
// compared against by path and content (each costs a stat, a network
// round trip on NFS or SMB, and perhaps a record read). Media files rarely
// share a size and an mtime; frames of an image sequence on a share with
// coarse mtimes do, by the dozen, and the new ones of such a drop cost a
// handful of stats each before their bucket passes the bound and is
// checked by device and inode only.
const maxLookalikes = 8

// renamedFrom returns the done job, left in place by a keep post-action,
// whose file j's file is under a new name, so that the new name is linked
// to the same FileId instead of being uploaded again.
//
// The candidates are the root's jobs with the file's size and mtime
// (state.Store.Lookalikes), which neither a rename nor a remount changes.
// A candidate with the file's device and inode whose old path no longer
// holds a file of that size and mtime is the file renamed on the same
// mount. When none is (the device or inode moved: a remount or a
// migration came between, whether the record adopted the new inode yet or
// not), the file's content decides, as it does for a remount at the same
// path (state.Store.Reconcile): a candidate whose file is gone and whose
// upload COS verified with this content is the file, unless the media's
// file is still at the path of another of its jobs (then j is a copy, a
// file of its own).
//
// A file renamed more than once matches the jobs of all its earlier
// names; the one returned is the job of its latest name, which has not
// been renamed yet (state.Job.RenamedTo), so that status notes each step.
func (d *Daemon) renamedFrom(ctx context.Context, j *state.Job) (*state.Job, bool) {
	cands, err := d.store.Lookalikes(ctx, j.Key)
	if err != nil {
		return nil, false
	}
	sameInode := func(dev, ino uint64) bool { return j.Key.Ino != 0 && dev == j.Key.Dev && ino == j.Key.Ino }
	var earlier *state.Job // a match already renamed once: used if no other is
	latest := func(o *state.Job) bool {
		if o.RenamedTo == "" {
			return true
		}
		if earlier == nil {
			earlier = o
		}
		return false
	}
	var others []state.Lookalike
	for _, c := range cands {
		if c.ID == j.ID {
			continue
		}
		if !sameInode(c.Dev, c.Ino) {
			others = append(others, c)
			continue
		}
		if o, ok := d.doneElsewhere(ctx, j, c.ID); ok && sameInode(o.Key.Dev, o.Key.Ino) && !stillThere(o.Key) && latest(o) {
			return o, true
		}
	}
	if earlier != nil {
		return earlier, true
	}
	if len(others) == 0 || len(others) > maxLookalikes {
		return nil, false
	}
	// A stat each first: while every lookalike is still at its path (a
	// drop of same-sized files), no record is read.
	var gone, there []state.Lookalike
	for _, c := range others {
		if c.Rel == j.Key.Rel {
			continue
		}
		if stillThere(state.Key{Root: j.Key.Root, Rel: c.Rel, Size: j.Key.Size, MtimeNs: j.Key.MtimeNs}) {
			there = append(there, c)
		} else {
			gone = append(gone, c)
		}
	}
	if len(gone) == 0 {
		return nil, false
	}
	present := map[string]bool{} // FileIds whose file is still at a job's path
	for _, c := range there {
		if o, ok := d.doneElsewhere(ctx, j, c.ID); ok {
			present[o.Result.FileID] = true
		}
	}
	var content fileid.Content // j's file's, read once when a candidate needs it
	for _, c := range gone {
		o, ok := d.doneElsewhere(ctx, j, c.ID)
		if !ok || o.Result.Content == "" || present[o.Result.FileID] || stillThere(o.Key) {
			continue // o.Result.Content is empty for records older than content checks
		}
		if content == "" {
			c, n, err := fileid.ReadContent(ctx, j.Key.Path())
			d.contentRead.Add(n)
			if err != nil {
				return nil, false
			}
			content = c
		}
		if string(content) == o.Result.Content && latest(o) {
			return o, true
		}
	}
	return earlier, earlier != nil
}

// doneElsewhere reads job id: a done job of j's kind (a file, or a bundle
// by its top manifest) with a FileId, at another path than j, whose file
// its post-action left in place.
func (d *Daemon) doneElsewhere(ctx context.Context, j *state.Job, id string) (*state.Job, bool) {
	o, err := d.store.Get(ctx, id)
	if err != nil || o.Stage != state.StageDone || o.Result.FileID == "" || o.Key.Rel == j.Key.Rel || o.Kind != j.Kind {
		return nil, false
	}
	return o, o.Post.Action == "" || o.Post.Action == "keep"
}

// stillThere reports whether k's path holds a regular file of k's size
// and mtime: the file itself (perhaps under a new inode after a remount)
// or a copy.
func stillThere(k state.Key) bool {
	id, err := fileid.Lstat(k.Path())
	return err == nil && id.Size == k.Size && id.ModTime.UnixNano() == k.MtimeNs
}

// noteRenamed records on the first job of a renamed file where the file is
// now, for status. Only informational: a crash before it loses the note,
// not the link.
func (d *Daemon) noteRenamed(ctx context.Context, id, rel string, log *slog.Logger) {
	_, err := d.store.UpdateShared(context.WithoutCancel(ctx), id, func(n *state.Job) error {
		n.RenamedTo = rel
		return nil
	})
	if err != nil {
		log.Warn("noting the rename on the first job failed", "first_job", id, "err", err)
	}
}
