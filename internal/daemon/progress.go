package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

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

	recorded bool         // the job's record holds a checkpoint
	written  writtenMarks // what the last checkpoint written says
	wroteAt  time.Time    // when it was written

	sessionFor string // session key first seen at sessionAt
	sessionAt  time.Time
}

// hasMultipart reports whether cp has a multipart upload under way.
func hasMultipart(cp *uploader.Checkpoint) bool {
	for _, o := range cp.Objects {
		if o.UploadID != "" {
			return true
		}
	}
	return false
}

// writtenMarks is what Save compares a new checkpoint with to tell a
// record that must be written from one that may wait.
type writtenMarks struct {
	session string
	objects []objectMark
}

type objectMark struct {
	key, uploadID string
	parts         int
	done          bool
}

func marksOf(cp *uploader.Checkpoint) writtenMarks {
	m := writtenMarks{session: cp.SessionKey, objects: make([]objectMark, len(cp.Objects))}
	for i, o := range cp.Objects {
		m.objects[i] = objectMark{key: o.Key, uploadID: o.UploadID, parts: len(o.Parts), done: o.Done}
	}
	return m
}

// progressEvery bounds how long finished whole objects (single PUTs) wait
// for the next record: a crash loses at most this much of them, and they
// are sent again.
const progressEvery = time.Second

// mayWait reports whether the checkpoint cp, of stage, can go unwritten
// for now: nothing in it must be durable before the next remote side
// effect. That is an empty checkpoint where none was ever recorded (a job
// about to apply for its first session), a new session not worth resuming
// and whatever it finished so far (see disposable), whole objects that
// finished since the last record (sent again after a crash; the record
// before CommitUpload carries them), and CommitUpload's answer (the done
// record written next carries it; a crash before that settles the commit,
// see settleCommit). Anything else, and every multipart upload or commit
// about to be sent, is written at once.
func (p *jobProgress) mayWait(stage state.Stage, cp *uploader.Checkpoint) bool {
	switch {
	case stage == state.StageQueued:
		return !p.recorded && p.lastStage == state.StageQueued && cp.SessionKey == "" && len(cp.Objects) == 0
	case cp.Result != nil:
		return p.lastStage == state.StageCommitting && stage == state.StageCommitting
	case cp.Committing:
		return false
	case cp.SessionKey != p.written.session:
		return p.disposable(cp)
	case len(cp.Objects) != len(p.written.objects):
		return false
	case p.d.now().Sub(p.wroteAt) >= progressEvery:
		return false
	}
	for i, o := range cp.Objects {
		w := p.written.objects[i]
		if o.Key != w.key || o.UploadID != w.uploadID || len(o.Parts) != w.parts || (o.Done != w.done && o.UploadID != "") {
			return false
		}
	}
	return true
}

// disposable reports whether cp's session is one that a crash may lose:
// no multipart upload (nothing to abort or resume), younger than
// progressEvery (a small file's, over in milliseconds), and no commit sent
// for the job. Its certificate is not kept either (saveCert), so a record
// of it could not be resumed: after a crash the job applies for a new
// session, as it does when the crash comes between ApplyUpload and any
// record. The record before CommitUpload is the first to name it.
func (p *jobProgress) disposable(cp *uploader.Checkpoint) bool {
	return !p.commitSent && p.lastStage != state.StageCommitting && p.shortLived(cp)
}

// shortLived reports whether cp's session is a small file's: no multipart
// upload and younger than progressEvery (sessionAt: when noteSession saw
// it first). Neither its record (disposable) nor its certificate
// (saveCert) is worth writing.
func (p *jobProgress) shortLived(cp *uploader.Checkpoint) bool {
	return !hasMultipart(cp) && p.d.now().Sub(p.sessionAt) < progressEvery
}

// noteSession starts the clock of a session first seen now.
func (p *jobProgress) noteSession(cp *uploader.Checkpoint) {
	if cp.SessionKey != "" && cp.SessionKey != p.sessionFor {
		p.sessionFor, p.sessionAt = cp.SessionKey, p.d.now()
	}
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
	p.noteSession(cp)
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
		// In a cluster, only the job's holder commits.
		if err := p.d.confirmInCluster(ctx, p.id); err != nil {
			return err
		}
	}
	if p.mayWait(stage, cp) {
		return nil
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
	p.recorded, p.written, p.wroteAt = true, marksOf(cp), p.d.now()
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
// secrets folder, never in the job record, once the session is worth
// resuming after a crash: it has a multipart upload, or it has lasted
// progressEvery (a bundle of many objects). A small file's session, over
// in milliseconds, is applied for again instead, which is always safe, and
// costs no file.
func (p *jobProgress) saveCert(ctx context.Context, cp *uploader.Checkpoint) error {
	if cp.Cert == nil || cp.SessionKey == "" || cp.SessionKey == p.certFor {
		return nil
	}
	if p.shortLived(cp) {
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

// moveTo updates the job to stage in one write. The record before
// CommitUpload is a shared write: durable when moveTo returns, as every
// record, but committed together with the other jobs' records that come
// within milliseconds (Store.UpdateShared) rather than in a transaction
// of its own. With many small files in flight that halves the commits,
// and their fsyncs were the largest part of the daemon's CPU per file.
func (p *jobProgress) moveTo(ctx context.Context, stage state.Stage, mutate func(*state.Job)) error {
	update := p.d.store.Update
	if stage == state.StageCommitting {
		update = p.d.store.UpdateShared
	}
	_, err := update(ctx, p.id, func(n *state.Job) error {
		n.Stage = stage
		mutate(n)
		return nil
	})
	return err
}
