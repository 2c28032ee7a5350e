package watcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
)

// errRootGone says the root could not be read during a walk.
var errRootGone = errors.New("watch root is gone")

// readBatch bounds how many entries of one folder are held at once.
const readBatch = 512

// maxUnreadableListed caps ScanSummary.Unreadable.
const maxUnreadableListed = 100

// walkKind selects what a walk reports for regular files.
type walkKind int

const (
	walkFull walkKind = iota // full scan: Scanned events
	walkSub                  // a folder that just appeared: Changed hints
)

// walker walks a subtree without following symlinks, reporting regular
// files, refusing everything else, and (in notify mode) adding a watch to
// each folder before reading it so nothing created meanwhile is missed.
type walker struct {
	w    *Watcher
	kind walkKind
	id   uint64
	sum  *ScanSummary
}

// walk reads the subtree at rel depth-first with an explicit stack (deep
// nesting is fine); it returns errRootGone if the root itself can't be read,
// a *LimitError if a watch can't be added, or the context's error.
func (wk *walker) walk(ctx context.Context, rel string) error {
	stack := []string{rel}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		dir := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		sub, err := wk.readDir(ctx, dir)
		if err != nil {
			return err
		}
		stack = append(stack, sub...)
	}
	return nil
}

// readDir reports one folder's entries and returns its subfolders.
func (wk *walker) readDir(ctx context.Context, rel string) ([]string, error) {
	w := wk.w
	abs := joinRel(w.root, rel)
	if err := w.watchDir(rel); err != nil {
		var le *LimitError
		if errors.As(err, &le) {
			return nil, err
		}
		w.log.Debug("watch folder failed", "root", w.root, "rel", rel, "err", err)
	}
	f, err := openDir(abs)
	if err != nil {
		return nil, wk.dirError(ctx, rel, err)
	}
	defer f.Close()
	wk.sum.Dirs++
	var sub []string
	for {
		ents, err := f.ReadDir(readBatch)
		for _, e := range ents {
			s, eerr := wk.entry(ctx, rel, e)
			if eerr != nil {
				return nil, eerr
			}
			if s != "" {
				sub = append(sub, s)
			}
		}
		if err == io.EOF || (err == nil && len(ents) == 0) {
			return sub, nil
		}
		if err != nil {
			return sub, wk.dirError(ctx, rel, err)
		}
	}
}

// openDir opens a folder without following a symlink and without ever
// opening anything else (O_DIRECTORY fails on a FIFO before it can block).
func openDir(abs string) (*os.File, error) {
	return os.OpenFile(abs, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
}

// dirError handles a folder that could not be read: the root is fatal to
// the walk, a vanished folder is skipped, anything else is refused and
// listed as unreadable.
func (wk *walker) dirError(ctx context.Context, rel string, err error) error {
	w := wk.w
	if rel == "" {
		return fmt.Errorf("%w: %v", errRootGone, err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		w.unwatchTree(rel)
		return nil
	}
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR) {
		// Replaced by a symlink or a file since it was listed; the
		// parent's next event or scan reports what it is now.
		w.unwatchTree(rel)
		return nil
	}
	wk.sum.UnreadableCount++
	if len(wk.sum.Unreadable) < maxUnreadableListed {
		wk.sum.Unreadable = append(wk.sum.Unreadable, rel)
	}
	return wk.refuse(ctx, rel, "unreadable folder skipped: "+errText(err))
}

// entry reports one directory entry; it returns the rel path of a folder
// to descend into, or "".
func (wk *walker) entry(ctx context.Context, parent string, e fs.DirEntry) (string, error) {
	w := wk.w
	rel := childRel(parent, e.Name())
	typ := e.Type()
	if w.ignore(rel, typ.IsDir()) {
		wk.sum.Ignored++
		return "", nil
	}
	switch {
	case typ.IsDir():
		return rel, nil
	case typ.IsRegular():
		info, err := e.Info()
		if err != nil {
			return "", nil // vanished since listed
		}
		if !info.Mode().IsRegular() {
			return "", nil // replaced since listed; its event reports it
		}
		return "", wk.file(ctx, rel, info)
	case typ&fs.ModeSymlink != 0:
		return "", wk.refuse(ctx, rel, w.symlinkReason(joinRel(w.root, rel)))
	default:
		return "", wk.refuse(ctx, rel, specialReason(typ))
	}
}

func (wk *walker) file(ctx context.Context, rel string, info fs.FileInfo) error {
	ev := Event{Kind: Changed, Rel: rel, Stat: fileid.FromInfo(info)}
	if wk.kind == walkFull {
		ev.Kind, ev.ScanID = Scanned, wk.id
		wk.sum.Files++
	}
	return wk.w.emit(ctx, ev)
}

func (wk *walker) refuse(ctx context.Context, rel, reason string) error {
	wk.sum.Refused++
	return wk.w.emit(ctx, Event{Kind: Refused, Rel: rel, Reason: reason})
}

// specialReason names a file type that is never opened.
func specialReason(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO) skipped: never opened"
	case m&fs.ModeSocket != 0:
		return "socket skipped"
	case m&fs.ModeCharDevice != 0:
		return "character device skipped"
	case m&fs.ModeDevice != 0:
		return "block device skipped"
	}
	return fmt.Sprintf("not a regular file (%v) skipped", m.Type())
}

// symlinkReason explains why a symlink is refused. Symlinks are never
// followed; the reason says where it points.
func (w *Watcher) symlinkReason(abs string) string {
	target, err := filepath.EvalSymlinks(abs)
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist):
		return "dangling symlink refused"
	case err != nil && (errors.Is(err, syscall.ELOOP) || strings.Contains(err.Error(), "too many links")):
		return "symlink loop refused"
	case err != nil:
		return "symlink refused: " + errText(err)
	}
	if !within(w.realRoot, target) {
		return fmt.Sprintf("symlink points outside the watch root (to %s): refused", target)
	}
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		return "symlink to a folder inside the watch root: not descended"
	}
	return "symlink inside the watch root not followed: its target is reported under its own path"
}

// within reports whether path is root or under it.
func within(root, path string) bool {
	if root == "" {
		return false
	}
	if path == root {
		return true
	}
	if root == string(filepath.Separator) {
		return strings.HasPrefix(path, root)
	}
	return strings.HasPrefix(path, root+string(filepath.Separator))
}

// errText is an error's text without the path prefix of *PathError.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// fullScan walks the whole root and ends with ScanDone if the root was
// present throughout.
func (w *Watcher) fullScan(ctx context.Context, reason string) error {
	w.scanSeq++
	w.gen++
	sum := &ScanSummary{ID: w.scanSeq, Reason: reason}
	start := time.Now()
	wk := &walker{w: w, kind: walkFull, id: sum.ID, sum: sum}
	if err := wk.walk(ctx, ""); err != nil {
		return err
	}
	w.dropStaleWatches()
	if ok, why := w.rootPresent(); !ok {
		return fmt.Errorf("%w: %s", errRootGone, why)
	}
	sum.Duration = time.Since(start)
	// Debug: the consumer logs the ScanDone event once, at info.
	w.log.Debug("scan done", "root", w.root, "reason", reason, "files", sum.Files,
		"dirs", sum.Dirs, "refused", sum.Refused, "unreadable", sum.UnreadableCount,
		"duration", sum.Duration)
	return w.emit(ctx, Event{Kind: ScanDone, Scan: sum})
}
