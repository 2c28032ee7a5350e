package uploader

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/adapt"
	"github.com/vodwatchd/vodwatchd/internal/crc64x"
	"github.com/vodwatchd/vodwatchd/internal/fileid"
)

// transfer stores every unfinished object: whole small objects through
// one gate and parts of large ones through another, each keeping as many
// requests in flight as the measured bandwidth-delay product needs, within
// the caps.
func (r *run) transfer(parent context.Context, caps inflightCaps) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	// Requests in flight cost little (bodies stream from the files), so
	// the estimate never takes the count below the fixed 8 parts that
	// served before it (16 small files): it only adds where the
	// bandwidth-delay product needs more. The caps bound it all.
	objects := adapt.New(adapt.Config{Min: 16, Max: caps.objects, Initial: 16})
	parts := adapt.New(adapt.Config{Min: 8, Max: caps.parts, Initial: 8})
	var wg sync.WaitGroup
	r.mu.Lock()
	objs := append([]*Object(nil), r.cp.Objects...)
	r.mu.Unlock()
	for _, o := range objs {
		if ctx.Err() != nil {
			break
		}
		if o.Done {
			continue
		}
		if o.UploadID == "" && o.Size <= r.u.cfg.MultipartThreshold {
			t, err := objects.Acquire(ctx)
			if err != nil {
				break
			}
			wg.Go(func() {
				if err := r.putObject(ctx, o, objects, t); err != nil {
					cancel(err)
				}
			})
			continue
		}
		if err := r.multipart(ctx, o, parts, &wg, cancel); err != nil {
			cancel(err)
			break
		}
	}
	wg.Wait()
	r.log.Debug("transfer finished", "objects_peak", objects.Peak(), "objects_limit", objects.Limit(),
		"parts_peak", parts.Peak(), "parts_limit", parts.Limit())
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// inflightCaps are the most requests a transfer keeps in flight.
type inflightCaps struct{ parts, objects int }

// attempt runs one request of n bytes through the retry policy and
// measures the attempt that succeeded; throttling answers slow the gate.
func (r *run) attempt(ctx context.Context, gate *adapt.Controller, op string, n int64, fn func() error) (adapt.Sample, error) {
	var s adapt.Sample
	err := r.u.cfg.Retry.do(ctx, r.log, op, func() error {
		start := time.Now()
		err := fn()
		if err == nil {
			s = adapt.Sample{Bytes: n, Start: start, End: time.Now()}
		} else if isThrottle(err) {
			gate.Throttle()
		}
		return err
	})
	return s, err
}

// isThrottle reports whether COS asked us to slow down.
func isThrottle(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Code == "SlowDown" || e.HTTPStatus == http.StatusServiceUnavailable ||
		e.HTTPStatus == http.StatusTooManyRequests || strings.HasPrefix(e.Code, "RequestLimitExceeded"))
}

// openChecked opens an object's file without following a symlink and
// checks, on the open file, that it still is what was planned: a file
// replaced or swapped for a link since is never read.
func openChecked(o *Object) (*os.File, error) {
	f, err := os.OpenFile(o.Path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s: became a symlink while uploading: %w", o.Path, ErrFileChanged)
		}
		return nil, fmt.Errorf("%s: %w", o.Path, err)
	}
	fi, err := f.Stat()
	if err == nil && !sameFile(o, fi) {
		err = fmt.Errorf("%s: changed while uploading (size %d -> %d): %w", o.Path, o.Size, fi.Size(), ErrFileChanged)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func sameFile(o *Object, fi os.FileInfo) bool {
	recorded := fileid.ID{Size: o.Size, ModTime: o.ModTime, Dev: o.Dev, Ino: o.Ino}
	return fi.Mode().IsRegular() && recorded.Same(fileid.FromInfo(fi))
}

// putObject stores a small object with one PUT, in the slot t of gate,
// which it frees before recording the object.
func (r *run) putObject(ctx context.Context, o *Object, gate *adapt.Controller, t adapt.Ticket) error {
	f, err := openChecked(o)
	if err != nil {
		gate.Release(t, adapt.Sample{})
		return err
	}
	defer f.Close()
	var etag string
	var crc uint64
	s, err := r.attempt(ctx, gate, "PutObject", o.Size, func() error {
		var err error
		etag, crc, err = r.cos.put(ctx, o.Key, f, o.Size)
		return err
	})
	gate.Release(t, s)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Key, err)
	}
	r.log.Debug("object stored", "key", o.Key, "size", o.Size)
	return r.locked(ctx, func() { o.Done, o.ETag, o.CRC64 = true, etag, crc })
}

