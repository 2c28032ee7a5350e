package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/rules"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// previousUpload returns the done job of an earlier version of rel, when
// the candidate with key is a new version of a file already uploaded.
func (a *assembler) previousUpload(ctx context.Context, rel string, key state.Key) *state.Job {
	j, ok, err := a.d.store.ByPath(ctx, a.w.root, rel)
	if err != nil || !ok || j.ID == key.ID() || j.Stage != state.StageDone || j.Result.FileID == "" {
		return nil
	}
	return j
}

// changedAfterUpload logs and counts a new version of an uploaded file
// and, for on_change: ignore, records the new version as done with the
// earlier version's media (nothing is uploaded, and the file is not taken
// again). The caller holds the job's claim, so no worker starts it.
func (a *assembler) changedAfterUpload(ctx context.Context, j, prev *state.Job, onChange config.OnChange) {
	a.d.events.changedAfterUpload(string(onChange))
	log := a.d.log.With("job", j.ID, "path", j.Key.Rel, "root", a.w.root, "on_change", onChange,
		"previous_job", prev.ID, "previous_file_id", prev.Result.FileID)
	switch onChange {
	case config.OnChangeIgnore:
		_, err := a.d.store.Update(context.WithoutCancel(ctx), j.ID, func(n *state.Job) error {
			n.Stage, n.Result, n.BytesDone = state.StageDone, prev.Result, n.Bytes
			n.Post = state.Post{State: state.PostDone, Action: "keep"}
			return nil
		})
		if err != nil {
			a.d.noteStateError(err)
			log.Error("recording an ignored change failed; the new version will be uploaded", "err", err)
			return
		}
		log.Info("file changed after its upload; ignored: the earlier version's media stands")
	case config.OnChangeReplace:
		log.Info("file changed after its upload; the new version is uploaded, then the earlier media deleted")
	default:
		log.Info("file changed after its upload; the new version is uploaded as a new media")
	}
}

// replaceOld deletes the media of the job that j replaces (on_change:
// replace), once j's own commit is recorded done, and records it.
func (d *Daemon) replaceOld(ctx context.Context, j *state.Job, p rules.Params, log *slog.Logger) error {
	if j.Replaces == "" || j.ReplacedOld {
		return nil
	}
	old, err := d.store.Get(ctx, j.Replaces)
	switch {
	case errors.Is(err, state.ErrNotFound):
		old = &state.Job{}
	case err != nil:
		return err
	}
	if fid := old.Result.FileID; fid != "" && fid != j.Result.FileID {
		if d.delete == nil {
			return fmt.Errorf("on_change: replace: no way to delete media %s", fid)
		}
		if err := d.delete.DeleteMedia(ctx, p.SubAppID, fid); err != nil {
			return fmt.Errorf("on_change: replace: %w", err)
		}
		d.events.changedAfterUpload("replaced")
		log.Info("replaced media deleted", "deleted_file_id", fid, "previous_job", old.ID)
	}
	if _, err := d.store.Update(context.WithoutCancel(ctx), j.ID, func(n *state.Job) error {
		n.ReplacedOld = true
		return nil
	}); err != nil {
		return err
	}
	j.ReplacedOld = true
	return nil
}
