package daemon

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/fileid"
	"github.com/vodwatchd/vodwatchd/internal/manifest"
	"github.com/vodwatchd/vodwatchd/internal/postaction"
	"github.com/vodwatchd/vodwatchd/internal/rules"
	"github.com/vodwatchd/vodwatchd/internal/state"
)

// candidate is a settled file of one watch that may become a job once its
// cover, its ready marker or its bundle's files are there.
type candidate struct {
	rel     string
	stat    fileid.ID
	key     state.Key // the job it becomes (state.Store.Reconcile)
	rule    *rules.Rule
	params  rules.Params
	since   time.Time // when it settled
	bundle  bool
	waiting string    // what it waits for (a Wait* reason), "" when not waiting
	detail  string    // e.g. the ready marker's name
	nextTry time.Time // bundles: not resolved again before this

	missing    []string // bundles: the first missing files
	nMissing   int      // bundles: how many are missing
	longLogged bool     // bundles: the long wait was logged
}

// bundleRetry is how often a waiting bundle's manifest is resolved again:
// recheck runs on every tick and every settled file, and resolving stats
// every referenced file.
const bundleRetry = time.Second

// assembler pairs covers, completes bundles and turns settled files into
// jobs, for one watch. It is used by that watch's intake goroutine only.
type assembler struct {
	d        *Daemon
	w        *watchState
	pending  map[string]*candidate // rel -> candidate waiting for something
	members  *memberIndex          // which files belong to a bundle
	noRuleAt map[string]bool       // rels already logged as matching no rule
	emptyAt  map[string]time.Time  // zero-byte rels already refused, by mtime

	batch []queuedCandidate // complete candidates to record in the next flush

	markerRules bool                   // some rule asks for a ready marker
	markers     map[string]markerCache // folder rel -> markers its files name
	actCache    map[string]time.Time   // folder rel -> newest change (one recheck pass)
	actAt       time.Time              // when actCache was started
}

func newAssembler(d *Daemon, w *watchState) *assembler {
	return &assembler{d: d, w: w, pending: map[string]*candidate{},
		members: newMemberIndex(w.root, w.cfg.Ignored, d.log, d.now), noRuleAt: map[string]bool{},
		markerRules: hasMarkerRules(w.rules), markers: map[string]markerCache{}, actCache: map[string]time.Time{}}
}

// settled takes a file that has stopped changing.
func (a *assembler) settled(ctx context.Context, rel string, st fileid.ID) {
	if a.isSidecar(ctx, rel) {
		return
	}
	if a.isCover(rel) || a.isReadyMarker(rel) {
		a.recheck(ctx) // a media file may have been waiting for it
		return
	}
	rule, ok := a.w.rules.Match(rel)
	if !ok {
		if !a.noRuleAt[rel] {
			a.noRuleAt[rel] = true
			a.d.log.Debug("no rule matches; file left alone", "root", a.w.root, "path", rel)
		}
		a.recheck(ctx)
		return
	}
	key, out, ad, err := a.d.reconcile(ctx, a.w.root, rel, st)
	if ad != nil {
		if err := a.d.store.Adopt(ctx, *ad); err != nil {
			a.d.noteStateError(err)
			a.d.log.Error("recording an adopted record failed; it is checked again", "path", rel, "err", err)
		}
	}
	if err != nil {
		a.d.log.Warn("cannot tell whether the file is known; it is looked at again", "path", rel, "err", err)
		a.recheck(ctx)
		return
	}
	if out == state.Known || out == state.Adopted {
		a.d.log.Debug("already known", "path", rel, "job", key.ID())
		a.recheck(ctx)
		return
	}
	if st.Size == 0 && !rule.AllowEmpty {
		a.refuseEmpty(rel, st)
		return
	}
	p, err := rule.Params(rules.FileFacts{Root: a.w.root, Rel: rel, Size: st.Size, ModTime: st.ModTime, JobID: key.ID()})
	if err != nil {
		a.d.log.Error("rule cannot render its parameters; file left alone", "path", rel, "err", err)
		return
	}
	_, bundle := manifest.KindOf(rel)
	a.pending[rel] = &candidate{rel: rel, stat: st, key: key, rule: rule, params: p, since: a.d.now(), bundle: bundle}
	a.recheck(ctx)
}

