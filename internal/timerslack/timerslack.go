// Package timerslack widens the kernel's timer slack of the process's
// threads: how late a sleeping thread's timer may fire so that the kernel
// can wake it together with others.
//
// The Go runtime's monitor thread (sysmon) sleeps 20 µs at a time while
// the process is busy, and is woken again each time the process comes out
// of idleness; a daemon handling many small uploads is busy in thousands
// of short spells a second. With the default slack (50 µs) each of those
// sleeps is a context switch pair, about half of the daemon's switches and
// a sixth of its CPU per small file on a virtual machine. With a slack of
// a few milliseconds the kernel lets those wake-ups merge; nothing in the
// daemon needs its timers closer than that.
//
// A thread sets its own slack (prctl); another thread's needs CAP_SYS_NICE
// (/proc/TID/timerslack_ns). The slack is inherited by threads a
// thread starts and across exec, which is how a service manager sets it
// for every thread from the start (systemd's TimerSlackNSec=).
package timerslack

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Result is what Widen did.
type Result struct {
	Already bool // the process had at least that slack (set by its parent)
	Set     int  // threads whose slack was widened
	Denied  int  // threads left as they were: no CAP_SYS_NICE
}

// Widen gives every thread of the process at least slack (without
// CAP_SYS_NICE, only the calling one: Result.Denied counts the others).
// Threads started afterwards inherit the slack of the thread starting them.
func Widen(slack time.Duration) (Result, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cur, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return Result{}, fmt.Errorf("timer slack: %w", err)
	}
	if time.Duration(cur) >= slack {
		return Result{Already: true}, nil
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack.Nanoseconds()), 0, 0, 0); err != nil {
		return Result{}, fmt.Errorf("timer slack: %w", err)
	}
	r := Result{Set: 1}
	seen := map[string]bool{strconv.Itoa(unix.Gettid()): true}
	value := []byte(strconv.FormatInt(slack.Nanoseconds(), 10))
	// A thread started by one not yet widened, after the listing, has the
	// old slack: list again until a pass finds no thread it has not seen.
	for pass := 0; pass < maxPasses; pass++ {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return r, fmt.Errorf("timer slack of the other threads: %w", err)
		}
		found := false
		for _, t := range tasks {
			if seen[t.Name()] {
				continue
			}
			seen[t.Name()], found = true, true
			switch err := writeTo("/proc/"+t.Name()+"/timerslack_ns", value); {
			case err == nil:
				r.Set++
			case errors.Is(err, os.ErrPermission):
				r.Denied++ // no CAP_SYS_NICE
			case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ESRCH):
				// ended meanwhile
			default:
				return r, fmt.Errorf("timer slack of thread %s: %w", t.Name(), err)
			}
		}
		if !found {
			break
		}
	}
	return r, nil
}

// maxPasses bounds Widen's listings of the threads: the runtime starts
// threads only while it is short of them, so a second pass rarely finds
// one and a third almost never.
const maxPasses = 5

// writeTo writes b to the existing file path.
func writeTo(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
