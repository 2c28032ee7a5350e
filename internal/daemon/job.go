package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/fileid"
	"github.com/vodwatchd/vodwatchd/internal/manifest"
	"github.com/vodwatchd/vodwatchd/internal/playable"
	"github.com/vodwatchd/vodwatchd/internal/postaction"
	"github.com/vodwatchd/vodwatchd/internal/rules"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// Uploader is what the daemon needs of internal/uploader.
type Uploader interface {
	Upload(ctx context.Context, req uploader.Request, cp *uploader.Checkpoint, p uploader.Progress) (uploader.Result, error)
	Commit(ctx context.Context, cp *uploader.Checkpoint, p uploader.Progress) (uploader.Result, error)
}

// MediaFinder looks VOD up for media an earlier, unanswered CommitUpload
// may have created.
type MediaFinder interface {
	FindMediaIn(ctx context.Context, subAppID uint64, sourceContext string, since time.Time) (uploader.Result, bool, error)
}

// MediaDeleter deletes a media in VOD (on_change: replace).
type MediaDeleter interface {
	DeleteMedia(ctx context.Context, subAppID uint64, fileID string) error
}

// Error codes the daemon itself gives a job (the service's codes pass
// through unchanged).
const (
	CodeFileChanged    = "FileChanged" // the file changed after it was taken
	CodeFileMissing    = "FileMissing" // the file vanished
	CodeFileUnreadable = "FileUnreadable"
	CodeBundleInvalid  = "BundleInvalid" // a manifest reference was refused
	CodeNoRule         = "NoRule"        // no rule takes the file any more
	CodeState          = "StateError"    // the state file could not be written
	CodeLocal          = "LocalError"
	CodeCommitUnknown  = "CommitUnknown"
	CodePostAction     = "PostActionFailed"
)

// runJob takes one job from the stage it is in to its next resting stage:
// done (and its post-action), failed with a retry time, or quarantined.
// A cancelled ctx (shutdown) leaves the job where its checkpoint is.
// sent reports whether the job went through the uploader to done; a job
// linked to media already in VOD (renamed, deduplicated) sent nothing, and
// its few milliseconds say nothing of the network.
func (d *Daemon) runJob(ctx context.Context, j *state.Job) (sent bool) {
	log := d.log.With("job", j.ID, "path", j.Key.Rel, "root", j.Key.Root, "rule", j.Rule)
	if j.Stage == state.StageDone {
		d.runPost(ctx, j, log)
		return
	}
	if d.opts.Cluster != nil && !d.claimInCluster(ctx, j, log) {
		return
	}
	rule, params, err := d.paramsFor(j)
	if err != nil {
		d.fail(ctx, j, log, jobFailure{code: CodeNoRule, msg: err.Error()}, nil)
		return
	}
	// A job caught committing is settled first, whatever the file is now
	// (settling never uploads): a commit may have happened, and a file
	// remounted meanwhile must not turn it into a second upload.
	if j.Stage != state.StageCommitting {
		if err := d.checkUnchanged(j); err != nil {
			d.fileChanged(ctx, j, log, err)
			return
		}
	}
	cp, err := d.loadCheckpoint(ctx, j)
	if err != nil {
		d.fail(ctx, j, log, jobFailure{code: CodeState, msg: err.Error(), retry: true}, rule)
		return
	}
	if len(j.Checkpoint) == 0 {
		if o, ok := d.renamedFrom(ctx, j); ok {
			log.Info("renamed after its upload; linked to its FileId instead of uploading again",
				"file_id", o.Result.FileID, "first_job", o.ID, "first_path", o.Key.Rel)
			d.done(ctx, j, uploader.Result{FileID: o.Result.FileID, MediaURL: o.Result.MediaURL, CoverURL: o.Result.CoverURL}, o.Result.Content, 0, log, params)
			d.noteRenamed(ctx, o.ID, j.Key.Rel, log)
			return
		}
	}
	if params.Dedupe && j.Kind == state.KindFile && len(j.Checkpoint) == 0 {
		res, linked, release, err := d.dedupe(ctx, j, log)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.fail(ctx, j, log, classify(err, nil), rule)
			return
		}
		defer release()
		if linked {
			d.done(ctx, j, res, "", 0, log, params)
			return
		}
	}
	start := d.now()
	prog := &jobProgress{d: d, id: j.ID, key: j.Key, src: j.SourcePath(), lastStage: j.Stage, commitSent: cp.Committing,
		recorded: len(j.Checkpoint) > 0}
	log.Info("upload starting", "stage", j.Stage, "attempt", j.Attempts+1, "bytes", j.Bytes)
	res, err := d.up.Upload(ctx, d.request(j, params), cp, prog)
	if errors.Is(err, uploader.ErrCommitUnknown) && ctx.Err() == nil {
		res, err = d.settleCommit(ctx, j, cp, prog, log)
	} else if sessionRefused(err) && ctx.Err() == nil {
		res, cp, prog, err = d.afterRefusedSession(ctx, j, params, cp, prog, err, log)
	}
	if err != nil {
		if ctx.Err() != nil {
			log.Info("upload interrupted; it resumes from its checkpoint", "stage", prog.lastStage)
			return
		}
		if errors.Is(err, ErrClaimLost) {
			d.claimLost(ctx, j, log, err)
			return
		}
		if f := classify(err, prog); f.code == CodeFileChanged {
			d.fileChanged(ctx, j, log, err)
		} else {
			d.fail(ctx, j, log, f, rule)
		}
		return
	}
	d.done(ctx, j, res, committedContent(cp, j.SourcePath()), d.now().Sub(start), log, params)
	return true
}

