package uploader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
	"github.com/vodwatchd/vodwatchd/internal/manifest"
)

// localFile is a file the upload will store, with its role.
type localFile struct {
	role string // "media", "cover" or "bundle"
	rel  string // bundle files: path relative to the top manifest
	path string
	id   fileid.ID
}

// run is one call of Upload: the checkpoint and everything guarding it.
type run struct {
	u      *Uploader
	log    *slog.Logger
	sc     *scrubber
	p      Progress
	mu     sync.Mutex // guards cp and serialises p.Save
	cp     *Checkpoint
	bmu    sync.Mutex // guards open and saving (record.go)
	open   *batch     // changes waiting for the next Save
	saving bool       // a Save of a batch is under way
	cos    *cosClient
	keep   bool // the caller keeps the checkpoint: do not abort on cancellation
	files  []localFile
}

// Upload uploads req. cp is the checkpoint of an earlier attempt (nil or
// empty to start afresh); it is updated in place and handed to p.Save
// before each remote side effect and after each result. With p == nil
// nothing can be resumed, so any failure aborts the multipart uploads; with
// p set, only a fatal failure does, and a cancelled upload can continue
// later from cp.
//
// A checkpoint whose commit was sent but not answered makes Upload return
// ErrCommitUnknown at once: settle it with Commit.
func (u *Uploader) Upload(ctx context.Context, req Request, cp *Checkpoint, p Progress) (Result, error) {
	req, err := req.normalize()
	if err != nil {
		return Result{}, fmt.Errorf("upload %s: %w", req.MediaFilePath, err)
	}
	r := &run{u: u, log: u.log.With("file", req.MediaFilePath), sc: &scrubber{}, p: p, cp: cp, keep: p != nil}
	if r.p == nil {
		r.p = noProgress{}
	}
	if r.cp == nil {
		r.cp = &Checkpoint{}
	}
	if r.cp.Result != nil {
		return *r.cp.Result, nil
	}
	if r.cp.Committing {
		return Result{}, &CommitUnknownError{SessionKey: r.cp.SessionKey, Err: errors.New("an earlier CommitUpload was not answered")}
	}
	if r.files, err = planFiles(ctx, req); err != nil {
		return Result{}, fmt.Errorf("upload %s: %w", req.MediaFilePath, err)
	}
	res, err := r.upload(ctx, req)
	if err != nil {
		return Result{}, fmt.Errorf("upload %s: %w", req.MediaFilePath, err)
	}
	return res, nil
}

// maxRenewals bounds how many new sessions one Upload applies for when the
// temporary certificate expires in the middle of the transfer.
const maxRenewals = 3

func (r *run) upload(ctx context.Context, req Request) (Result, error) {
	for renewals := 0; ; renewals++ {
		if err := r.ensureSession(ctx, req); err != nil {
			return Result{}, err
		}
		err := r.transfer(ctx, inflight(req, r.u.cfg))
		if err == nil {
			return r.commit(ctx)
		}
		if renewals < maxRenewals && r.certExpired(err) {
			// ensureSession sees the expired certificate, forgets the old
			// session (its uploads cannot be aborted any more) and applies
			// for a new one.
			r.log.Warn("session certificate expired during the upload; starting a new session",
				"session", r.cp.SessionKey, "renewal", renewals+1)
			continue
		}
		r.abandon(ctx, err)
		return Result{}, err
	}
}

// certExpired reports whether err is COS refusing the session's
// certificate because it has expired (or is about to).
func (r *run) certExpired(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.HTTPStatus != http.StatusForbidden {
		return false
	}
	r.mu.Lock()
	expiry := r.cp.CertExpiry
	r.mu.Unlock()
	return !expiry.IsZero() && !r.u.cfg.Now().Add(r.u.cfg.CertMargin).Before(expiry)
}