// refuseEmpty logs, once per version of the file, that a zero-byte file
// is not uploaded: usually a placeholder or a failed copy, never media.
func (a *assembler) refuseEmpty(rel string, st fileid.ID) {
	if a.emptyAt == nil || len(a.emptyAt) >= maxWarned {
		a.emptyAt = map[string]time.Time{}
	}
	if at, ok := a.emptyAt[rel]; ok && at.Equal(st.ModTime) {
		return
	}
	a.emptyAt[rel] = st.ModTime
	a.d.log.Warn("path skipped", "root", a.w.root, "path", rel,
		"reason", "zero-byte file (set allow_empty: true on the rule to upload empty files)")
}

// removed forgets a file that went away before it became a job.
func (a *assembler) removed(rel string, dir bool) {
	for r := range a.pending {
		if r == rel || (dir && strings.HasPrefix(r, rel+"/")) {
			delete(a.pending, r)
		}
	}
	if dir {
		a.members.forgetTree(rel)
	} else {
		a.members.forget(rel)
	}
}

// recheck tries every pending candidate again.
func (a *assembler) recheck(ctx context.Context) {
	for rel, c := range a.pending {
		if ctx.Err() != nil {
			return
		}
		if a.try(ctx, c) {
			delete(a.pending, rel)
		}
	}
}

// try enqueues c when it is complete and reports whether c is settled
// (enqueued, skipped or failed for good).
func (a *assembler) try(ctx context.Context, c *candidate) bool {
	if a.referencedElsewhere(c.rel) {
		return true
	}
	if c.params.ReadyMarker != "" && !exists(filepath.Join(a.w.root, filepath.FromSlash(c.params.ReadyMarker))) {
		c.waiting, c.detail = WaitMarker, c.params.ReadyMarker
		return false
	}
	if maybeBundlePart(c.rel) && !a.folderQuiet(path.Dir(c.rel)) {
		c.waiting = WaitQuietFolder
		return false
	}
	if w := c.params.BundleWait; w > 0 && !c.bundle && !a.folderQuietFor(path.Dir(c.rel), w) {
		c.waiting = "bundle_wait (a manifest written later may claim it)"
		return false
	}
	if a.referencedElsewhere(c.rel) {
		return true // a manifest read just now claims it
	}
	if c.bundle {
		settled := a.tryBundle(ctx, c)
		if settled {
			a.members.forget(c.rel) // read again if a lookup needs it
		}
		return settled
	}
	cover, wait := a.cover(c)
	if wait {
		c.waiting = WaitCover
		return false
	}
	return a.enqueue(ctx, c, cover, c.stat.Size+sizeOf(a.w.root, cover), state.KindFile, nil)
}

// cover returns the cover to send with c, or asks to wait for one that is
// still arriving (bounded by the rule's cover_wait).
func (a *assembler) cover(c *candidate) (rel string, wait bool) {
	for _, cand := range c.params.CoverCandidates {
		p := filepath.Join(a.w.root, filepath.FromSlash(cand))
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if a.d.now().Sub(fi.ModTime()) >= a.w.cfg.Settle || a.d.now().Sub(c.since) >= c.params.CoverWait {
			return cand, false
		}
		return "", true // present but still being written
	}
	if len(c.params.CoverCandidates) > 0 && a.d.now().Sub(c.since) < c.params.CoverWait {
		return "", true
	}
	if len(c.params.CoverCandidates) > 0 && c.params.CoverWait > 0 {
		a.d.log.Info("no cover arrived in time; uploading without one", "path", c.rel, "waited", c.params.CoverWait)
	}
	return "", false
}

