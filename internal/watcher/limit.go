package watcher

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// MaxUserWatchesFile is where Linux publishes fs.inotify.max_user_watches.
const MaxUserWatchesFile = "/proc/sys/fs/inotify/max_user_watches"

// LimitError says the inotify watch budget is too small for a root, and
// what to raise. Errors from inotify_add_watch (ENOSPC, EMFILE) are reported
// as a *LimitError too.
type LimitError struct {
	Root   string
	Needed int    // watches needed (folders + already in use); 0 if unknown
	Dirs   int    // folders under the root (root included); 0 if unknown
	InUse  int    // watches this user already holds; -1 if unknown
	Limit  int    // current fs.inotify.max_user_watches; 0 if unknown
	Sysctl string // the sysctl to raise
	Cause  error  // the system call error, if any
}

func (e *LimitError) Error() string {
	if e.Sysctl == "fs.inotify.max_user_instances" {
		return fmt.Sprintf("watch root %s: too many inotify instances for this user (%v); raise it with `sysctl %s=N` (for example 1024), or use mode: poll for this watch",
			e.Root, e.Cause, e.Sysctl)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "watch root %s: ", e.Root)
	if e.Needed > 0 {
		fmt.Fprintf(&b, "needs %d inotify watches (%d folders", e.Needed, e.Dirs)
		if e.InUse >= 0 {
			fmt.Fprintf(&b, " + %d already in use by this user", e.InUse)
		}
		b.WriteString(")")
	} else {
		b.WriteString("ran out of inotify watches")
	}
	if e.Limit > 0 {
		fmt.Fprintf(&b, " but fs.inotify.max_user_watches is %d", e.Limit)
	}
	if e.Cause != nil {
		fmt.Fprintf(&b, " (inotify_add_watch: %v)", e.Cause)
	}
	fmt.Fprintf(&b, "; raise it with `sysctl fs.inotify.max_user_watches=%d` (persist it in /etc/sysctl.d/), or use mode: poll for this watch",
		suggestLimit(e.Needed, e.Limit))
	return b.String()
}

func (e *LimitError) Unwrap() error { return e.Cause }

// suggestLimit leaves room for growth: twice what is needed, rounded up to
// a multiple of 1024, never below double the current limit when unknown.
func suggestLimit(needed, limit int) int {
	n := needed * 2
	if needed <= 0 {
		n = limit * 2
	}
	if n < 65536 {
		n = 65536
	}
	return (n + 1023) / 1024 * 1024
}

// WatchBudget compares what a root needs with the inotify limit.
type WatchBudget struct {
	Root  string
	Dirs  int // folders that need a watch (root included)
	Limit int // fs.inotify.max_user_watches
	InUse int // watches already held by this user's processes; -1 if unknown
}

// Needed is the number of watches this root needs on top of what is used.
func (b WatchBudget) Needed() int { return b.Dirs + max(b.InUse, 0) }

// Err is a *LimitError when the budget is too small, else nil.
func (b WatchBudget) Err() error {
	if b.Limit <= 0 || b.Needed() <= b.Limit {
		return nil
	}
	return &LimitError{Root: b.Root, Needed: b.Needed(), Dirs: b.Dirs, InUse: b.InUse,
		Limit: b.Limit, Sysctl: "fs.inotify.max_user_watches"}
}

// BudgetRoot is a watch root to count, with the watcher's ignore function.
type BudgetRoot struct {
	Path   string
	Ignore IgnoreFunc
}

// CheckBudget is the one inotify budget computation: a watcher checks it
// for its root before watching, and `vodwatchd check` for all notify roots
// at once, so both agree. It counts the folders under roots (as the
// watcher would watch them: not following symlinks, skipping ignored and
// unreadable folders) and adds the watches this user already holds
// (inUse; nil counts them with WatchesInUse). limit > 0 overrides the
// system limit (tests, or a caller that read it elsewhere). Check the
// result with Err.
func CheckBudget(ctx context.Context, roots []BudgetRoot, limit int, inUse func(context.Context) (int, error)) (WatchBudget, error) {
	b := WatchBudget{Limit: limit, InUse: -1}
	paths := make([]string, 0, len(roots))
	for _, r := range roots {
		dirs, err := CountDirs(ctx, r.Path, r.Ignore)
		if err != nil {
			return WatchBudget{}, err
		}
		b.Dirs += dirs
		paths = append(paths, r.Path)
	}
	b.Root = strings.Join(paths, ", ")
	if b.Limit <= 0 {
		var err error
		if b.Limit, err = ReadWatchLimit(); err != nil {
			return b, err
		}
	}
	if inUse == nil {
		inUse = WatchesInUse
	}
	if n, err := inUse(ctx); err == nil {
		b.InUse = n
	}
	return b, nil
}

// ReadWatchLimit reads fs.inotify.max_user_watches.
func ReadWatchLimit() (int, error) {
	data, err := os.ReadFile(MaxUserWatchesFile)
	if err != nil {
		return 0, fmt.Errorf("read inotify limit: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("read inotify limit %s: %w", MaxUserWatchesFile, err)
	}
	return n, nil
}

// CountDirs counts the folders under root, root included, that a watcher
// would watch. It does not follow symlinks and skips unreadable folders.
func CountDirs(ctx context.Context, root string, ignore IgnoreFunc) (int, error) {
	if ignore == nil {
		ignore = noIgnore
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return 0, fmt.Errorf("count folders: %w", err)
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("count folders: watch root %s is not a folder", root)
	}
	count := 0
	stack := []string{""}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return count, err
		}
		rel := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		ents, err := os.ReadDir(joinRel(root, rel))
		if err != nil {
			if rel == "" {
				return 0, fmt.Errorf("count folders: %w", err)
			}
			continue
		}
		count++
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			crel := childRel(rel, e.Name())
			if !ignore(crel, true) {
				stack = append(stack, crel)
			}
		}
	}
	return count, nil
}

// WatchesInUse counts the inotify watches held by processes of the current
// user (the limit is per user), from /proc/*/fdinfo. Processes that cannot
// be read are skipped.
func WatchesInUse(ctx context.Context) (int, error) {
	pids, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("count inotify watches: %w", err)
	}
	uid := uint32(os.Getuid())
	total := 0
	for _, p := range pids {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		info, err := p.Info()
		if err != nil {
			continue
		}
		if st, ok := info.Sys().(*syscall.Stat_t); !ok || st.Uid != uid {
			continue
		}
		total += procWatches(filepath.Join("/proc", p.Name()))
	}
	return total, nil
}

func procWatches(proc string) int {
	fds, err := os.ReadDir(filepath.Join(proc, "fd"))
	if err != nil {
		return 0
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(proc, "fd", fd.Name()))
		if err != nil || target != "anon_inode:inotify" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(proc, "fdinfo", fd.Name()))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "inotify wd:") {
				n++
			}
		}
	}
	return n
}

// addWatchError turns inotify_add_watch's ENOSPC/EMFILE into a *LimitError.
func addWatchError(root, dir string, err error) error {
	switch {
	case errors.Is(err, unix.ENOSPC):
		lim, _ := ReadWatchLimit()
		return &LimitError{Root: root, InUse: -1, Limit: lim, Sysctl: "fs.inotify.max_user_watches", Cause: err}
	case errors.Is(err, unix.EMFILE):
		return &LimitError{Root: root, InUse: -1, Sysctl: "fs.inotify.max_user_instances", Cause: err}
	}
	return fmt.Errorf("watch folder %s: %w", dir, err)
}