// inflight returns the caps of the requests in flight: the request's own
// concurrency caps the parts (as the SDKs' ConcurrentUploadNumber does),
// the configuration the bundle files.
func inflight(req Request, cfg Config) inflightCaps {
	c := inflightCaps{parts: cfg.PartsInFlight, objects: cfg.ObjectsInFlight}
	if req.ConcurrentUploadNumber > 0 {
		c.parts = req.ConcurrentUploadNumber
	}
	return c
}

// planFiles lists the local files of the request; for a manifest, the whole
// bundle, every reference checked before anything is sent.
func planFiles(ctx context.Context, req Request) ([]localFile, error) {
	media, err := statFile("MediaFilePath", req.MediaFilePath, "media")
	if err != nil {
		return nil, err
	}
	if err := checkExpected(media, req.Expect); err != nil {
		return nil, err
	}
	files := []localFile{media}
	if req.CoverFilePath != "" {
		cover, err := statFile("CoverFilePath", req.CoverFilePath, "cover")
		if err != nil {
			return nil, err
		}
		files = append(files, cover)
	}
	if _, ok := manifest.KindOf(req.MediaFilePath); !ok {
		return files, nil
	}
	b, err := manifest.Resolve(ctx, req.MediaFilePath, manifest.Options{})
	if err != nil {
		return nil, fmt.Errorf("bundle refused: %w", err)
	}
	for _, f := range b.Files {
		lf, err := statFile("bundle file "+f.Rel, f.Path, "bundle")
		if err != nil {
			return nil, err
		}
		lf.rel = f.Rel
		files = append(files, lf)
	}
	return files, nil
}

// statFile describes a file to upload. It never follows a symlink: a file
// swapped for a link after it was chosen must not lead the upload outside
// its folder (bundle files arrive here already resolved by the manifest
// reader, inside their bundle).
func statFile(field, p, role string) (localFile, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return localFile{}, fmt.Errorf("%s: %w", field, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return localFile{}, fmt.Errorf("%s: %s is a symlink; it is not followed", field, p)
	}
	if !fi.Mode().IsRegular() {
		return localFile{}, fmt.Errorf("%s: %s is not a regular file", field, p)
	}
	lf := localFile{role: role, path: p, id: fileid.FromInfo(fi)}
	return lf, nil
}

// checkExpected compares the media file with the identity the caller took
// it with (Request.Expect), so a file replaced since is never sent.
func checkExpected(media localFile, want *fileid.ID) error {
	if want == nil {
		return nil
	}
	if err := fileid.Compare(media.path, *want, media.id); err != nil {
		return fmt.Errorf("MediaFilePath: %w", err)
	}
	return nil
}

// errProgressNotSaved marks a failure of Progress.Save: the caller could
// not record the checkpoint (its state refused the write).
var errProgressNotSaved = errors.New("saving progress")

// save hands the checkpoint to Progress; the caller holds r.mu.
func (r *run) save(ctx context.Context) error {
	r.cp.Version = checkpointVersion
	if err := r.p.Save(ctx, r.cp); err != nil {
		return fmt.Errorf("%w: %w", errProgressNotSaved, err)
	}
	return nil
}

