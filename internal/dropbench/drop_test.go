package dropbench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/app"
	"github.com/vodwatchd/vodwatchd/internal/app/apptest"
	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/credentials"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// fileSize is the size of every dropped file.
const fileSize = 256 << 10

// pollEvery is how often the daemon's /metrics are read for the count of
// uploads: each read costs the daemon CPU that is charged to the files,
// and it bounds how late the end of the drop is seen.
const pollEvery = 200 * time.Millisecond

// built is the vodwatchd binary, built once per test process.
var built testutil.Binary

// binary is the vodwatchd binary under test: VODWATCHD_BENCH_BINARY (an
// earlier build, for a before/after comparison in one session), or this
// tree built once.
func binary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("VODWATCHD_BENCH_BINARY"); p != "" {
		return p
	}
	return built.Path(tb)
}

// TestMain removes the built binary.
func TestMain(m *testing.M) {
	code := m.Run()
	built.Remove()
	os.Exit(code)
}

// benchFiles is how many files BenchmarkDropCPU drops
// (VODWATCHD_BENCH_FILES, default 2,000).
func benchFiles() int {
	if v, err := strconv.Atoi(os.Getenv("VODWATCHD_BENCH_FILES")); err == nil && v > 0 {
		return v
	}
	return 2000
}

// BenchmarkDropCPU drops N files of 256 KiB at once into the drop folder of
// the vodwatchd binary, the emulator in a process of its own, and prints
// the daemon's CPU per file, wall time and peak RSS beside the same files
// uploaded one after another by the uploader in this process (CPU per file
// of this process, wall time), with no added latency and with 30 ms.
func BenchmarkDropCPU(b *testing.B) {
	fmt.Printf("| latency | files | one after another: wall, CPU/file | vodwatchd: wall, CPU/file, peak RSS | emulator CPU/file | speed-up | CPU ratio | daemon switches/file |\n|---|---|---|---|---|---|---|---|\n")
	for _, lat := range []time.Duration{0, 30 * time.Millisecond} {
		b.Run("latency="+lat.String(), func(b *testing.B) {
			for range b.N {
				r := runDrop(b, lat, benchFiles(), true)
				r.report(b)
			}
		})
	}
}

// TestDropShort is the benchmark's short version: 200 files through the
// binary against the emulator process, each committed exactly once.
// Nothing timed is asserted.
func TestDropShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; -short skips it")
	}
	r := runDrop(t, 0, 200, false)
	if r.done != 200 {
		t.Fatalf("%d uploads, want 200", r.done)
	}
	if r.daemonCPU <= 0 || r.peakRSS <= 0 || r.switches <= 0 {
		t.Fatalf("daemon CPU %v, peak RSS %d, %d context switches: /proc figures not read", r.daemonCPU, r.peakRSS, r.switches)
	}
}

// dropResult is one run's figures.
type dropResult struct {
	lat         time.Duration
	n, done     int
	baseWall    time.Duration
	baseCPU     time.Duration // this process, one after another
	wall        time.Duration // drop until every upload is committed
	daemonCPU   time.Duration // the daemon process over wall
	emulatorCPU time.Duration // the emulator process over wall
	peakRSS     int64         // the daemon's VmHWM, bytes
	switches    int64         // the daemon's context switches over wall
}

func (r dropResult) report(b *testing.B) {
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(r.n) }
	b.ReportMetric(r.wall.Seconds(), "daemon-s")
	b.ReportMetric(per(r.daemonCPU), "daemon-cpu-ms/file")
	b.ReportMetric(float64(r.peakRSS)/(1<<20), "daemon-peak-MiB")
	b.ReportMetric(r.baseWall.Seconds(), "baseline-s")
	b.ReportMetric(per(r.baseCPU), "baseline-cpu-ms/file")
	b.ReportMetric(r.baseWall.Seconds()/r.wall.Seconds(), "speedup")
	b.ReportMetric(float64(r.switches)/float64(r.n), "daemon-switches/file")
	fmt.Printf("| %v | %d x 256 KiB | %.1f s, %.2f ms | %.1f s, %.2f ms, %.1f MiB | %.2f ms | **%.2fx** | %.2fx | %.1f |\n",
		r.lat, r.n, r.baseWall.Seconds(), per(r.baseCPU), r.wall.Seconds(), per(r.daemonCPU),
		float64(r.peakRSS)/(1<<20), per(r.emulatorCPU), r.baseWall.Seconds()/r.wall.Seconds(),
		r.daemonCPU.Seconds()/r.baseCPU.Seconds(), float64(r.switches)/float64(r.n))
}

