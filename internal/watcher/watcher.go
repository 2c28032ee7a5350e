package watcher

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/fileid"

	"github.com/fsnotify/fsnotify"
)

// Defaults for Config's intervals.
const (
	DefaultPollInterval      = 10 * time.Second
	DefaultRescanInterval    = 5 * time.Minute
	DefaultRootCheckInterval = 5 * time.Second
)

// Config configures one Watcher (one root).
type Config struct {
	Root string // folder to watch; made absolute
	Mode Mode   // auto (default), notify or poll
	// PollInterval is the time between scans in poll mode (default 10s).
	PollInterval time.Duration
	// RescanInterval is the time between full scans in notify mode
	// (default 5m; negative disables periodic scans).
	RescanInterval time.Duration
	// RootCheckInterval is how often the root's presence is checked
	// (unmounts send no event) and a missing root re-checked (default 5s).
	RootCheckInterval time.Duration
	// Ignore skips paths (nil: nothing ignored; the daemon passes config.Watch.IgnoreFunc).
	Ignore IgnoreFunc
	// Out receives every Event. The consumer owns it (several watchers may
	// share one); the watcher never closes it, and blocks while it is full.
	Out chan<- Event
	// MaxUserWatches, if > 0, replaces fs.inotify.max_user_watches in the
	// start-up budget check.
	MaxUserWatches int
	Logger         *slog.Logger
	// StartReason labels the first scan's events and summary (default
	// "startup"; "reload" when a reloaded configuration restarts the watch).
	StartReason string
}

// Watcher watches one root. Create it with New and run it with Run.
type Watcher struct {
	cfg      Config
	root     string
	realRoot string
	ignore   IgnoreFunc
	log      *slog.Logger
	rescanCh chan string
	errSeam  chan error // tests inject watcher errors here

	// Owned by the Run goroutine.
	fsw        *fsnotify.Watcher
	mode       Mode
	modeReason string
	watched    map[string]uint64 // rel folder -> scan generation that last saw it
	gen        uint64
	scanSeq    uint64
	rootDev    uint64
	rootMount  bool
}