// ensureSession resumes the checkpoint's session when its certificate is
// still good, else aborts what it left and applies for a new one.
func (r *run) ensureSession(ctx context.Context, req Request) error {
	cp := r.cp
	if cp.SessionKey != "" {
		cert := cp.Cert // handed back by the caller; nil when it was lost
		if cert != nil && r.u.cfg.Now().Add(r.u.cfg.CertMargin).Before(cert.Expires) {
			cc, err := r.u.newCOS(r.sc, cp.Bucket, cp.Region, cert)
			if err != nil {
				return err
			}
			r.cos = cc
			r.log.Info("resuming upload session", "session", cp.SessionKey, "parts_done", countParts(cp))
			return r.mergeObjects(ctx)
		}
		r.dropSession(ctx, cert)
	}
	if err := r.locked(ctx, func() {}); err != nil {
		return err
	}
	s, err := r.u.apply(ctx, r.sc, req)
	if err != nil {
		return err
	}
	r.log.Info("upload session applied", "session", s.Key, "bucket", s.Bucket, "region", s.Region,
		"media_path", s.MediaPath, "request_id", s.RequestID)
	cc, err := r.u.newCOS(r.sc, s.Bucket, s.Region, s.Cert)
	if err != nil {
		return err
	}
	r.cos = cc
	r.mu.Lock()
	*cp = Checkpoint{SessionKey: s.Key, SubAppID: req.SubAppID, Bucket: s.Bucket, Region: s.Region,
		MediaStoragePath: s.MediaPath, CoverStoragePath: s.CoverPath, CertExpiry: s.Cert.Expires, Cert: s.Cert}
	r.mu.Unlock()
	return r.mergeObjects(ctx)
}

// dropSession abandons the checkpoint's session: its multipart uploads are
// aborted when the old certificate still works, else just forgotten.
func (r *run) dropSession(ctx context.Context, cert *Cert) {
	r.log.Info("upload session expired; starting a new one", "session", r.cp.SessionKey)
	if cert != nil && r.u.cfg.Now().Before(cert.Expires) {
		if cc, err := r.u.newCOS(r.sc, r.cp.Bucket, r.cp.Region, cert); err == nil {
			r.abortObjects(ctx, cc, r.cp.Objects)
		}
	}
	r.mu.Lock()
	*r.cp = Checkpoint{}
	r.mu.Unlock()
}

// abortObjects aborts the unfinished multipart uploads among objs, best
// effort and bounded in time even when ctx is already cancelled.
func (r *run) abortObjects(ctx context.Context, cc *cosClient, objs []*Object) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, o := range objs {
		if o.Done || o.UploadID == "" {
			continue
		}
		if err := cc.abort(ctx, o.Key, o.UploadID); err != nil {
			r.log.Warn("aborting multipart upload", "key", o.Key, "upload_id", o.UploadID, "err", err)
			continue
		}
		r.log.Info("aborted multipart upload", "key", o.Key, "upload_id", o.UploadID)
	}
}

// mergeObjects sets cp.Objects to the files of this upload at their keys,
// keeping recorded progress for files that did not change and aborting
// multipart uploads that no longer fit.
func (r *run) mergeObjects(ctx context.Context) error {
	old := map[string]*Object{}
	for _, o := range r.cp.Objects {
		old[o.Key] = o
	}
	mediaKey := strings.TrimPrefix(r.cp.MediaStoragePath, "/")
	var objs, stale []*Object
	for _, f := range r.files {
		key := mediaKey
		switch f.role {
		case "cover":
			key = strings.TrimPrefix(r.cp.CoverStoragePath, "/")
			if key == "" {
				return &Error{Op: "ApplyUpload", Code: "InvalidResponse", Message: "no CoverStoragePath for the cover"}
			}
		case "bundle":
			key = path.Join(path.Dir(mediaKey), f.rel)
		}
		o := old[key]
		delete(old, key)
		if o != nil && o.Path == f.path && o.Size == f.id.Size && o.ModTime.Equal(f.id.ModTime) {
			objs = append(objs, o)
			continue
		}
		if o != nil {
			stale = append(stale, o)
		}
		objs = append(objs, &Object{Key: key, Path: f.path, Size: f.id.Size, ModTime: f.id.ModTime, Dev: f.id.Dev, Ino: f.id.Ino, Ctime: f.id.Ctime})
	}
	for _, o := range old {
		stale = append(stale, o)
	}
	r.abortObjects(ctx, r.cos, stale)
	return r.locked(ctx, func() { r.cp.Objects = objs })
}

func countParts(cp *Checkpoint) int {
	n := 0
	for _, o := range cp.Objects {
		n += len(o.Parts)
	}
	return n
}

