package daemon

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// jobProgress records an upload's checkpoint in the state store before each
// remote side effect and after each result (uploader.Progress). Calls are
// serialised by the uploader.
type jobProgress struct {
	d         *Daemon
	id        string
	key       state.Key
	src       string
	lastStage state.Stage
	// commitSent is set once a CommitUpload may have been sent for the
	// checkpoint's session (in this run or an earlier one): from then on
	// the job stays in committing until the daemon settles it.
	commitSent bool
	certFor    string // session key whose certificate is already stored
	changed    error  // set when the file changed before commit
}

// stageOf tells which stage a checkpoint is in.
func stageOf(cp *uploader.Checkpoint) state.Stage {
	switch {
	case cp.Committing || cp.Result != nil:
		return state.StageCommitting
	case cp.SessionKey == "":
		return state.StageQueued
	}
	for _, o := range cp.Objects {
		if o.UploadID != "" || len(o.Parts) > 0 || o.Done {
			return state.StageUploading
		}
	}
	return state.StageApplied
}

// Save implements uploader.Progress.
func (p *jobProgress) Save(ctx context.Context, cp *uploader.Checkpoint) error {
	ctx = context.WithoutCancel(ctx)
	stage := stageOf(cp)
	if stage == state.StageCommitting && !p.commitSent && p.lastStage != state.StageCommitting && cp.Result == nil {
		// The last moment to notice a file that changed after it was
		// taken: nothing is committed for it.
		if err := p.d.checkUnchanged(&state.Job{Key: p.key, QuarantinePath: quarantineOf(p)}); err != nil {
			p.changed = fmt.Errorf("file changed after it was taken: %w", err)
			return p.changed
		}
		// Every file sent (a bundle's segments and playlists, the cover)
		// gets the same guarantee: unchanged from its read until the commit.
		for _, o := range cp.Objects {
			if err := fileid.Check(o.Path, o.Version()); err != nil {
				p.changed = fmt.Errorf("a file of the upload changed after it was sent: %w", err)
				return p.changed
			}
		}
	}
	if err := p.saveCert(ctx, cp); err != nil {
		return err
	}
	if (p.commitSent || p.lastStage == state.StageCommitting) && stage != state.StageCommitting {
		// A CommitUpload was sent for this session: whatever the uploader
		// does next, the job never leaves committing except through the
		// daemon's settling (done, or queued after a search found nothing),
		// so a crash now can never lead to a second copy.
		c := *cp
		c.Committing, stage = true, state.StageCommitting
		cp = &c
	}
	if cp.Committing {
		p.commitSent = true
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := p.moveTo(ctx, stage, func(n *state.Job) {
		n.Checkpoint = b
		n.BytesDone = cp.BytesDone()
		n.SessionExpires = cp.CertExpiry
	}); err != nil {
		p.d.noteStateError(err)
		return err
	}
	p.lastStage = stage
	p.d.noteProgress(false)
	return nil
}

func quarantineOf(p *jobProgress) string {
	if p.src != p.key.Path() {
		return p.src
	}
	return ""
}

// saveCert keeps the session's temporary certificate in the store's 0600
// secrets folder, never in the job record.
func (p *jobProgress) saveCert(ctx context.Context, cp *uploader.Checkpoint) error {
	if cp.Cert == nil || cp.SessionKey == "" || cp.SessionKey == p.certFor {
		return nil
	}
	b, err := json.Marshal(cp.Cert)
	if err != nil {
		return fmt.Errorf("session certificate: %w", err)
	}
	if err := p.d.store.PutSecret(ctx, p.id, b); err != nil {
		p.d.noteStateError(err)
		return err
	}
	p.certFor = cp.SessionKey
	return nil
}

// moveTo updates the job to stage, passing through applied when the store
// does not allow the direct move (for example queued -> uploading).
func (p *jobProgress) moveTo(ctx context.Context, stage state.Stage, mutate func(*state.Job)) error {
	again := false
	_, err := p.d.store.Update(ctx, p.id, func(n *state.Job) error {
		again = false // Update may call fn more than once
		if !state.CanMove(n.Stage, stage) && state.CanMove(n.Stage, state.StageApplied) {
			n.Stage, again = state.StageApplied, true
			return nil
		}
		n.Stage = stage
		mutate(n)
		return nil
	})
	if err != nil || !again {
		return err
	}
	_, err = p.d.store.Update(ctx, p.id, func(n *state.Job) error {
		n.Stage = stage
		mutate(n)
		return nil
	})
	return err
}