// paramsFor finds the job's rule in the current configuration (by name,
// else by matching again) and renders its parameters.
func (d *Daemon) paramsFor(j *state.Job) (*rules.Rule, rules.Params, error) {
	w := d.watchFor(j.Key.Root)
	if w == nil {
		return nil, rules.Params{}, fmt.Errorf("no watch for root %s in the configuration", j.Key.Root)
	}
	var rule *rules.Rule
	for _, r := range w.rules.Rules() {
		if r.Name == j.Rule {
			rule = r
			break
		}
	}
	if rule == nil {
		var ok bool
		if rule, ok = w.rules.Match(j.Key.Rel); !ok {
			return nil, rules.Params{}, fmt.Errorf("no rule matches %s any more", j.Key.Rel)
		}
	}
	p, err := rule.Params(rules.FileFacts{Root: j.Key.Root, Rel: j.Key.Rel, Size: j.Key.Size,
		ModTime: j.Key.Version().ModTime, JobID: j.ID})
	return rule, p, err
}

func (d *Daemon) request(j *state.Job, p rules.Params) uploader.Request {
	req := uploader.Request{
		MediaFilePath: j.SourcePath(), MediaType: p.MediaType, MediaName: p.MediaName,
		Procedure: p.Procedure, ExpireTime: p.ExpireTime, SourceContext: p.SourceContext,
		SessionContext: p.SessionContext, StorageRegion: p.StorageRegion, SubAppID: p.SubAppID,
		ClassID: p.ClassID, ConcurrentUploadNumber: p.ConcurrentUploadNumber,
	}
	if j.Cover != "" {
		req.CoverFilePath = filepath.Join(filepath.Dir(j.SourcePath()), path.Base(j.Cover))
	}
	if j.QuarantinePath == "" {
		// The uploader refuses a file that is no longer the one this job
		// took (replaced, rewritten, swapped for a symlink).
		id := j.Key.Version()
		req.Expect = &id
	}
	return req
}

// checkUnchanged compares the file with the version the job was taken
// with (a *fileid.ChangedError, or fileid.ErrChanged with the lstat cause).
// A quarantined file was moved by the daemon, so its inode is not compared.
func (d *Daemon) checkUnchanged(j *state.Job) error {
	id := j.Key.Version()
	if j.QuarantinePath != "" {
		id = id.Relocated()
	}
	return fileid.Check(j.SourcePath(), id)
}