// abandon decides what happens to multipart uploads after a failure: kept
// for a resumable caller when the failure may pass (cancellation, retries
// exhausted), aborted otherwise.
func (r *run) abandon(ctx context.Context, err error) {
	if r.keep && resumable(err) {
		return
	}
	r.mu.Lock()
	objs := append([]*Object(nil), r.cp.Objects...)
	r.mu.Unlock()
	r.abortObjects(ctx, r.cos, objs)
	serr := r.locked(context.WithoutCancel(ctx), func() {
		for _, o := range r.cp.Objects {
			if !o.Done {
				o.UploadID, o.Parts, o.PartSize = "", nil, 0
			}
		}
	})
	if serr != nil {
		r.log.Warn("saving progress after abort", "err", serr)
	}
}

// resumable reports whether an upload that failed with err may continue
// from its checkpoint later.
func resumable(err error) bool {
	if errors.Is(err, ErrFileChanged) {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if errors.Is(err, errProgressNotSaved) {
		// The caller's record is older than cp and still names these
		// uploads: it resumes them once it can record again.
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Retryable
}

// commit records that CommitUpload is about to be sent, sends it and
// records the result.
func (r *run) commit(ctx context.Context) (Result, error) {
	if err := r.locked(ctx, func() { r.cp.Committing = true }); err != nil {
		return Result{}, err
	}
	return r.u.finishCommit(ctx, r.sc, r.cp, r.p, &r.mu, r.log, false)
}

// Commit settles a checkpoint whose CommitUpload outcome is unknown by
// sending CommitUpload again for the same session key (it never uploads).
// The service answers with the FileId, or with an error such as
// InvalidParameterValue.VodSessionKey when the session is unknown, expired
// or (for some services) already committed. Such an error says nothing
// about the earlier commit, so cp stays marked as committing: only the
// caller, having searched VOD for the media, may clear it.
func (u *Uploader) Commit(ctx context.Context, cp *Checkpoint, p Progress) (Result, error) {
	if cp == nil || cp.SessionKey == "" {
		return Result{}, errors.New("commit: checkpoint has no session")
	}
	if cp.Result != nil {
		return *cp.Result, nil
	}
	if p == nil {
		p = noProgress{}
	}
	var mu sync.Mutex
	return u.finishCommit(ctx, &scrubber{}, cp, p, &mu, u.log, true)
}

// finishCommit sends CommitUpload for cp's session and records the result.
// A definite refusal clears cp.Committing only for a first commit
// (settling false): a refused repeat leaves the first one's outcome
// unknown.
func (u *Uploader) finishCommit(ctx context.Context, sc *scrubber, cp *Checkpoint, p Progress, mu *sync.Mutex, log *slog.Logger, settling bool) (Result, error) {
	res, err := u.commit(ctx, sc, cp.SessionKey, cp.SubAppID)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		if !settling && !errors.Is(err, ErrCommitUnknown) {
			cp.Committing = false
			if serr := p.Save(context.WithoutCancel(ctx), cp); serr != nil {
				log.Warn("saving progress", "err", serr)
			}
		}
		return Result{}, err
	}
	cp.Committing = false
	cp.Result = &res
	if serr := p.Save(context.WithoutCancel(ctx), cp); serr != nil {
		return res, fmt.Errorf("committed as %s but saving progress failed: %w", res.FileID, serr)
	}
	log.Info("upload committed", "file_id", res.FileID, "media_url", res.MediaURL, "request_id", res.RequestID)
	return res, nil
}

// TotalBytes returns how many bytes uploading req sends when nothing is
// resumed: the media (for a manifest, the whole bundle) and the cover. It
// fails like Upload would for a missing file or a bad bundle.
func TotalBytes(ctx context.Context, req Request) (int64, error) {
	req, err := req.normalize()
	if err != nil {
		return 0, err
	}
	files, err := planFiles(ctx, req)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, f := range files {
		n += f.id.Size
	}
	return n, nil
}