// runDrop runs one drop of n files with the emulator adding lat to every
// request; with baseline, the same files are first uploaded one after
// another.
func runDrop(tb testing.TB, lat time.Duration, n int, baseline bool) (r dropResult) {
	tb.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		tb.Skip("needs /proc for the daemon's CPU time and peak RSS")
	}
	bin := binary(tb)
	dir := tb.TempDir()
	emu := startEmulator(tb, bin, dir, lat)

	stage := filepath.Join(dir, "stage", "batch")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		tb.Fatal(err)
	}
	paths := make([]string, n)
	for i := range n {
		paths[i] = filepath.Join(stage, fmt.Sprintf("f%05d.mp4", i))
		if err := os.WriteFile(paths[i], testutil.Content(paths[i], fileSize), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	r = dropResult{lat: lat, n: n}
	if baseline && os.Getenv("VODWATCHD_BENCH_PROFILE") == "" && os.Getenv("VODWATCHD_BENCH_BASELINE") != "off" {
		r.baseWall, r.baseCPU = oneAfterAnother(tb, emu, paths)
	}

	drop := filepath.Join(dir, "drop")
	listen := freeAddr(tb)
	cfgPath := filepath.Join(dir, "config.yaml")
	apptest.Template{
		Endpoint: emu.addr, SecretID: emu.secretID, SecretKey: emu.secretKey,
		State: apptest.StatePath(dir), Drop: drop, Workers: 16, Settle: "1s",
		Log:   "{ level: warn, format: text }",
		Extra: "listen: " + listen,
		// The emulator's API rate limit is off, as for the baseline.
		Upload: "  api_rate: 1000",
	}.Write(tb, cfgPath)
	profile := os.Getenv("VODWATCHD_BENCH_PROFILE")
	daemonCPU := func() time.Duration { return selfCPU(tb) }
	switches := func() int64 { return procSwitches(tb, os.Getpid()) }
	if profile == "" {
		d := startProcess(tb, bin, filepath.Join(dir, "daemon.log"), "run", "--config", cfgPath)
		defer stopProcess(tb, d)
		daemonCPU = func() time.Duration { return procCPU(tb, d.Process.Pid) }
		switches = func() int64 { return procSwitches(tb, d.Process.Pid) }
		defer func() { r.peakRSS = peakRSS(tb, d.Process.Pid) }()
	} else {
		defer startInProcess(tb, cfgPath, profile)()
	}
	metrics := "http://" + listen + "/metrics"
	waitFor(tb, 30*time.Second, func() bool { _, err := uploadsDone(metrics); return err == nil })
	time.Sleep(300 * time.Millisecond) // up and idle

	cpu0, emu0, sw0 := daemonCPU(), procCPU(tb, emu.cmd.Process.Pid), switches()
	t0 := time.Now()
	if err := os.Rename(stage, filepath.Join(drop, "batch")); err != nil {
		tb.Fatal(err)
	}
	deadline := t0.Add(30 * time.Minute)
	for {
		done, err := uploadsDone(metrics)
		if err != nil {
			tb.Fatal(err)
		}
		if done >= n {
			r.done = done
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d committed after 30m", done, n)
		}
		time.Sleep(pollEvery)
	}
	r.wall = time.Since(t0)
	r.daemonCPU = daemonCPU() - cpu0
	r.switches = switches() - sw0
	r.emulatorCPU = procCPU(tb, emu.cmd.Process.Pid) - emu0
	return r
}

// startInProcess runs the daemon in this process, wired as `run` wires it,
// and profiles its CPU into dir/cpu.pprof until the returned stop, which
// also writes the allocations to dir/allocs.pprof. The figures then
// include this process's polling; the binary gives the real ones.
func startInProcess(tb testing.TB, cfgPath, dir string) (stop func()) {
	tb.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		tb.Fatal(err)
	}
	logs := &testutil.Buffer{}
	run := apptest.Start(tb, app.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}, logs)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	cpu, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		tb.Fatal(err)
	}
	runtime.GC()
	if err := pprof.StartCPUProfile(cpu); err != nil {
		tb.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		run.Stop()
		allocs, err := os.Create(filepath.Join(dir, "allocs.pprof"))
		if err != nil {
			tb.Fatal(err)
		}
		defer allocs.Close()
		if err := pprof.Lookup("allocs").WriteTo(allocs, 0); err != nil {
			tb.Fatal(err)
		}
	}
}