// New checks cfg and returns a Watcher; it touches no file.
func New(cfg Config) (*Watcher, error) {
	if cfg.Root == "" {
		return nil, errors.New("watcher: root is empty")
	}
	if cfg.Out == nil {
		return nil, fmt.Errorf("watcher %s: Out channel is nil", cfg.Root)
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("watcher %s: %w", cfg.Root, err)
	}
	cfg.Root = root
	if cfg.Mode, err = ParseMode(string(cfg.Mode)); err != nil {
		return nil, fmt.Errorf("watcher %s: %w", root, err)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.RescanInterval == 0 {
		cfg.RescanInterval = DefaultRescanInterval
	}
	if cfg.RootCheckInterval <= 0 {
		cfg.RootCheckInterval = DefaultRootCheckInterval
	}
	if cfg.Ignore == nil {
		cfg.Ignore = noIgnore
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{
		cfg: cfg, root: root, ignore: cfg.Ignore, log: cfg.Logger,
		rescanCh: make(chan string, 1), errSeam: make(chan error, 1),
	}, nil
}

// Root is the watched folder (absolute).
func (w *Watcher) Root() string { return w.root }

// Rescan asks for a full scan soon; requests while one is pending merge.
func (w *Watcher) Rescan(reason string) {
	select {
	case w.rescanCh <- reason:
	default:
	}
}

// Run watches until ctx is cancelled (then it returns nil, with fsnotify
// closed) or a start-up error: a *LimitError when the inotify budget is too
// small. A missing root is reported and waited for, not an error.
func (w *Watcher) Run(ctx context.Context) error {
	defer w.stopNotify()
	if err := w.waitRoot(ctx); err != nil {
		return nil
	}
	reason := w.cfg.StartReason
	if reason == "" {
		reason = "startup"
	}
	err := w.start(ctx, reason)
	var le *LimitError
	if errors.As(err, &le) {
		return err
	}
	for ctx.Err() == nil {
		err = w.loop(ctx, err)
		if ctx.Err() != nil {
			break
		}
		// The root went missing (or the watch failed): report, wait,
		// start again; back off when the root is there but start failed.
		w.stopNotify()
		if ok, _ := w.rootPresent(); ok && !errors.Is(err, errRootGone) {
			if sleep(ctx, w.cfg.RootCheckInterval) != nil {
				break
			}
		}
		if err := w.waitRoot(ctx); err != nil {
			break
		}
		err = w.start(ctx, "root-back")
	}
	return nil
}

// waitRoot reports a missing root and polls until it is present. A reason
// that changes while waiting (gone, then a symlink put in its place, then
// a file) is reported again, so /readyz never shows a stale one.
func (w *Watcher) waitRoot(ctx context.Context) error {
	reported := ""
	for {
		ok, why := w.rootPresent()
		if ok {
			return nil
		}
		if why != reported {
			w.log.Warn("watch root missing; waiting for it", "root", w.root, "reason", why)
			if err := w.emit(ctx, Event{Kind: State, RootStatus: RootMissing, Reason: why}); err != nil {
				return err
			}
			reported = why
		}
		if err := sleep(ctx, w.cfg.RootCheckInterval); err != nil {
			return err
		}
	}
}

// start chooses the mode, adds watches and runs the first full scan.
func (w *Watcher) start(ctx context.Context, reason string) error {
	w.noteRoot()
	mode, why, err := ChooseMode(w.root, w.cfg.Mode)
	if err != nil {
		return err
	}
	w.mode, w.modeReason = mode, why
	if mode == ModeNotify {
		if err := w.startNotify(ctx); err != nil {
			var le *LimitError
			if reason == "startup" || !errors.As(err, &le) {
				return err
			}
			w.degrade(err)
		}
	}
	w.log.Info("watching", "root", w.root, "mode", w.mode, "why", w.modeReason)
	if err := w.emit(ctx, Event{Kind: State, RootStatus: RootPresent, Reason: reason,
		Mode: w.mode, ModeReason: w.modeReason}); err != nil {
		return err
	}
	return w.scan(ctx, reason)
}

// startNotify checks the watch budget and opens fsnotify.
func (w *Watcher) startNotify(ctx context.Context) error {
	b, err := CheckBudget(ctx, []BudgetRoot{{Path: w.root, Ignore: w.ignore}}, w.cfg.MaxUserWatches, nil)
	if err != nil {
		return fmt.Errorf("watch %s: %w", w.root, err)
	}
	if err := b.Err(); err != nil {
		return err
	}
	fsw, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return addWatchError(w.root, w.root, err)
	}
	w.fsw = fsw
	w.watched = make(map[string]uint64)
	return nil
}

// degrade switches to poll mode after a watch limit error.
func (w *Watcher) degrade(err error) {
	w.log.Error("inotify limit reached; polling this root instead", "root", w.root, "err", err)
	w.stopNotify()
	w.mode, w.modeReason = ModePoll, "inotify limit reached: "+err.Error()
}

func (w *Watcher) stopNotify() {
	if w.fsw != nil {
		w.fsw.Close()
		w.fsw = nil
	}
	w.watched = nil
}

// scan runs a full scan; a limit error while adding watches switches to
// poll mode and scans again.
func (w *Watcher) scan(ctx context.Context, reason string) error {
	err := w.fullScan(ctx, reason)
	var le *LimitError
	if !errors.As(err, &le) {
		return err
	}
	w.degrade(err)
	if err := w.emit(ctx, Event{Kind: State, RootStatus: RootPresent, Reason: "inotify limit",
		Mode: w.mode, ModeReason: w.modeReason}); err != nil {
		return err
	}
	return w.fullScan(ctx, reason)
}

// loop serves events and timers until ctx ends or the root goes missing.
// first is the error of the start-up scan.
func (w *Watcher) loop(ctx context.Context, first error) error {
	if first != nil {
		return w.handleScanErr(first)
	}
	scanEvery := w.cfg.RescanInterval
	scanReason := "periodic"
	if w.mode == ModePoll {
		scanEvery, scanReason = w.cfg.PollInterval, "poll"
	}
	scanT := newTimer(scanEvery)
	defer scanT.Stop()
	rootT := time.NewTicker(w.cfg.RootCheckInterval)
	defer rootT.Stop()
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.fsw != nil {
		events, errs = w.fsw.Events, w.fsw.Errors
	}
	for {
		pending := ""
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				events = nil
				pending = "watcher-closed"
				break
			}
			if err := w.handle(ctx, ev); err != nil {
				return w.handleScanErr(err)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				break
			}
			pending = w.watchErr(err)
		case err := <-w.errSeam:
			pending = w.watchErr(err)
		case <-scanT.C():
			pending = scanReason
		case <-rootT.C:
			if ok, why := w.rootCheck(); !ok {
				return fmt.Errorf("%w: %s", errRootGone, why)
			}
		case r := <-w.rescanCh:
			pending = r
		}
		if pending == "" {
			continue
		}
		w.drainErrs(errs)
		modeBefore := w.mode
		if err := w.scan(ctx, pending); err != nil {
			return w.handleScanErr(err)
		}
		if w.mode != modeBefore {
			return w.loop(ctx, nil) // re-arm for poll mode
		}
		scanT.Reset(scanEvery)
	}
}

