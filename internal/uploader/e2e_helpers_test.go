package uploader

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/credentials"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/testutil"
)

const mib = 1 << 20

// testEnv is an emulator and an uploader pointed at it. Every secret it
// meets is checked to be absent from the debug log when the test ends.
type testEnv struct {
	t       *testing.T
	emu     *emulator.Emulator
	cfg     Config
	u       *Uploader
	logs    *testutil.Buffer
	secrets *secretLog
}

// secretLog records every temporary certificate issued: it is the
// uploader's transport and reads ApplyUpload's answers.
type secretLog struct {
	next  http.RoundTripper
	mu    sync.Mutex
	certs map[string]*Cert
}

func (s *secretLog) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err != nil || req.Header.Get("X-TC-Action") != "ApplyUpload" {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil // the uploader meets the same short body
	}
	var v struct {
		Response struct {
			VodSessionKey   string
			TempCertificate *struct{ SecretKey, Token string }
		}
	}
	if json.Unmarshal(body, &v) == nil && v.Response.TempCertificate != nil {
		s.mu.Lock()
		s.certs[v.Response.VodSessionKey] = &Cert{SecretKey: v.Response.TempCertificate.SecretKey, Token: v.Response.TempCertificate.Token}
		s.mu.Unlock()
	}
	return resp, nil
}

func (s *secretLog) values() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.certs {
		out = append(out, c.SecretKey, c.Token)
	}
	return out
}

func newEnv(t *testing.T, emuOpts []func(*emulator.Config), cfgOpts ...func(*Config)) *testEnv {
	t.Helper()
	emu := emulatortest.Start(t, emuOpts...)
	logs := &testutil.Buffer{}
	env := &testEnv{t: t, emu: emu, logs: logs, secrets: &secretLog{next: DefaultTransport(), certs: map[string]*Cert{}}}
	env.cfg = Config{
		Region:      "ap-guangzhou",
		Endpoint:    emu.Addr(),
		Scheme:      emu.Scheme(),
		COSEndpoint: emu.Addr(),
		Credentials: credentials.Static(emu.SecretID(), emu.SecretKey(), ""),
		Transport:   env.secrets,
		PartSize:    mib,
		Retry:       RetryPolicy{MaxAttempts: 4, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
		Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range cfgOpts {
		o(&env.cfg)
	}
	u, err := New(env.cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.u = u
	t.Cleanup(func() { env.assertNoSecrets(logs.String()) })
	return env
}

// assertNoSecrets fails when text holds the account's secret key or any
// issued temporary secret key or token.
func (env *testEnv) assertNoSecrets(text string) {
	env.t.Helper()
	for _, s := range append(env.secrets.values(), env.emu.SecretKey()) {
		if s != "" && strings.Contains(text, s) {
			env.t.Errorf("a secret (%d chars, starting %.3s) appears in output:\n%s", len(s), s, text)
		}
	}
}

// writeFile writes size pseudo-random bytes (seeded by name) to dir/name.
func writeFile(t testing.TB, dir, name string, size int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	var seed [32]byte
	copy(seed[:], fmt.Sprintf("%d/%s", size, name))
	b := make([]byte, size)
	rand.NewChaCha8(seed).Read(b)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fetch GETs a URL served by the emulator.
func fetch(t testing.TB, url string) []byte { return testutil.Fetch(t, url) }

// assertServed checks that url serves exactly the bytes of the local file.
func assertServed(t testing.TB, url, localPath string) {
	t.Helper()
	want, err := os.ReadFile(localPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, url); !bytes.Equal(got, want) {
		t.Fatalf("%s: served %d bytes differ from %s (%d bytes)", url, len(got), localPath, len(want))
	}
}

// media returns the emulator's record of fileID.
func (env *testEnv) media(fileID string) emulator.MediaInfo {
	env.t.Helper()
	for _, m := range env.emu.Media() {
		if m.FileID == fileID {
			return m
		}
	}
	env.t.Fatalf("emulator has no media %s", fileID)
	return emulator.MediaInfo{}
}

// memProgress keeps the last checkpoint saved, as JSON, like a state store.
type memProgress struct {
	mu    sync.Mutex
	saves int
	last  []byte
	cert  *Cert
	hook  func(cp *Checkpoint) // called after each save
}

func (m *memProgress) Save(_ context.Context, cp *Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.saves++
	m.last = b
	if cp.Cert != nil {
		c := *cp.Cert
		m.cert = &c
	}
	hook := m.hook
	m.mu.Unlock()
	if hook != nil {
		hook(cp)
	}
	return nil
}

// load returns the last saved checkpoint as a restarted process would see
// it: from JSON, without the certificate.
func (m *memProgress) load(t testing.TB) *Checkpoint {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := &Checkpoint{}
	if err := json.Unmarshal(m.last, cp); err != nil {
		t.Fatal(err)
	}
	return cp
}