// tryBundle enqueues a manifest whose every referenced file is present and
// settled; an incomplete bundle waits up to its timeout, then fails with
// the list of missing files.
func (a *assembler) tryBundle(ctx context.Context, c *candidate) bool {
	if a.d.now().Before(c.nextTry) {
		return false
	}
	c.nextTry = a.d.now().Add(bundleRetry)
	b, err := manifest.Resolve(ctx, filepath.Join(a.w.root, filepath.FromSlash(c.rel)), manifest.Options{})
	var miss *manifest.MissingError
	switch {
	case errors.As(err, &miss):
		if a.d.now().Sub(c.since) < c.params.BundleTimeout {
			c.waiting = WaitBundle
			a.noteMissing(c, miss)
			return false
		}
		return a.enqueue(ctx, c, "", c.stat.Size, state.KindBundle, &jobFailure{code: "BundleIncomplete", msg: err.Error(), final: true})
	case err != nil:
		return a.enqueue(ctx, c, "", c.stat.Size, state.KindBundle, &jobFailure{code: CodeBundleInvalid, msg: err.Error()})
	}
	newest := time.Time{}
	for _, f := range b.Files {
		if fi, err := os.Stat(f.Path); err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	// A second settle window after the manifest settled lets a master
	// playlist written at the same time claim this one as its variant.
	if a.d.now().Sub(newest) < a.w.cfg.Settle || a.d.now().Sub(c.since) < a.w.cfg.Settle {
		c.waiting, c.missing, c.nMissing = WaitBundleSettling, nil, 0
		return false
	}
	return a.enqueue(ctx, c, "", c.stat.Size+b.Size(), state.KindBundle, nil)
}

// noteMissing records which files a waiting bundle lacks, and logs them
// once at info level when it has waited long.
func (a *assembler) noteMissing(c *candidate, miss *manifest.MissingError) {
	// A new slice each time: published snapshots share the old one.
	c.nMissing, c.missing = len(miss.Missing), make([]string, 0, maxMissingShown)
	for _, f := range miss.Missing[:min(len(miss.Missing), maxMissingShown)] {
		c.missing = append(c.missing, path.Join(path.Dir(c.rel), f.Rel)) // f.Rel is the manifest's
	}
	waited := a.d.now().Sub(c.since)
	if c.longLogged || waited < longBundleWait(c.params.BundleTimeout) {
		return
	}
	c.longLogged = true
	a.d.log.Info("bundle still incomplete", "root", a.w.root, "path", c.rel, "missing", c.nMissing,
		"first_missing", c.missing, "waited", waited, "fails_after", c.params.BundleTimeout)
}

// queuedCandidate is a complete candidate waiting for the next flush.
type queuedCandidate struct {
	c     *candidate
	cover string
	bytes int64
	kind  state.Kind
}

// maxBatch bounds how many jobs one flush records in one transaction.
const maxBatch = 512

// enqueue records the job (idempotently) and, for a candidate that can
// never be uploaded, its failure. A job to upload joins the batch that
// flush records in one transaction (a folder of thousands of files costs
// a few fsyncs, not one each); the intake flushes after every event.
func (a *assembler) enqueue(ctx context.Context, c *candidate, cover string, bytes int64, kind state.Kind, failure *jobFailure) bool {
	key := c.key
	var prev *state.Job // the uploaded earlier version of this path, if any
	if failure == nil {
		if prev = a.previousUpload(ctx, c.rel, key); prev == nil {
			a.batch = append(a.batch, queuedCandidate{c: c, cover: cover, bytes: bytes, kind: kind})
			if len(a.batch) >= maxBatch {
				a.flush(ctx)
			}
			return true
		}
	}
	// A job born failed, or a new version of an uploaded file (on_change),
	// is recorded at once, kept from the workers until that is recorded.
	if !a.d.sched.claim(key.ID()) {
		return false
	}
	defer a.d.sched.release(key.ID())
	attrs := state.Attrs{
		Kind: kind, Rule: c.params.Rule, Cover: cover, Bytes: bytes,
		SourceContext: c.params.SourceContext, MediaName: c.params.MediaName, Priority: c.params.Priority,
	}
	if prev != nil && c.rule.OnChange == config.OnChangeReplace {
		attrs.Replaces = prev.ID
	}
	j, created, err := a.d.store.Enqueue(ctx, key, attrs)
	if err != nil {
		a.d.noteStateError(err)
		a.d.log.Error("cannot record a new job; it is retried", "path", c.rel, "err", err)
		return false
	}
	if !created {
		return true
	}
	a.d.events.enqueued(a.w.cfg.Path)
	a.d.log.Info("job queued", "job", j.ID, "path", c.rel, "root", a.w.root, "rule", c.params.Rule, "stage", j.Stage, "bytes", bytes, "cover", cover)
	if failure != nil {
		d := a.d
		d.fail(ctx, j, d.log.With("job", j.ID, "path", c.rel, "rule", c.params.Rule), *failure, c.rule)
	}
	if prev != nil {
		a.changedAfterUpload(ctx, j, prev, c.rule.OnChange)
	}
	return true
}

// flush records the batched jobs. When the state cannot be written they
// wait again among the pending candidates, and the next recheck retries.
func (a *assembler) flush(ctx context.Context) {
	if len(a.batch) == 0 {
		return
	}
	batch := a.batch
	a.batch = nil
	reqs := make([]state.NewJob, len(batch))
	for i, q := range batch {
		reqs[i] = state.NewJob{Key: q.c.key, Attrs: state.Attrs{
			Kind: q.kind, Rule: q.c.params.Rule, Cover: q.cover, Bytes: q.bytes,
			SourceContext: q.c.params.SourceContext, MediaName: q.c.params.MediaName, Priority: q.c.params.Priority,
		}}
	}
	res, err := a.d.store.EnqueueMany(ctx, reqs)
	if err != nil {
		a.d.noteStateError(err)
		a.d.log.Error("cannot record new jobs; they are retried", "count", len(batch), "err", err)
		for _, q := range batch {
			a.pending[q.c.rel] = q.c
		}
		return
	}
	for i, r := range res {
		q := batch[i]
		switch {
		case r.Err != nil:
			a.d.log.Error("cannot record a new job; file left alone", "path", q.c.rel, "err", r.Err)
		case r.Created:
			a.d.events.enqueued(a.w.cfg.Path)
			a.d.log.Info("job queued", "job", r.Job.ID, "path", q.c.rel, "root", a.w.root, "rule", q.c.params.Rule,
				"stage", r.Job.Stage, "bytes", q.bytes, "cover", q.cover)
		}
	}
}

// isSidecar reports whether rel is a result sidecar (<name>.vod.json) that
// a post-action wrote next to an uploaded file: never media.
func (a *assembler) isSidecar(ctx context.Context, rel string) bool {
	media, ok := SidecarOf(rel)
	if !ok {
		return false
	}
	_, known, err := a.d.store.ByPath(ctx, a.w.root, media)
	return (err == nil && known) || exists(filepath.Join(a.w.root, filepath.FromSlash(media))) ||
		postaction.IsResultSidecar(filepath.Join(a.w.root, filepath.FromSlash(rel))) // a shortened or numbered name
}

// sidecarSuffixes are the names postaction gives a done job's result file
// and a quarantined job's error file (a quarantined file dropped back with
// its .error.json must not make that a job of its own).
var sidecarSuffixes = []string{postaction.ResultSuffix, ".error.json"}

// isCover reports whether rel is the cover of a sibling media file (it is
// then sent with that file, never on its own).
func (a *assembler) isCover(rel string) bool {
	base := path.Base(rel)
	hit := false
	for _, r := range a.w.cfg.Rules {
		for _, suf := range r.Cover {
			hit = hit || (strings.HasSuffix(base, suf) && base != suf)
		}
	}
	if !hit {
		return false
	}
	entries, err := os.ReadDir(filepath.Join(a.w.root, filepath.FromSlash(path.Dir(rel))))
	if err != nil {
		return false
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	_, ok := a.w.rules.IsCover(rel, names)
	return ok
}

// referencedElsewhere reports whether a manifest of this watch, in any
// folder above rel, references it (a variant playlist, a segment, a key).
func (a *assembler) referencedElsewhere(rel string) bool {
	list, ok := a.members.claimant(rel)
	if ok {
		a.d.log.Debug("part of a bundle; not a job of its own", "path", rel, "manifest", list)
	}
	return ok
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func sizeOf(root, rel string) int64 {
	if rel == "" {
		return 0
	}
	fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return 0
	}
	return fi.Size()
}
