package daemon

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/rootlock"
	"github.com/vodwatchd/vodwatchd/internal/watcher"
)

// rootLockRetry is how often a folder that another daemon holds is tried
// again (it is taken over once that daemon stops).
const rootLockRetry = 5 * time.Second

// lockRoot takes the watch root's lock before the root is watched. While
// another vodwatchd holds it, the root is not watched: the refusal is
// logged as an error naming the other daemon, /readyz reports the root
// down with that reason, and the lock is tried again every rootLockRetry.
// A missing root is reported missing and watched once it exists and is
// locked. A root that cannot hold a lock at all (unwritable and no
// writable parent) is watched without one, with a warning. It returns an
// error only when ctx ends.
//
// A cluster member takes no lock: its nodes share the folder on purpose,
// and the cluster's claims keep each file to one of them.
func (d *Daemon) lockRoot(ctx context.Context, root string) (*rootlock.Lock, error) {
	if d.opts.Cluster != nil {
		return nil, nil
	}
	host, _ := os.Hostname()
	owner := rootlock.Owner(os.Getpid(), host, d.store.Path())
	reported, missing := "", false
	for {
		lock, err := rootlock.Acquire(root, owner)
		var held *rootlock.HeldError
		switch {
		case err == nil:
			if reported != "" {
				d.log.Info("watch folder released by the other daemon; watching it now", "root", root, "lock", lock.Path)
			}
			return lock, nil
		case errors.Is(err, fs.ErrNotExist):
			// Not there yet (a NAS export not mounted): lock it, and only
			// then watch it, once it appears.
			if !missing {
				d.noteRoot(root, watcher.Event{Kind: watcher.State, RootStatus: watcher.RootMissing, Reason: err.Error()})
				missing = true
			}
		case !errors.As(err, &held):
			d.log.Warn("cannot lock the watch folder; another daemon on it would go unnoticed", "root", root, "err", err)
			return nil, nil
		default:
			if msg := held.Error(); msg != reported {
				d.log.Error("watch folder refused: another vodwatchd watches it", "root", root, "lock", held.Path,
					"other", held.Owner, "reason", msg, "retry_every", rootLockRetry)
				reported = msg
			}
			d.noteRootRefused(root, held.Error())
		}
		t := time.NewTimer(rootLockRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// noteRootRefused marks root down in the health report with why.
func (d *Daemon) noteRootRefused(root, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.rootHealth(root)
	w.Live, w.Reason = false, reason
	d.health.roots[root] = w
}