// multipart starts (or resumes) a multipart upload of o and dispatches its
// missing parts through gate; a goroutine in wg completes it once they are
// all in.
func (r *run) multipart(ctx context.Context, o *Object, gate *adapt.Controller,
	wg *sync.WaitGroup, fail context.CancelCauseFunc) error {
	if err := r.startMultipart(ctx, o); err != nil {
		return err
	}
	r.mu.Lock()
	done := o.Done
	r.mu.Unlock()
	if done { // completed by an earlier run whose answer was lost
		return nil
	}
	f, err := openChecked(o)
	if err != nil {
		return err
	}
	count := int((o.Size + o.PartSize - 1) / o.PartSize)
	// The parts to send, taken once: r.mu is held while a checkpoint is
	// saved (an fsync), and the next part must not wait for that.
	r.mu.Lock()
	sent := make(map[int]bool, len(o.Parts))
	for _, p := range o.Parts {
		sent[p.Number] = true
	}
	r.mu.Unlock()
	var missing []int
	for n := 1; n <= count; n++ {
		if !sent[n] {
			missing = append(missing, n)
		}
	}
	var parts sync.WaitGroup
	for _, n := range missing {
		t, err := gate.Acquire(ctx)
		if err != nil {
			break
		}
		parts.Go(func() {
			if err := r.uploadPart(ctx, o, f, n, gate, t); err != nil {
				fail(err)
			}
		})
	}
	wg.Go(func() {
		parts.Wait()
		f.Close()
		if ctx.Err() != nil {
			return
		}
		if err := r.completeMultipart(ctx, o, count); err != nil {
			fail(err)
		}
	})
	return nil
}