// fileChanged drops a job whose file changed or vanished before commit:
// the new version settles again and becomes a job of its own. A file that
// kept its size and mtime is taken again by the same job (retake).
func (d *Daemon) fileChanged(ctx context.Context, j *state.Job, log *slog.Logger, cause error) {
	if cur, err := d.store.Get(ctx, j.ID); err == nil && d.retake(ctx, cur, log) {
		return
	}
	code := CodeFileChanged
	if errors.Is(cause, fs.ErrNotExist) {
		code = CodeFileMissing
	} else if errors.Is(cause, fs.ErrPermission) {
		code = CodeFileUnreadable
	}
	log.Warn("file changed or vanished before its upload was committed; upload abandoned", "code", code, "reason", cause)
	d.fail(ctx, j, log, jobFailure{code: code, msg: cause.Error(), final: true, keepFile: true}, nil)
}

func (d *Daemon) loadCheckpoint(ctx context.Context, j *state.Job) (*uploader.Checkpoint, error) {
	cp := &uploader.Checkpoint{}
	if len(j.Checkpoint) > 0 {
		if err := json.Unmarshal(j.Checkpoint, cp); err != nil {
			return nil, fmt.Errorf("job %s: unreadable checkpoint: %w", j.ID, err)
		}
	}
	if cp.SessionKey == "" {
		return cp, nil
	}
	if j.Stage == state.StageCommitting && cp.Result == nil {
		// The stage says a CommitUpload may have been sent: settle it
		// (commit again, then search VOD) before any new session.
		cp.Committing = true
	}
	raw, ok, err := d.store.Secret(ctx, j.ID)
	if err != nil {
		return nil, fmt.Errorf("job %s: session certificate: %w", j.ID, err)
	}
	if ok {
		var cert uploader.Cert
		if err := json.Unmarshal(raw, &cert); err != nil {
			// Certificates are not fsynced (state.Store.PutSecret): one
			// torn by a power cut is a lost one, and the uploader applies
			// for a new session.
			d.log.Warn("session certificate unreadable; a new session is applied for", "job", j.ID)
			return cp, nil
		}
		cp.Cert = &cert
	}
	return cp, nil
}

// settleCommit resolves a CommitUpload whose outcome is unknown without
// uploading a second copy: commit again with the same session key; if the
// service no longer knows the key, look the media up by SourceContext.
func (d *Daemon) settleCommit(ctx context.Context, j *state.Job, cp *uploader.Checkpoint, prog *jobProgress, log *slog.Logger) (uploader.Result, error) {
	log.Info("settling an unanswered CommitUpload", "session", cp.SessionKey)
	if err := d.confirmInCluster(ctx, j.ID); err != nil {
		return uploader.Result{}, err
	}
	res, err := d.up.Commit(ctx, cp, prog)
	if err == nil || errors.Is(err, uploader.ErrCommitUnknown) || d.finder == nil {
		return res, err
	}
	var ue *uploader.Error
	if !errors.As(err, &ue) || ue.Retryable {
		return res, err
	}
	since := j.Started.Add(-time.Hour)
	found, ok, ferr := d.finder.FindMediaIn(ctx, cp.SubAppID, sourceContextOf(j, d), since)
	if ferr != nil {
		return res, fmt.Errorf("commit refused (%v) and looking the media up failed: %w", err, ferr)
	}
	if ok {
		log.Info("the unanswered commit had succeeded: media found in VOD", "file_id", found.FileID)
		return found, nil
	}
	log.Warn("commit refused and no media found: uploading again", "code", ue.Code)
	if _, uerr := d.store.Update(ctx, j.ID, func(n *state.Job) error {
		n.Stage, n.Checkpoint, n.BytesDone = state.StageQueued, nil, 0
		return nil
	}); uerr != nil {
		return res, uerr
	}
	return res, &uploader.Error{Op: "CommitUpload", Code: ue.Code, Message: "session refused and no media found; the file will be uploaded again", Retryable: true}
}

// sessionRefused reports whether err is CommitUpload refusing the
// session's VodSessionKey (expired after a long stop, or unknown to a
// service that lost it): the service refused the session, not the file.
func sessionRefused(err error) bool {
	var ue *uploader.Error
	return errors.As(err, &ue) && ue.Op == "CommitUpload" && ue.Code == "InvalidParameterValue.VodSessionKey"
}

