package throttle

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// smallFiles writes n files of size bytes.
func smallFiles(t testing.TB, n, size int) []string {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, size)
	files := make([]string, n)
	for i := range files {
		copy(data, fmt.Sprintf("file %d\n", i))
		files[i] = filepath.Join(dir, fmt.Sprintf("drop-%05d.mp4", i))
		if err := os.WriteFile(files[i], data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// dropTest uploads n small files, `concurrent` at once, through the real
// uploader whose transport is a Pacer (nil opts: no pacer), against an
// emulator allowing emuRate API requests/s per action.
func dropTest(t *testing.T, n, concurrent, emuRate int, opts *PacerOptions, emuOpts ...func(*emulator.Config)) (*Pacer, *emulator.Emulator, []error) {
	emu := startEmulator(t, append(emuOpts, func(c *emulator.Config) { c.APIRateLimit = emuRate })...)
	files := smallFiles(t, n, 4<<10)
	var p *Pacer
	var rt http.RoundTripper = uploader.DefaultTransport()
	if opts != nil {
		p = NewPacer(rt, *opts)
		rt = p
	}
	u := newUploader(t, emu, func(c *uploader.Config) { c.Transport = rt })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	errs := uploadAll(ctx, u, files, concurrent)
	var st map[string]ActionStats
	if p != nil {
		st = p.Stats()
	}
	t.Logf("%d files in %v; emulator answered RequestLimitExceeded %d times; pacer: %+v",
		n, time.Since(start).Round(time.Millisecond), emu.Stats().Errors["RequestLimitExceeded"], st)
	return p, emu, errs
}

// checkDrop asserts that every job succeeded, that the emulator never
// answered RequestLimitExceeded and that the pacer handed none back.
func checkDrop(t *testing.T, n int, p *Pacer, emu *emulator.Emulator, errs []error) {
	t.Helper()
	failed := 0
	for _, err := range errs {
		if err != nil {
			if failed++; failed <= 3 {
				t.Errorf("job failed: %v", err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d jobs failed", failed, n)
	}
	st := emu.Stats()
	if st.Commits != int64(n) {
		t.Errorf("%d commits, want %d", st.Commits, n)
	}
	if got := st.Errors["RequestLimitExceeded"]; got != 0 {
		t.Errorf("emulator answered RequestLimitExceeded %d times, want 0", got)
	}
	ps := p.Stats()
	for action, s := range ps {
		if s.Returned != 0 {
			t.Errorf("%s: %d RequestLimitExceeded answers reached the uploader", action, s.Returned)
		}
	}
	if ps["ApplyUpload"].Requests < int64(n) || ps["CommitUpload"].Requests < int64(n) {
		t.Errorf("pacer saw %+v, want >= %d ApplyUpload and CommitUpload", ps, n)
	}
}

// TestDropPacedBelowServiceLimit: a drop that asks for more API calls per
// second than the service allows gets none refused when paced at 90% of
// the limit. The emulator allows 10 requests/s per action here (the
// service allows 100) so that a shared 2-core machine under the race
// detector, which uploads ~15 small files/s, still outruns it: the same
// proportion as api_rate 90 against 100/s. TestDropUnpacedIsRefused shows
// that this drop, unpaced, is refused; TestDrop2000Files is the full-size
// run (VODWATCHD_LONG=1).
func TestDropPacedBelowServiceLimit(t *testing.T) {
	const n = 60
	p, emu, errs := dropTest(t, n, 16, 10, &PacerOptions{Rate: 9})
	checkDrop(t, n, p, emu, errs)
}

// TestDropUnpacedIsRefused is the control: without the pacer the same kind
// of drop meets RequestLimitExceeded (the uploader's own retries still
// carry the jobs through).
func TestDropUnpacedIsRefused(t *testing.T) {
	const n = 30
	_, emu, errs := dropTest(t, n, 16, 10, nil)
	for i, err := range errs {
		if err != nil {
			t.Errorf("job %d: %v", i, err)
		}
	}
	if got := emu.Stats().Errors["RequestLimitExceeded"]; got == 0 {
		t.Error("unpaced, the drop met no RequestLimitExceeded: the paced test would prove nothing")
	}
}

// TestDrop2000Files is the full drop: 2,000 small files, 16 at
// once, against 100 requests/s per action, paced at the default api_rate
// (50/s), with the emulator's data on tmpfs when there is one. It takes a
// minute or more (the emulator rewrites its whole metadata file on every
// ApplyUpload and CommitUpload), so it runs only with VODWATCHD_LONG=1.
func TestDrop2000Files(t *testing.T) {
	if os.Getenv("VODWATCHD_LONG") == "" {
		t.Skip("long: set VODWATCHD_LONG=1 (TestDropPacedBelowServiceLimit covers the property at a small scale)")
	}
	const n = 2000
	var opts []func(*emulator.Config)
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "vodwatchd-throttle-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		opts = append(opts, func(c *emulator.Config) { c.DataDir = dir })
	}
	p, emu, errs := dropTest(t, n, 16, 100, &PacerOptions{}, opts...)
	checkDrop(t, n, p, emu, errs)
}

// TestPacerAdaptsToLowerLimit: the service allows fewer requests than the
// pacer starts with (5/s against 12/s, scaled down like the test above): the
// pacer meets RequestLimitExceeded, backs off, and every job succeeds.
func TestPacerAdaptsToLowerLimit(t *testing.T) {
	const n = 30
	p, emu, errs := dropTest(t, n, 16, 5, &PacerOptions{Rate: 12})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("job %d failed: %v", i, err)
		}
	}
	if got := emu.Stats().Commits; got != n {
		t.Errorf("%d commits, want %d", got, n)
	}
	apply := p.Stats()["ApplyUpload"]
	if apply.Throttled == 0 {
		t.Errorf("the pacer never met RequestLimitExceeded at 12/s against 5/s: %+v", apply)
	}
	if apply.Rate >= 12 {
		t.Errorf("ApplyUpload pace %.1f/s after throttling, want backed off below 12", apply.Rate)
	}
}
