package faultsuite

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/health"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

// certRecorder is the uploader's transport in the secrets test: it keeps
// the secret parts of every temporary certificate ApplyUpload hands out.
type certRecorder struct {
	next    http.RoundTripper
	mu      sync.Mutex
	secrets []string
}

func (c *certRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil || req.Header.Get("X-TC-Action") != "ApplyUpload" {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return resp, nil
	}
	var body struct {
		Response struct {
			TempCertificate *struct{ SecretKey, Token string }
		}
	}
	if json.Unmarshal(b, &body) == nil && body.Response.TempCertificate != nil {
		c.mu.Lock()
		c.secrets = append(c.secrets, body.Response.TempCertificate.SecretKey, body.Response.TempCertificate.Token)
		c.mu.Unlock()
	}
	return resp, nil
}

func (c *certRecorder) values() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.secrets...)
}

// TestNoSecretsExposed uploads with known secrets (the account's key and
// every temporary certificate) through successes, retried faults and a
// failure, then looks for them in the debug log, the job errors, the
// bbolt file's bytes, /metrics, and `vodwatchd status` (text and JSON).
// It also checks the state's permissions.
func TestNoSecretsExposed(t *testing.T) {
	rec := &certRecorder{}
	// A signed webhook on every job: its secret must stay out of sight too.
	const hookSecret = "faultsuite-webhook-secret-0123456789"
	t.Setenv("FAULTSUITE_HOOK_SECRET", hookSecret)
	var signed atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("X-Vodwatchd-Signature") != "" {
			signed.Add(1)
		}
	}))
	defer hook.Close()
	r := newRig(t, rigOpts{
		rules: `    rules:
      - name: mp4
        match: "**/*.mp4"
        hooks: [{name: cms, on: [done, failed], url: "` + hook.URL + `", secret: "env:FAULTSUITE_HOOK_SECRET"}]
`,
		emu: func(c *emulator.Config) {
			c.Faults = emulator.FaultConfig{Seed: 3, ErrorRate: map[string]float64{"UploadPart": 0.3},
				Throttle: map[string]int{"ApplyUpload": 2}}
		},
		wrapRT: func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec },
	})
	r.write("one.mp4", testutil.Content("one", 5000))
	r.write("multi.mp4", testutil.Content("multi", 3<<20+77))
	r.start()
	done := func(rel string) bool {
		j, ok := r.jobAt(rel)
		return ok && j.Stage == state.StageDone
	}
	r.eventually(30*time.Second, "the uploads", func() bool { return done("one.mp4") && done("multi.mp4") })
	r.emulator().SetFaults(emulator.FaultConfig{ErrorRate: map[string]float64{"PutObject": 1}})
	r.write("fails.mp4", testutil.Content("fails", 4000))
	r.eventually(30*time.Second, "fails.mp4 failed", func() bool {
		j, ok := r.jobAt("fails.mp4")
		return ok && j.LastError != nil
	})
	r.eventually(30*time.Second, "signed webhooks", func() bool { return signed.Load() >= 2 })
	jobs := r.jobs()
	metricsOut := scrape(t, r)
	r.stop()

	secrets := append(rec.values(), testSecretKey, hookSecret)
	if len(secrets) < 7 {
		t.Fatalf("recorded %d secrets; want the certificates of at least 3 sessions", len(secrets)-1)
	}
	var errs strings.Builder
	for _, j := range jobs {
		if j.LastError != nil {
			errs.WriteString(j.LastError.Message + "\n")
		}
	}
	stateBytes, err := os.ReadFile(r.statePath())
	if err != nil {
		t.Fatal(err)
	}
	bin := buildVodwatchd(t)
	outputs := map[string]string{
		"debug log":     r.logs.String(),
		"job errors":    errs.String(),
		"state file":    string(stateBytes),
		"/metrics":      metricsOut,
		"status":        runStatus(t, bin, r.statePath()),
		"status --json": runStatus(t, bin, r.statePath(), "--json"),
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("%s holds a secret (%.4s...)", name, s)
			}
		}
	}
	// The checks must be able to fail: each output holds what we expect.
	for name, want := range map[string]string{"debug log": "level=DEBUG", "job errors": "internal error",
		"/metrics": "vodwatchd_", "status": "fails.mp4", "status --json": `"file_id"`} {
		if !strings.Contains(outputs[name], want) {
			t.Errorf("%s lacks %q: the check proves nothing\n%.500s", name, want, outputs[name])
		}
	}
	checkStatePerms(t, r.statePath())
}

func scrape(t *testing.T, r *rig) string {
	t.Helper()
	rw := httptest.NewRecorder()
	r.metrics.Handler().ServeHTTP(rw, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rw.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rw.Code)
	}
	return rw.Body.String()
}

// buildVodwatchd builds cmd/vodwatchd into a temporary folder.
func buildVodwatchd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vodwatchd")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/vodwatchd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/vodwatchd: %v\n%s", err, out)
	}
	return bin
}

func runStatus(t *testing.T, bin, statePath string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// --exit-zero: the run leaves a failed job on purpose (fails.mp4).
	cmd := exec.CommandContext(ctx, bin, append([]string{"status", "--exit-zero", "--state", statePath}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("vodwatchd status %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// checkStatePerms: state folder 0700, state file 0600, secrets folder 0700
// with 0600 files.
func checkStatePerms(t *testing.T, statePath string) {
	t.Helper()
	want := map[string]fs.FileMode{filepath.Dir(statePath): 0o700, statePath: 0o600}
	secrets := statePath + ".secrets"
	if fi, err := os.Stat(secrets); err == nil && fi.IsDir() {
		want[secrets] = 0o700
		entries, _ := os.ReadDir(secrets)
		for _, e := range entries {
			want[filepath.Join(secrets, e.Name())] = 0o600
		}
	}
	for p, mode := range want {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if got := fi.Mode().Perm(); got != mode {
			t.Errorf("%s: mode %v, want %v", p, got, mode)
		}
	}
}

// TestLoopbackOnly: the emulator and the health listener refuse addresses
// that are not loopback unless explicitly allowed.
func TestLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.10:0"} {
		t.Run(addr, func(t *testing.T) {
			e, err := emulator.Start(context.Background(), emulator.Config{DataDir: t.TempDir(), Listen: addr})
			if err == nil {
				e.Close()
				t.Errorf("emulator bound %s", addr)
			} else if !strings.Contains(err.Error(), "loopback") {
				t.Errorf("emulator refusal does not say why: %v", err)
			}
			if err := health.CheckListenAddr(addr, false); err == nil {
				t.Errorf("health listener accepts %s", addr)
			}
			if s, err := health.Listen(health.ServerOptions{Addr: addr, Checker: health.NewChecker(nil, health.Options{})}); err == nil {
				s.Close()
				t.Errorf("health listener bound %s", addr)
			}
		})
	}
	e, err := emulator.Start(context.Background(), emulator.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("default emulator: %v", err)
	}
	defer e.Close()
	if !strings.HasPrefix(e.Addr(), "127.0.0.1:") {
		t.Errorf("default emulator address %s is not loopback", e.Addr())
	}
}