// afterRefusedSession settles a CommitUpload that refused the session: an
// earlier, unanswered commit may have created the media, so VOD is
// searched by SourceContext (as the crash path does); when nothing is
// found nothing was committed, and the file is uploaded again at once from
// a new session, within the same attempt. It returns the checkpoint and
// progress of the upload that ended.
func (d *Daemon) afterRefusedSession(ctx context.Context, j *state.Job, params rules.Params, cp *uploader.Checkpoint,
	prog *jobProgress, cause error, log *slog.Logger) (uploader.Result, *uploader.Checkpoint, *jobProgress, error) {
	if d.finder != nil {
		found, ok, err := d.finder.FindMediaIn(ctx, cp.SubAppID, sourceContextOf(j, d), j.Started.Add(-time.Hour))
		if err != nil {
			return uploader.Result{}, cp, prog, fmt.Errorf("session refused (%v) and looking the media up failed: %w", cause, err)
		}
		if ok {
			log.Info("session refused, but an earlier commit had succeeded: media found in VOD", "file_id", found.FileID)
			return found, cp, prog, nil
		}
	}
	log.Warn("session refused before any commit and no media found: uploading again with a new session",
		"code", "InvalidParameterValue.VodSessionKey", "session", cp.SessionKey)
	if _, err := d.store.Update(context.WithoutCancel(ctx), j.ID, func(n *state.Job) error {
		n.Stage, n.Checkpoint, n.BytesDone, n.SessionExpires = state.StageQueued, nil, 0, time.Time{}
		return nil
	}); err != nil {
		d.noteStateError(err)
		return uploader.Result{}, cp, prog, err
	}
	cp = &uploader.Checkpoint{}
	prog = &jobProgress{d: d, id: j.ID, key: j.Key, src: j.SourcePath(), lastStage: state.StageQueued}
	res, err := d.up.Upload(ctx, d.request(j, params), cp, prog)
	if errors.Is(err, uploader.ErrCommitUnknown) && ctx.Err() == nil {
		res, err = d.settleCommit(ctx, j, cp, prog, log)
	}
	return res, cp, prog, err
}

func sourceContextOf(j *state.Job, d *Daemon) string {
	if j.SourceContext != "" {
		return j.SourceContext
	}
	_, p, err := d.paramsFor(j)
	if err != nil {
		return ""
	}
	return p.SourceContext
}

// done records the result durably, with the committed object's content
// (the identity's confirmation, see state.Store.Reconcile), then runs the
// post-action.
func (d *Daemon) done(ctx context.Context, j *state.Job, res uploader.Result, content string, took time.Duration, log *slog.Logger, p rules.Params) {
	action := string(p.After.Action)
	play, post := d.playFor(ctx, res, p)
	// Shared: the next job's record (or sharedWait) commits it. Nothing
	// remote waits on it: a crash before it leaves the job committing,
	// settled by search without a second upload.
	nj, err := d.store.UpdateShared(context.WithoutCancel(ctx), j.ID, func(n *state.Job) error {
		if !state.CanMove(n.Stage, state.StageDone) {
			return fmt.Errorf("job %s: %s -> done: %w", n.ID, n.Stage, state.ErrTransition)
		}
		n.Stage = state.StageDone
		n.Result = state.Result{FileID: res.FileID, MediaURL: res.MediaURL, CoverURL: res.CoverURL, RequestID: res.RequestID, Content: content}
		n.LastError, n.NextRetry, n.BytesDone = nil, time.Time{}, n.Bytes
		n.Post = state.Post{State: post, Action: action}
		n.Play = play
		if post == state.PostPending && nothingAfter(p.After) && (n.Replaces == "" || n.ReplacedOld) && d.opts.Cluster == nil {
			// Keep without a sidecar (and no replaced media to delete) has
			// nothing to do: recorded as done here, not in a second write.
			// (A cluster member still goes through runPost: it registers
			// the commit cluster-wide.)
			n.Post.State, n.Post.Attempts = state.PostDone, 1
		}
		return nil
	})
	if err != nil {
		// The commit happened; the record did not. The job stays in
		// committing and the next attempt settles it without a new upload.
		log.Error("upload committed but recording it failed; it will be settled again", "file_id", res.FileID, "err", err)
		d.noteStateError(err)
		d.store.Resume(j.ID)
		return
	}
	d.events.uploaded(nj, took)
	d.noteProgress(true)
	log.Info("upload done", "stage", state.StageDone, "file_id", res.FileID, "media_url", res.MediaURL, "seconds", took.Seconds())
	d.runPost(ctx, nj, log)
}

