package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// hashLocks serialises the jobs of one content hash, so that the same bytes
// dropped twice at once are uploaded once and linked once.
type hashLocks struct {
	mu sync.Mutex
	m  map[string]*hashLock
}

type hashLock struct {
	ch    chan struct{}
	users int
}

// lock waits for the hash's lock (or ctx) and returns its release.
func (h *hashLocks) lock(ctx context.Context, hash string) (func(), error) {
	h.mu.Lock()
	if h.m == nil {
		h.m = map[string]*hashLock{}
	}
	l := h.m[hash]
	if l == nil {
		l = &hashLock{ch: make(chan struct{}, 1)}
		h.m[hash] = l
	}
	l.users++
	h.mu.Unlock()
	drop := func() {
		h.mu.Lock()
		if l.users--; l.users == 0 {
			delete(h.m, hash)
		}
		h.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

// hashFile returns the hex SHA-256 of the file at p.
func hashFile(ctx context.Context, p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", p, err)
		}
	}
}

// dedupe runs for a rule with dedupe: true before anything is sent. It
// hashes the file (recording the hash on the job), takes the hash's lock
// (held until the job's attempt ends: release is returned) and, when a done
// job already has the same bytes, returns its result: the caller links the
// job to that FileId instead of uploading again.
func (d *Daemon) dedupe(ctx context.Context, j *state.Job, log *slog.Logger) (res uploader.Result, linked bool, release func(), err error) {
	hash := j.ContentHash
	if hash == "" {
		if hash, err = hashFile(ctx, j.SourcePath()); err != nil {
			return res, false, nil, err
		}
		if err := d.checkUnchanged(j); err != nil {
			return res, false, nil, fmt.Errorf("file changed while it was hashed: %w", err)
		}
		if _, err := d.store.Update(ctx, j.ID, func(n *state.Job) error {
			n.ContentHash = hash
			return nil
		}); err != nil {
			return res, false, nil, fmt.Errorf("recording the content hash: %w", err)
		}
	}
	release, err = d.hashes.lock(ctx, hash)
	if err != nil {
		return res, false, nil, err
	}
	same, err := d.store.ByContentHash(ctx, hash)
	if err != nil {
		release()
		return res, false, nil, fmt.Errorf("looking the content hash up: %w", err)
	}
	for _, o := range same {
		if o.ID != j.ID && o.Stage == state.StageDone && o.Result.FileID != "" {
			log.Info("same content already uploaded; linked to its FileId instead of uploading again",
				"file_id", o.Result.FileID, "first_job", o.ID, "first_path", o.Key.Rel)
			return uploader.Result{FileID: o.Result.FileID, MediaURL: o.Result.MediaURL, CoverURL: o.Result.CoverURL}, true, release, nil
		}
	}
	return res, false, release, nil
}