// oneAfterAnother uploads paths one after another (ApplyUpload, PutObject,
// CommitUpload each): its wall time and this process's CPU time.
func oneAfterAnother(tb testing.TB, emu *emulatorProc, paths []string) (wall, cpu time.Duration) {
	tb.Helper()
	up, err := uploader.New(uploader.Config{Region: "ap-guangzhou", Endpoint: emu.addr, Scheme: "http",
		COSEndpoint: emu.addr, COSScheme: "http", PartsInFlight: 1,
		Credentials: credentials.Static(emu.secretID, emu.secretKey, "")})
	if err != nil {
		tb.Fatal(err)
	}
	c0, t0 := selfCPU(tb), time.Now()
	for _, p := range paths {
		if _, err := up.Upload(context.Background(), uploader.Request{MediaFilePath: p, MediaName: "base " + filepath.Base(p)}, nil, nil); err != nil {
			tb.Fatal(err)
		}
	}
	return time.Since(t0), selfCPU(tb) - c0
}

// emulatorProc is `vodwatchd emulator` running in its own process.
type emulatorProc struct {
	cmd                       *exec.Cmd
	addr, secretID, secretKey string
}

func startEmulator(tb testing.TB, bin, dir string, lat time.Duration) *emulatorProc {
	tb.Helper()
	e := &emulatorProc{secretID: "AKIDdropbench0000000000000000000000", secretKey: "dropbench-secret-key-0123456789abcdef"}
	stdout := filepath.Join(dir, "emulator.out")
	e.cmd = startProcess(tb, bin, stdout, "emulator", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "emulator"),
		"--rate-limit", "-1", "--latency", lat.String(), "--secret-id", e.secretID, "--secret-key", e.secretKey)
	tb.Cleanup(func() { stopProcess(tb, e.cmd) })
	waitFor(tb, 30*time.Second, func() bool {
		b, _ := os.ReadFile(stdout)
		_, rest, ok := bytes.Cut(b, []byte("serving on http://"))
		if !ok {
			return false
		}
		addr, _, ok := bytes.Cut(rest, []byte("\n"))
		e.addr = string(addr)
		return ok
	})
	return e
}

// startProcess starts bin with args, its output in logPath.
func startProcess(tb testing.TB, bin, logPath string, args ...string) *exec.Cmd {
	tb.Helper()
	out, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { out.Close() })
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stopProcess(tb, cmd) })
	return cmd
}

// stopProcess ends cmd with SIGTERM (SIGKILL after 20 s); idempotent.
func stopProcess(tb testing.TB, cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		tb.Errorf("%s did not stop within 20s", cmd.Args[1])
	}
}

func waitFor(tb testing.TB, limit time.Duration, ok func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(limit); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("not ready within %v", limit)
		}
	}
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// uploadsDone reads vodwatchd_uploads_total from the daemon's /metrics.
func uploadsDone(url string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept-Encoding", "identity") // the daemon spends no CPU compressing
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "vodwatchd_uploads_total "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("%s: no vodwatchd_uploads_total", url)
}

// procCPU is the user+system CPU time of process pid (/proc/pid/stat).
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: state is
	// field 3, utime 14, stime 15 (clock ticks of 1/100 s on Linux).
	_, rest, _ := bytes.Cut(b, []byte(") "))
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		tb.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// peakRSS is the process's VmHWM in bytes.
func peakRSS(tb testing.TB, pid int) int64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				tb.Fatalf("/proc/%d/status: VmHWM %q", pid, v)
			}
			return kb << 10
		}
	}
	tb.Fatalf("/proc/%d/status: no VmHWM", pid)
	return 0
}

// selfCPU is this process's user+system CPU time.
// procSwitches is the context switches, voluntary and not, of the
// threads of process pid (a thread that ended takes its count along; the
// Go runtime keeps its threads).
func procSwitches(tb testing.TB, pid int) int64 {
	tb.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue // ended meanwhile
		}
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				c, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil {
					tb.Fatalf("/proc/%d/task/%s/status: %s %q", pid, t.Name(), k, v)
				}
				n += c
			}
		}
	}
	return n
}

func selfCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