// nothingAfter reports whether a post-action has no effect: keep, no
// sidecar.
func nothingAfter(a config.After) bool {
	return (a.Action == "" || a.Action == config.AfterKeep) && !a.Sidecar
}

// runPost runs a done job's pending post-action and records it.
func (d *Daemon) runPost(ctx context.Context, j *state.Job, log *slog.Logger) {
	if j.Post.State != state.PostPending {
		return
	}
	if d.opts.Cluster != nil {
		var mine bool
		if j, mine = d.recordInCluster(ctx, j, log); !mine {
			return
		}
	}
	_, p, err := d.paramsFor(j)
	if err != nil {
		p.After = config.After{Action: config.AfterKeep}
	}
	if err := d.replaceOld(ctx, j, p, log); err != nil {
		if _, uerr := d.store.Update(context.WithoutCancel(ctx), j.ID, func(n *state.Job) error {
			n.Post.Attempts++
			n.Post.LastError = err.Error()
			return nil
		}); uerr != nil {
			d.noteStateError(uerr)
		}
		log.Error("deleting the replaced media failed; it is retried", "code", CodePostAction, "err", err)
		d.sched.retryPostLater(j.ID)
		return
	}
	files := postaction.Files{Root: j.Key.Root, Main: j.Key.Rel, Extra: d.jobExtras(j)}
	if j.QuarantinePath != "" {
		files.Root = quarantineRoot(j)
	}
	files.Extra = d.withoutSharedCover(j, files, p.After.Action)
	files.Extra = append(files.Extra, markerExtra(files.Root, p.ReadyMarker, p.After.To)...)
	spec := postaction.Spec{Action: postaction.Action(p.After.Action), To: p.After.To, Sidecar: p.After.Sidecar,
		Options: postaction.Options{PruneEmpty: p.After.PruneEmpty, GroupReadable: d.cfg().GroupReadable},
		Planned: j.Post.Moves, Record: func(plan map[string]string) error {
			_, err := d.store.Update(context.WithoutCancel(ctx), j.ID, func(n *state.Job) error {
				n.Post.Moves = plan
				return nil
			})
			return err
		}}
	res := playable.SidecarResult(j)
	out, perr := postaction.Done(ctx, files, spec, res)
	nj, err := d.store.Update(context.WithoutCancel(ctx), j.ID, func(n *state.Job) error {
		n.Post.Attempts++
		if perr != nil {
			n.Post.LastError = perr.Error()
			return nil
		}
		n.Post.State, n.Post.LastError, n.Post.Moves = state.PostDone, "", nil
		n.Post.Sidecar = out.Sidecar
		if spec.Action == postaction.Move {
			n.Post.MovedTo = out.Main
		}
		return nil
	})
	if perr != nil {
		log.Error("post-action failed; it is retried", "action", spec.Action, "code", CodePostAction, "err", perr)
		d.sched.retryPostLater(j.ID)
		return
	}
	if err != nil {
		log.Error("post-action done but not recorded", "err", err)
		d.noteStateError(err)
		return
	}
	if d.opts.Cluster != nil {
		d.postDoneInCluster(ctx, j, log)
	}
	d.afterPost(j, nj, log)
	log.Info("post-action done", "action", spec.Action)
}

// withoutSharedCover leaves a job's cover where it is when the post-action
// would move or delete it while another media file beside it, which pairs
// with the same cover, is still there: the last of them takes the cover.
func (d *Daemon) withoutSharedCover(j *state.Job, files postaction.Files, action config.AfterAction) []string {
	if j.Cover == "" || action == config.AfterKeep || action == "" {
		return files.Extra
	}
	w := d.watchFor(j.Key.Root)
	if w == nil {
		return files.Extra
	}
	entries, err := os.ReadDir(filepath.Join(files.Root, filepath.FromSlash(path.Dir(j.Cover))))
	if err != nil {
		return files.Extra
	}
	var others []string
	for _, e := range entries {
		if e.Name() != path.Base(j.Key.Rel) && e.Type().IsRegular() {
			others = append(others, e.Name())
		}
	}
	if _, shared := w.rules.IsCover(j.Cover, others); !shared {
		return files.Extra
	}
	out := make([]string, 0, len(files.Extra))
	for _, x := range files.Extra {
		if x != j.Cover {
			out = append(out, x)
		}
	}
	return out
}

