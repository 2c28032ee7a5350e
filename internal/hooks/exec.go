package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// outputTailBytes is how much of a command's output is kept.
const outputTailBytes = 2048

// passedEnv are the variables of the daemon's environment a command
// inherits; nothing else (credentials live in the environment).
var passedEnv = []string{"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// Env is the environment a command gets: the facts as VODWATCHD_*.
func Env(d Delivery) []string {
	f := d.Facts
	env := []string{
		"VODWATCHD_EVENT=" + f.Event,
		"VODWATCHD_JOB_ID=" + f.JobID,
		"VODWATCHD_PATH=" + f.Path,
		"VODWATCHD_RULE=" + f.Rule,
		"VODWATCHD_FILE_ID=" + f.FileID,
		"VODWATCHD_MEDIA_URL=" + f.MediaURL,
		"VODWATCHD_ERROR=" + f.Error,
		"VODWATCHD_AT=" + f.At.UTC().Format(time.RFC3339Nano),
		"VODWATCHD_IDEMPOTENCY_KEY=" + d.Key,
	}
	if f.Outputs != nil {
		b, _ := json.Marshal(f.Outputs)
		env = append(env, "VODWATCHD_OUTPUTS="+string(b))
	}
	for _, k := range passedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// run runs one exec attempt: the facts in the environment and as the JSON
// document on stdin; exit status 0 is success. At the timeout the whole
// process group is killed.
func run(ctx context.Context, h Hook, d Delivery, now time.Time) Attempt {
	a := Attempt{At: now}
	if len(h.Command) == 0 {
		a.Error = fmt.Sprintf("exec %s: no command", h.Name)
		return a
	}
	b, err := body(d)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, h.Command[0], h.Command[1:]...)
	cmd.Env = Env(d)
	cmd.Stdin = strings.NewReader(string(b))
	tail := &tailBuffer{max: outputTailBytes}
	cmd.Stdout, cmd.Stderr = tail, tail
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err = cmd.Run()
	a.Duration = time.Since(start)
	a.OutputTail = strings.ToValidUTF8(tail.String(), "?")
	if cmd.ProcessState != nil {
		code := cmd.ProcessState.ExitCode()
		a.ExitStatus = &code
	}
	var ee *exec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		a.Error = fmt.Sprintf("exec %s: timed out after %s (process group killed)", h.Name, h.timeout())
	case errors.As(err, &ee):
		a.Error = fmt.Sprintf("exec %s: %v", h.Name, ee)
	case err != nil:
		a.Error = fmt.Sprintf("exec %s: %v", h.Name, err)
	}
	return a
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