// startMultipart initiates a multipart upload unless the checkpoint has
// one, which it confirms with ListParts (dropping parts COS lacks).
func (r *run) startMultipart(ctx context.Context, o *Object) error {
	if o.UploadID != "" {
		err := r.confirmParts(ctx, o)
		if !isNoSuchUpload(err) {
			return err
		}
		// COS no longer knows the recorded upload: it was completed by a
		// run that died before recording it, or aborted.
		if done, err := r.settleGoneUpload(ctx, o); err != nil || done {
			return err
		}
	}
	ps := partSizeFor(o.Size, r.u.cfg.PartSize)
	if err := r.locked(ctx, func() { o.PartSize = ps }); err != nil {
		return err
	}
	var id string
	err := r.u.cfg.Retry.do(ctx, r.log, "InitiateMultipartUpload", func() error {
		var err error
		id, err = r.cos.initiate(ctx, o.Key)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", o.Key, err)
	}
	r.log.Debug("multipart upload started", "key", o.Key, "upload_id", id, "part_size", ps)
	return r.locked(ctx, func() { o.UploadID = id })
}

// confirmParts keeps only recorded parts that COS holds with the same ETag.
func (r *run) confirmParts(ctx context.Context, o *Object) error {
	var have map[int]cosPart
	err := r.u.cfg.Retry.do(ctx, r.log, "ListParts", func() error {
		var err error
		have, err = r.cos.listParts(ctx, o.Key, o.UploadID)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", o.Key, err)
	}
	return r.locked(ctx, func() {
		kept := o.Parts[:0]
		for _, p := range o.Parts {
			if h, ok := have[p.Number]; ok && h.ETag == strings.Trim(p.ETag, `"`) && h.Size == p.Size {
				kept = append(kept, p)
			}
		}
		if len(kept) != len(o.Parts) {
			r.log.Warn("recorded parts missing at COS; sending them again", "key", o.Key,
				"recorded", len(o.Parts), "kept", len(kept))
		}
		o.Parts = kept
	})
}

// uploadPart sends part n of o in the slot t of gate, frees the slot and
// records the part: it counts once the record is saved.
func (r *run) uploadPart(ctx context.Context, o *Object, f *os.File, n int, gate *adapt.Controller, t adapt.Ticket) error {
	off := int64(n-1) * o.PartSize
	size := min(o.PartSize, o.Size-off)
	var part Part
	s, err := r.attempt(ctx, gate, "UploadPart", size, func() error {
		var err error
		part, err = r.cos.uploadPart(ctx, o.Key, o.UploadID, n, f, off, size)
		return err
	})
	gate.Release(t, s)
	if err != nil {
		return fmt.Errorf("%s part %d: %w", o.Key, n, err)
	}
	r.log.Debug("part stored", "key", o.Key, "part", n, "size", size, "in_flight_limit", gate.Limit())
	return r.locked(ctx, func() { o.Parts = append(o.Parts, part) })
}

// completeMultipart finishes o's upload once all count parts are recorded.
func (r *run) completeMultipart(ctx context.Context, o *Object, count int) error {
	r.mu.Lock()
	parts := append([]Part(nil), o.Parts...)
	r.mu.Unlock()
	if len(parts) != count {
		return fmt.Errorf("%s: %d of %d parts recorded", o.Key, len(parts), count)
	}
	var etag string
	var crc uint64
	err := r.u.cfg.Retry.do(ctx, r.log, "CompleteMultipartUpload", func() error {
		var err error
		etag, crc, err = r.cos.complete(ctx, o.Key, o.UploadID, parts)
		return err
	})
	if isNoSuchUpload(err) {
		// Most often a retried Complete whose first try succeeded (its
		// answer was lost): the object is there with the parts' CRC.
		// Never final: adopted, else the object starts over.
		done, serr := r.settleGoneUpload(ctx, o)
		switch {
		case serr != nil:
			return fmt.Errorf("%s: %w", o.Key, serr)
		case done:
			return nil
		}
		return &Error{Op: "CompleteMultipartUpload", Code: "NoSuchUpload", Retryable: true,
			Message: o.Key + ": the multipart upload is gone and COS holds no complete object; the object is uploaded again"}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", o.Key, err)
	}
	r.log.Debug("multipart upload completed", "key", o.Key, "parts", count, "size", o.Size)
	return r.locked(ctx, func() { o.Done, o.ETag, o.CRC64 = true, etag, crc })
}

// isNoSuchUpload reports whether COS answered that a multipart upload id
// is unknown.
func isNoSuchUpload(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "NoSuchUpload"
}

// goneUploadWait bounds how long an object whose multipart upload COS no
// longer knows is waited for to become visible before it is uploaded again.
const goneUploadWait = 10 * time.Second

// settleGoneUpload decides what became of o's multipart upload when COS
// answers NoSuchUpload: it is adopted when COS holds the complete object
// (adoptCompleted); otherwise its upload id and parts are dropped, so that
// the object starts over with a new multipart upload. An error means the
// question could not be answered now (HEAD kept failing): the checkpoint
// keeps the upload, and the next attempt asks again.
func (r *run) settleGoneUpload(ctx context.Context, o *Object) (bool, error) {
	done, err := r.adoptCompleted(ctx, o)
	if err != nil || done {
		return done, err
	}
	r.log.Warn("recorded multipart upload is gone at COS; starting the object over", "key", o.Key, "upload_id", o.UploadID)
	return false, r.locked(ctx, func() { o.UploadID, o.Parts = "", nil })
}

// adoptCompleted marks o done when COS holds the object with o's size and
// the CRC-64 combined from every recorded part: the multipart upload was
// completed by an earlier try or run whose answer never got recorded. The
// HEAD is retried like any call, and an object not visible yet is waited
// for (goneUploadWait).
func (r *run) adoptCompleted(ctx context.Context, o *Object) (bool, error) {
	r.mu.Lock()
	parts := append([]Part(nil), o.Parts...)
	r.mu.Unlock()
	count := 0
	if o.PartSize > 0 {
		count = int((o.Size + o.PartSize - 1) / o.PartSize)
	}
	if count == 0 || len(parts) != count {
		return false, nil // not every part was sent: nothing to adopt
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	var want uint64
	for _, p := range parts {
		want = crc64x.Combine(want, p.CRC64, p.Size)
	}
	start := time.Now()
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		var size int64
		var crc uint64
		var found bool
		err := r.u.cfg.Retry.do(ctx, r.log, "HeadObject", func() error {
			var err error
			size, crc, found, err = r.cos.head(ctx, o.Key)
			return err
		})
		switch {
		case err != nil:
			return false, fmt.Errorf("looking for the completed object %s: %w", o.Key, err)
		case found && size == o.Size && crc == want:
			r.log.Info("multipart upload was completed by an earlier try; adopting the object", "key", o.Key)
			return true, r.locked(ctx, func() { o.Done, o.CRC64 = true, crc })
		case found:
			r.log.Warn("object at COS is not the recorded parts", "key", o.Key, "size", size, "want_size", o.Size)
			return false, nil
		case time.Since(start)+wait > goneUploadWait:
			return false, nil
		}
		r.log.Info("completed object not visible at COS yet; waiting", "key", o.Key, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, context.Cause(ctx)
		case <-t.C:
		}
	}
}