// jobExtras lists a job's files beyond its main file: cover, bundle files.
func (d *Daemon) jobExtras(j *state.Job) []string {
	var extra []string
	if j.Cover != "" {
		extra = append(extra, j.Cover)
	}
	if j.Kind != state.KindBundle {
		return extra
	}
	var cp uploader.Checkpoint
	if json.Unmarshal(j.Checkpoint, &cp) != nil {
		return extra
	}
	dir := path.Dir(j.Key.Rel)
	base := filepath.Dir(j.SourcePath())
	for _, o := range cp.Objects {
		rel, err := filepath.Rel(base, o.Path)
		if err != nil || o.Path == j.SourcePath() || rel == ".." || filepath.IsAbs(rel) {
			continue
		}
		if r := path.Join(dir, filepath.ToSlash(rel)); r != j.Key.Rel && r != j.Cover {
			extra = append(extra, r)
		}
	}
	return extra
}

// markerExtra returns the job's ready marker as a file to move with it,
// when it is still there (or was already moved to dest by an earlier try).
func markerExtra(root, marker, dest string) []string {
	if marker == "" {
		return nil
	}
	if exists(filepath.Join(root, filepath.FromSlash(marker))) || (dest != "" && exists(filepath.Join(dest, filepath.FromSlash(marker)))) {
		return []string{marker}
	}
	return nil
}

// quarantineRoot returns the folder a quarantined job's rel path is under.
func quarantineRoot(j *state.Job) string {
	p := j.QuarantinePath
	for range strings.Count(j.Key.Rel, "/") + 1 {
		p = filepath.Dir(p)
	}
	return p
}

// jobFailure is a classified failure of one attempt.
type jobFailure struct {
	code, msg, requestID, op string
	retry                    bool // worth another attempt
	final                    bool // never retried automatically, not quarantined
	keepFile                 bool // never move the file (it changed or vanished)
}

func classify(err error, prog *jobProgress) jobFailure {
	var ue *uploader.Error
	var refErr *manifest.RefError
	var missErr *manifest.MissingError
	var stateErr *state.StorageError
	switch {
	case errors.As(err, &stateErr):
		// Checked first: a write of the state folder failed (disk full,
		// read-only, EPERM on the state file); it says nothing about the
		// media file, whatever errno it carries.
		return jobFailure{code: CodeState, msg: err.Error(), retry: true}
	case errors.Is(err, uploader.ErrCommitUnknown):
		// Before the service's error that made the outcome unknown: the
		// job must be settled, not taken for a plain network failure.
		return jobFailure{code: CodeCommitUnknown, msg: err.Error(), retry: true}
	case errors.As(err, &ue):
		return jobFailure{code: ue.Code, msg: ue.Message, requestID: ue.RequestID, op: ue.Op, retry: ue.Retryable}
	case errors.As(err, &refErr):
		return jobFailure{code: CodeBundleInvalid, msg: err.Error()}
	case errors.As(err, &missErr):
		return jobFailure{code: CodeFileMissing, msg: err.Error(), retry: true}
	case errors.Is(err, fs.ErrNotExist):
		// Checked first: a file deleted during its upload also fails the
		// pre-commit identity check, but "missing" is what happened.
		return jobFailure{code: CodeFileMissing, msg: err.Error(), final: true, keepFile: true}
	case prog != nil && prog.changed != nil:
		return jobFailure{code: CodeFileChanged, msg: prog.changed.Error(), final: true, keepFile: true}
	case errors.Is(err, uploader.ErrFileChanged):
		return jobFailure{code: CodeFileChanged, msg: err.Error(), final: true, keepFile: true}
	case errors.Is(err, fs.ErrPermission):
		return jobFailure{code: CodeFileUnreadable, msg: err.Error()}
	case state.IsStorageFull(err):
		return jobFailure{code: CodeState, msg: err.Error(), retry: true}
	}
	return jobFailure{code: CodeLocal, msg: err.Error(), retry: true}
}