// watchErr logs a watcher error and names the scan it calls for.
func (w *Watcher) watchErr(err error) string {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		w.log.Warn("inotify queue overflowed; rescanning", "root", w.root)
		return "overflow"
	}
	w.log.Warn("watcher error; rescanning", "root", w.root, "err", err)
	return "watcher-error"
}

// drainErrs merges queued watcher errors into the scan about to run.
func (w *Watcher) drainErrs(errs <-chan error) {
	for {
		select {
		case err, ok := <-errs:
			if !ok {
				return
			}
			w.log.Debug("watcher error merged into rescan", "root", w.root, "err", err)
		case <-w.errSeam:
		default:
			return
		}
	}
}

// handleScanErr logs why the loop ends; Run then waits for the root (a
// lost root reads as errRootGone) or backs off and starts again.
func (w *Watcher) handleScanErr(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
	case errors.Is(err, errRootGone):
		w.log.Warn("watch root lost", "root", w.root, "err", err)
	default:
		w.log.Error("watch failed; starting again", "root", w.root, "err", err)
	}
	return err
}

// noteRoot records the root's device and whether it is a mount point, to
// notice an unmount (the mount point stays, but empty).
func (w *Watcher) noteRoot() {
	w.rootDev, w.rootMount = 0, false
	if real, err := filepath.EvalSymlinks(w.root); err == nil {
		w.realRoot = real
	} else {
		w.realRoot = w.root
	}
	dev, err := fileid.Dev(w.root)
	if err != nil {
		return
	}
	w.rootDev = dev
	if pdev, err := fileid.Dev(filepath.Dir(w.realRoot)); err == nil && pdev != dev {
		w.rootMount = true
	}
}

// rootPresent reports whether the root is a readable folder (and still a
// mount point if it was one).
func (w *Watcher) rootPresent() (bool, string) {
	if li, err := os.Lstat(w.root); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		// Never followed (a root is walked with O_NOFOLLOW): say so,
		// rather than "missing" while something is there.
		target, _ := os.Readlink(w.root)
		return false, fmt.Sprintf("watch root is a symlink (to %s), which is not followed: point the watch at the real folder", target)
	}
	fi, err := os.Stat(w.root)
	if err != nil {
		return false, "watch root missing: " + errText(err)
	}
	if !fi.IsDir() {
		return false, "watch root is not a folder"
	}
	if w.rootMount {
		dev, _ := fileid.Dev(w.root)
		pdev, err := fileid.Dev(filepath.Dir(w.realRoot))
		if err == nil && pdev == dev {
			return false, "watch root is no longer a mount point (unmounted?)"
		}
	}
	return true, ""
}

// rootCheck is rootPresent plus a changed device (remounted): the watches
// are then stale, so it reports the root as gone to start over.
func (w *Watcher) rootCheck() (bool, string) {
	if ok, why := w.rootPresent(); !ok {
		return ok, why
	}
	if dev, err := fileid.Dev(w.root); err == nil && w.rootDev != 0 && dev != w.rootDev {
		return false, "watch root's filesystem changed (remounted?)"
	}
	return true, ""
}

