package timerslack

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadSlacks reads the timer slack of every thread of this process.
func threadSlacks(t *testing.T) map[string]time.Duration {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Duration{}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/" + task.Name() + "/timerslack_ns")
		if err != nil {
			continue // ended meanwhile
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatalf("thread %s: timerslack_ns %q: %v", task.Name(), b, err)
		}
		out[task.Name()] = time.Duration(ns)
	}
	return out
}

// startThreads makes the runtime start n more threads and keeps them until
// the returned release.
func startThreads(n int) (release func()) {
	var started, done sync.WaitGroup
	stop := make(chan struct{})
	for range n {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread() // the others cannot run on this thread
			defer runtime.UnlockOSThread()
			started.Done()
			<-stop
		}()
	}
	started.Wait()
	return func() { close(stop); done.Wait() }
}

func TestWiden(t *testing.T) {
	if os.Getenv("TIMERSLACK_CHILD") != "" {
		t.Skip("run by TestWidenUnprivileged")
	}
	release := startThreads(4) // threads that exist before Widen
	defer release()
	cur, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	slack := time.Duration(cur) + 3*time.Millisecond // above what an earlier run left
	r, err := Widen(slack)
	if err != nil {
		t.Fatal(err)
	}
	if r.Denied > 0 && unix.Geteuid() != 0 {
		// No CAP_SYS_NICE: this thread is set, the others are left.
		own, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		if err != nil || r.Already || r.Set != 1 || r.Denied < 4 || time.Duration(own) != slack {
			t.Fatalf("unprivileged Widen = %+v, own slack %d (%v); want this thread set and the 4 started left", r, own, err)
		}
		return
	}
	if r.Already || r.Denied > 0 || r.Set < 5 {
		t.Fatalf("Widen = %+v, want every thread set (at least the 4 started and this one)", r)
	}
	release2 := startThreads(4) // threads started afterwards inherit it
	defer release2()
	for tid, got := range threadSlacks(t) {
		if got < slack {
			t.Errorf("thread %s: slack %v, want at least %v", tid, got, slack)
		}
	}
	again, err := Widen(slack)
	if err != nil || !again.Already {
		t.Fatalf("second Widen = %+v, %v; want Already", again, err)
	}
}

// TestWidenUnprivileged runs Widen in a child without CAP_SYS_NICE (as
// nobody): its own thread is widened, the others are counted as left, and
// nothing fails.
func TestWidenUnprivileged(t *testing.T) {
	if os.Getenv("TIMERSLACK_CHILD") != "" {
		release := startThreads(2)
		defer release()
		r, err := Widen(time.Second) // above what it inherited from TestWiden
		cur, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		json.NewEncoder(os.Stdout).Encode(map[string]any{"result": r, "err": errString(err), "own": cur})
		return
	}
	if unix.Geteuid() != 0 {
		t.Skip("needs root to start a child as nobody; TestWiden ran unprivileged itself")
	}
	// nobody cannot reach the go tool's build folder: a copy it can run.
	dir := t.TempDir()
	bin := filepath.Join(dir, "timerslack.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-test.run", "^TestWidenUnprivileged$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TIMERSLACK_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	line := out[:strings.IndexByte(string(out), '\n')+1]
	var got struct {
		Result Result
		Err    string
		Own    int
	}
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	if got.Err != "" || got.Result.Set != 1 || got.Result.Denied < 2 || got.Own != int(time.Second) {
		t.Fatalf("unprivileged Widen = %+v, err %q, own slack %d; want its own thread set, the others left, no error", got.Result, got.Err, got.Own)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