// fail records a failed attempt: failed with a retry time while attempts
// remain, else quarantined (and moved when the rule names a folder).
func (d *Daemon) fail(ctx context.Context, j *state.Job, log *slog.Logger, f jobFailure, rule *rules.Rule) {
	ctx = context.WithoutCancel(ctx)
	attempts := j.Attempts + 1
	maxAttempts := d.cfg().Upload.Retries.MaxAttempts
	if rule != nil && rule.Quarantine.AfterAttempts > 0 {
		maxAttempts = rule.Quarantine.AfterAttempts
	}
	giveUp := !f.retry || (maxAttempts > 0 && attempts >= maxAttempts)
	quarantine := giveUp && !f.final && rule != nil
	var qpath string
	if quarantine && rule.Quarantine.To != "" && !f.keepFile && j.QuarantinePath == "" {
		qpath = d.quarantineFiles(ctx, j, rule, f, attempts, log)
	}
	stage := state.StageFailed
	var next time.Time
	switch {
	case quarantine:
		stage = state.StageQuarantined
	case !giveUp:
		next = d.now().Add(backoff(d.cfg().Upload.Retries, attempts))
	}
	nj, err := d.store.Update(ctx, j.ID, func(n *state.Job) error {
		n.Stage, n.Attempts, n.NextRetry = stage, attempts, next
		n.LastError = &state.JobError{Code: f.code, Message: f.msg, RequestID: f.requestID, Op: f.op, At: d.now()}
		if qpath != "" {
			n.QuarantinePath = qpath
		}
		return nil
	})
	if err != nil {
		log.Error("recording a failure failed", "code", f.code, "err", err)
		d.noteStateError(err)
		return
	}
	d.events.failed(nj, f.code)
	attrs := []any{"stage", stage, "code", f.code, "message", f.msg, "attempt", attempts}
	if f.requestID != "" {
		attrs = append(attrs, "request_id", f.requestID)
	}
	if !next.IsZero() {
		attrs = append(attrs, "next_retry", next.Format(time.RFC3339))
	}
	if qpath != "" {
		attrs = append(attrs, "quarantined_to", qpath)
	}
	log.Warn("upload failed", attrs...)
}

func (d *Daemon) quarantineFiles(ctx context.Context, j *state.Job, rule *rules.Rule, f jobFailure, attempts int, log *slog.Logger) string {
	files := postaction.Files{Root: j.Key.Root, Main: j.Key.Rel, Extra: d.jobExtras(j)}
	files.Extra = d.withoutSharedCover(j, files, config.AfterMove)
	if _, p, err := d.paramsFor(j); err == nil {
		files.Extra = append(files.Extra, markerExtra(files.Root, p.ReadyMarker, rule.Quarantine.To)...)
	}
	failure := postaction.Failure{Path: j.Key.Rel, Code: f.code, Message: f.msg, RequestID: f.requestID,
		Attempts: attempts, FailedAt: d.now()}
	opts := postaction.Options{PruneEmpty: rule.After.PruneEmpty, GroupReadable: d.cfg().GroupReadable}
	if err := postaction.Quarantine(ctx, files, rule.Quarantine.To, failure, opts); err != nil {
		log.Error("moving the file to quarantine failed; it stays in place", "to", rule.Quarantine.To, "err", err)
		return ""
	}
	return filepath.Join(rule.Quarantine.To, filepath.FromSlash(j.Key.Rel))
}

// backoff is exponential with full jitter in [d/2, d].
func backoff(r config.Retries, attempts int) time.Duration {
	initial, maxB := r.InitialBackoff, r.MaxBackoff
	if initial <= 0 {
		initial = 5 * time.Second
	}
	if maxB <= 0 {
		maxB = 30 * time.Minute
	}
	dur := initial
	for i := 1; i < attempts && dur < maxB; i++ {
		dur *= 2
	}
	dur = min(dur, maxB)
	return dur/2 + time.Duration(rand.Int64N(int64(dur/2)+1))
}
