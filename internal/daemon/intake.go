package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/rootlock"
	"github.com/vodwatchd/vodwatchd/internal/settle"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/watcher"
)

// recheckEvery is how often waiting candidates (cover, marker, bundle) are
// looked at again.
const recheckEvery = 250 * time.Millisecond

// runWatches runs one intake per watch until ctx ends; Reload restarts them.
func (d *Daemon) runWatches(ctx context.Context) error {
	for {
		wctx, cancel := context.WithCancel(ctx)
		d.mu.Lock()
		d.restart = cancel
		d.mu.Unlock()
		err := d.runIntakes(wctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		// Cancelled by restartWatches: start again with the new config.
	}
}

func (d *Daemon) restartWatches() {
	d.mu.Lock()
	cancel := d.restart
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (d *Daemon) runIntakes(ctx context.Context) error {
	// The first intake that fails stops the others.
	g, ctx := errgroup.WithContext(ctx)
	for _, w := range d.watchList() {
		g.Go(func() error {
			if err := d.runIntake(ctx, w); !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}
	return g.Wait()
}

// errLockLost ends a watch whose root came back (remounted, replaced)
// with a lock file that its lock does not cover.
var errLockLost = errors.New("the watch folder came back with a new lock file")

// runIntake watches one root: watcher hints and scans go through settling
// to the assembler. The root is locked first (lockRoot), and again when it
// comes back from missing with a lock file of its own (a remounted NAS
// export): the old lock covers only the old mount's file, and another
// daemon could take the new one and upload every file a second time.
func (d *Daemon) runIntake(ctx context.Context, w *watchState) error {
	for {
		lock, err := d.lockRoot(ctx, w.root)
		if err != nil {
			return err
		}
		err = d.watchLocked(ctx, w, lock)
		lock.Release()
		if !errors.Is(err, errLockLost) {
			return err
		}
		d.log.Warn("watch folder came back with a new lock file (remounted?); locking it again before watching", "root", w.root)
	}
}

// watchLocked watches a locked root until ctx ends, the watch fails, or
// the root comes back with a new lock file (errLockLost).
func (d *Daemon) watchLocked(ctx context.Context, w *watchState, lock *rootlock.Lock) error {
	events := make(chan watcher.Event, 4096)
	stable := make(chan settle.Stable, 1024)
	wt, err := watcher.New(watcher.Config{
		Root: w.root, Mode: watcher.Mode(w.cfg.Mode), PollInterval: w.cfg.PollInterval,
		RescanInterval: w.cfg.RescanInterval, Out: events, Logger: d.log, StartReason: d.startReason(),
		Ignore: w.cfg.IgnoreFunc(),
	})
	if err != nil {
		return fmt.Errorf("watch %s: %w", w.root, err)
	}
	sc := settle.Config{Root: w.root, Window: w.cfg.Settle, Out: stable, Logger: d.log, MaxOpenWait: w.cfg.MaxOpenWait}
	if w.cfg.Mode != config.ModePoll {
		// A local filesystem can tell a writer that paused from one that
		// finished; a network one cannot (ready_marker is the way there).
		sc.OpenForWrite = settle.OpenForWrite
	}
	st, err := settle.New(sc)
	if err != nil {
		return fmt.Errorf("watch %s: %w", w.root, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- wt.Run(ctx) }()
	go func() { errc <- st.Run(ctx) }()
	in := &intake{d: d, w: w, lock: lock, settler: st, asm: newAssembler(d, w), adopt: &adoptions{d: d}}
	d.waiting.register(w.root, st)
	defer d.waiting.unregister(w.root)
	err = in.loop(ctx, events, stable, errc)
	cancel()
	for range 2 - in.exited {
		<-errc
	}
	return err
}

// intake is one watch's event loop.
type intake struct {
	d       *Daemon
	w       *watchState
	lock    *rootlock.Lock // nil: the root could not hold one
	settler *settle.Settler
	asm     *assembler
	adopt   *adoptions // records adopted on a remount, written in batches
	exited  int
	warned  map[string]bool // paths already reported as skipped (each scan sees them again)
}

// maxWarned bounds the memory of paths already warned about.
const maxWarned = 10000

// warnOnce logs a skipped path the first time it is seen.
func (in *intake) warnOnce(rel, reason string) {
	if in.warned[rel] {
		return
	}
	if in.warned == nil || len(in.warned) >= maxWarned {
		in.warned = map[string]bool{}
	}
	in.warned[rel] = true
	in.d.log.Warn("path skipped", "root", in.w.root, "path", rel, "reason", reason)
}

func (in *intake) loop(ctx context.Context, events <-chan watcher.Event, stable <-chan settle.Stable, errc <-chan error) error {
	tick := time.NewTicker(recheckEvery)
	defer tick.Stop()
	defer in.adopt.flush(context.WithoutCancel(ctx))
	beat := "intake " + in.w.root
	for {
		in.d.beat(beat)
		in.asm.flush(ctx) // the jobs the last turn completed, in one write
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			in.exited++
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("watch %s: %w", in.w.root, err)
			}
			return nil
		case ev := <-events:
			if in.lockLost(ev) {
				return errLockLost
			}
			in.event(ctx, ev)
		case s := <-stable:
			in.settled(ctx, s)
			// Files that settled together become jobs together: take
			// what else is waiting, up to a batch.
		drain:
			for range maxBatch - 1 {
				select {
				case s := <-stable:
					in.settled(ctx, s)
				default:
					break drain
				}
			}
		case <-tick.C:
			in.adopt.flush(ctx)
			if in.d.acceptingWork() {
				in.asm.recheck(ctx)
			}
			in.publishWaiting()
		}
	}
}

// lockLost reports whether ev says the root is back (present again, or
// watched again after a restart of the watch) while the root's lock file
// is no longer the one this intake holds. It is checked before the
// watcher's scan of the root is let in.
func (in *intake) lockLost(ev watcher.Event) bool {
	return ev.Kind == watcher.State && ev.RootStatus == watcher.RootPresent && in.lock != nil && !in.lock.Current()
}

// settled hands a stable file to the assembler.
func (in *intake) settled(ctx context.Context, s settle.Stable) {
	if in.d.acceptingWork() {
		in.asm.settled(ctx, s.Rel, s.ID)
	} else {
		in.settler.Changed(s.Rel) // look again once the state is writable
	}
}

func (in *intake) event(ctx context.Context, ev watcher.Event) {
	in.d.log.Debug("watch event", "root", in.w.root, "kind", ev.Kind, "path", ev.Rel)
	if (ev.Kind == watcher.Changed || ev.Kind == watcher.Scanned) && !utf8.ValidString(ev.Rel) {
		// VOD names and the state's records are UTF-8: such a file could
		// never be recorded faithfully, so it is left alone, loudly.
		in.warnOnce(ev.Rel, "the path is not valid UTF-8; rename the file to upload it")
		return
	}
	switch ev.Kind {
	case watcher.Changed:
		in.settler.Changed(ev.Rel)
	case watcher.Scanned:
		if in.known(ctx, ev) {
			return
		}
		in.settler.Seen(ev.Rel, ev.Stat)
	case watcher.Removed:
		in.settler.Removed(ev.Rel, ev.Dir)
		in.asm.removed(ev.Rel, ev.Dir)
	case watcher.ScanDone:
		in.adopt.flush(ctx)
		in.d.noteScan(in.w.root, ev.Scan)
	case watcher.Refused:
		in.warnOnce(ev.Rel, ev.Reason)
	case watcher.State:
		in.d.noteRoot(in.w.root, ev)
	}
}

// known reports whether a scanned file is a file the state already has a
// job for: the catch-up scan of a large tree costs one index lookup per
// file and never waits a settle window for it; a file whose inode or ctime
// moved (a remount, a migration) costs one read of its content.
func (in *intake) known(ctx context.Context, ev watcher.Event) bool {
	_, out, ad, err := in.d.reconcile(ctx, in.w.root, ev.Rel, ev.Stat)
	if ad != nil {
		in.adopt.add(ctx, *ad)
	}
	return err == nil && (out == state.Known || out == state.Adopted)
}