// emit sends ev to Out, filling Root and Path.
func (w *Watcher) emit(ctx context.Context, ev Event) error {
	ev.Root = w.root
	ev.Path = joinRel(w.root, ev.Rel)
	select {
	case w.cfg.Out <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// relOf maps an absolute event path to a slash rel path under the root.
func (w *Watcher) relOf(name string) (string, bool) {
	if name == w.root {
		return "", true
	}
	prefix := w.root + string(filepath.Separator)
	if !strings.HasPrefix(name, prefix) {
		return "", false
	}
	return filepath.ToSlash(name[len(prefix):]), true
}

// handle turns one fsnotify event into hints, after an lstat of the path.
func (w *Watcher) handle(ctx context.Context, ev fsnotify.Event) error {
	rel, ok := w.relOf(ev.Name)
	if !ok {
		return nil
	}
	if rel == "" {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			if ok, why := w.rootCheck(); !ok {
				return fmt.Errorf("%w: %s", errRootGone, why)
			}
		}
		return nil
	}
	fi, err := os.Lstat(ev.Name)
	if err != nil {
		return w.gone(ctx, rel)
	}
	_, wasDir := w.watched[rel]
	if wasDir && !fi.IsDir() {
		if err := w.gone(ctx, rel); err != nil {
			return err
		}
	}
	if w.ignore(rel, fi.IsDir()) {
		return nil
	}
	switch m := fi.Mode(); {
	case m.IsDir():
		if wasDir && !ev.Has(fsnotify.Create) {
			return nil
		}
		wk := &walker{w: w, kind: walkSub, sum: &ScanSummary{}}
		return wk.walk(ctx, rel)
	case m.IsRegular():
		return w.emit(ctx, Event{Kind: Changed, Rel: rel, Stat: fileid.FromInfo(fi)})
	case ev.Has(fsnotify.Create):
		reason := specialReason(m.Type())
		if m&fs.ModeSymlink != 0 {
			reason = w.symlinkReason(ev.Name)
		}
		return w.emit(ctx, Event{Kind: Refused, Rel: rel, Reason: reason})
	}
	return nil
}

// gone reports rel as removed, unless the root itself is gone: then the
// root is reported missing and nothing under it is reported removed.
func (w *Watcher) gone(ctx context.Context, rel string) error {
	_, wasDir := w.watched[rel]
	if wasDir {
		w.unwatchTree(rel)
	}
	if ok, why := w.rootCheck(); !ok {
		return fmt.Errorf("%w: %s", errRootGone, why)
	}
	if w.ignore(rel, wasDir) {
		return nil
	}
	return w.emit(ctx, Event{Kind: Removed, Rel: rel, Dir: wasDir})
}

// watchDir adds an inotify watch on a folder (notify mode only).
func (w *Watcher) watchDir(rel string) error {
	if w.fsw == nil {
		return nil
	}
	if _, ok := w.watched[rel]; ok {
		w.watched[rel] = w.gen
		return nil
	}
	abs := joinRel(w.root, rel)
	if err := w.fsw.Add(abs); err != nil {
		return addWatchError(w.root, abs, err)
	}
	w.watched[rel] = w.gen
	return nil
}

// unwatchTree drops the watches on rel and every folder under it.
func (w *Watcher) unwatchTree(rel string) {
	if w.fsw == nil {
		return
	}
	prefix := rel + "/"
	for r := range w.watched {
		if r == rel || strings.HasPrefix(r, prefix) {
			_ = w.fsw.Remove(joinRel(w.root, r))
			delete(w.watched, r)
		}
	}
}

// dropStaleWatches removes watches on folders the last full scan did not
// see (they vanished without an event reaching us).
func (w *Watcher) dropStaleWatches() {
	if w.fsw == nil {
		return
	}
	for r, g := range w.watched {
		if g != w.gen && r != "" {
			_ = w.fsw.Remove(joinRel(w.root, r))
			delete(w.watched, r)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// timer is a time.Timer that may be disabled (d <= 0: never fires).
type timer struct{ t *time.Timer }

func newTimer(d time.Duration) *timer {
	if d <= 0 {
		return &timer{}
	}
	return &timer{t: time.NewTimer(d)}
}

func (t *timer) C() <-chan time.Time {
	if t.t == nil {
		return nil
	}
	return t.t.C
}

func (t *timer) Reset(d time.Duration) {
	if t.t != nil {
		t.t.Reset(d)
	}
}

func (t *timer) Stop() {
	if t.t != nil {
		t.t.Stop()
	}
}
