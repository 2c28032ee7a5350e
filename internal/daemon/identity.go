package daemon

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// reconcile asks the state whether the file at rel under root is one it
// knows (state.Store.Reconcile): it reads the file's content only for a
// candidate record whose inode or ctime moved, and logs what it decided.
// It returns the key a new job takes, and for Adopted the adoption the
// caller records (state.Store.Adopt, batched by the intake).
func (d *Daemon) reconcile(ctx context.Context, root, rel string, st fileid.ID) (state.Key, state.Outcome, *state.Adoption, error) {
	key := state.NewKey(root, rel, st)
	var read int64
	key, out, j, err := d.store.Reconcile(ctx, key, func(ctx context.Context) (fileid.Content, error) {
		c, n, err := fileid.ReadContent(ctx, key.Path())
		read = n
		return c, err
	})
	d.contentRead.Add(read)
	switch {
	case err != nil:
		return key, out, nil, err
	case out == state.Adopted:
		d.log.Info("same file under a new inode (remount or migration): record adopted, nothing uploaded",
			"job", j.ID, "root", root, "path", rel, "bytes_read", read)
		return key, out, &state.Adoption{ID: j.ID, Key: key}, nil
	case out == state.NewVersion:
		d.log.Info("same path, size and mtime as an uploaded file but other content: a new version",
			"root", root, "path", rel, "content", key.Variant, "bytes_read", read)
	}
	return key, out, nil, nil
}

// adoptBatch is how many adoptions the intake records in one transaction.
const adoptBatch = 512

// adoptions collects the adoptions of one intake and records them in
// batches: on a full batch, at the end of a scan and on every tick.
type adoptions struct {
	d       *Daemon
	pending []state.Adoption
}

func (a *adoptions) add(ctx context.Context, ad state.Adoption) {
	a.pending = append(a.pending, ad)
	if len(a.pending) >= adoptBatch {
		a.flush(ctx)
	}
}

// flush records the pending adoptions; on failure they are dropped, and
// the next scan reads those files and asks again.
func (a *adoptions) flush(ctx context.Context) {
	if len(a.pending) == 0 {
		return
	}
	if err := a.d.store.Adopt(ctx, a.pending...); err != nil {
		a.d.noteStateError(err)
		a.d.log.Error("recording adopted records failed; the next scan checks those files again", "count", len(a.pending), "err", err)
	}
	a.pending = a.pending[:0]
}

// ContentBytesRead is how many bytes identity checks have read in full
// (files whose inode or ctime moved since their upload).
func (d *Daemon) ContentBytesRead() int64 { return d.contentRead.Load() }

// committedContent is the fileid.Content of the object uploaded from src:
// the CRC-64 COS verified for it (for a bundle, its top manifest).
func committedContent(cp *uploader.Checkpoint, src string) string {
	if cp == nil {
		return ""
	}
	for _, o := range cp.Objects {
		if o.Path == src && o.Done {
			return string(fileid.ContentOf(o.CRC64))
		}
	}
	return ""
}

// retake handles a job whose file changed before its commit but kept its
// size and mtime (a new inode or ctime: a remount, or a rewrite in place
// with its times put back): the job takes the file as it is now and
// uploads it again as a whole, from a new session, so what is committed is
// one whole version. It reports whether it did; a file that changed size
// or mtime, vanished, or was moved by the daemon is left to fileChanged.
func (d *Daemon) retake(ctx context.Context, j *state.Job, log *slog.Logger) bool {
	if j.QuarantinePath != "" {
		return false
	}
	now, err := fileid.Lstat(j.Key.Path())
	if err != nil || !now.SameVersion(j.Key.Version()) {
		return false
	}
	maxAttempts := d.cfg().Upload.Retries.MaxAttempts
	if maxAttempts > 0 && j.Attempts+1 >= maxAttempts {
		return false
	}
	fresh := state.NewKey(j.Key.Root, j.Key.Rel, now)
	_, err = d.store.Update(context.WithoutCancel(ctx), j.ID, func(n *state.Job) error {
		if n.Stage == state.StageCommitting || n.Stage == state.StageDone {
			// A CommitUpload may have been sent: settling it is the
			// committing path's business, never a second upload.
			return errRetakeCommitting
		}
		n.Key.Dev, n.Key.Ino, n.Key.CtimeNs = fresh.Dev, fresh.Ino, fresh.CtimeNs
		n.Stage, n.Checkpoint, n.BytesDone, n.SessionExpires = state.StageQueued, nil, 0, time.Time{}
		n.Attempts++
		n.LastError = &state.JobError{Code: CodeFileChanged, Op: "check",
			Message: "the file changed before its commit (same size and mtime, new inode or ctime); it is uploaded again as a whole", At: d.now()}
		return nil
	})
	if err != nil {
		if !errors.Is(err, errRetakeCommitting) {
			log.Error("recording a changed file failed", "err", err)
			d.noteStateError(err)
		}
		return false
	}
	log.Warn("file changed before its commit with its size and mtime put back; uploading it again as a whole",
		"code", CodeFileChanged, "attempt", j.Attempts+1)
	return true
}

var errRetakeCommitting = errors.New("job is committing")
