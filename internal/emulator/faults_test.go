package emulator_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
)

func applyCode(vc *vod.Client) string {
	_, err := vc.ApplyUpload(&vod.ApplyUploadRequest{MediaType: common.StringPtr("mp4")})
	return codeOf(err)
}

func TestFaultAPIError(t *testing.T) {
	e := emulatortest.Start(t, func(c *emulator.Config) {
		c.Faults = emulator.FaultConfig{ErrorRate: map[string]float64{"ApplyUpload": 1}}
	})
	vc := defaultClient(t, e)
	if c := applyCode(vc); c != "InternalError" {
		t.Fatalf("code %q, want InternalError", c)
	}
	if _, err := vc.SearchMedia(vod.NewSearchMediaRequest()); err != nil {
		t.Fatalf("another action failed too: %v", err)
	}
	e.SetFaults(emulator.FaultConfig{})
	if c := applyCode(vc); c != "" {
		t.Fatalf("after SetFaults: %q", c)
	}
	if e.Stats().Faults["error"] != 1 {
		t.Fatalf("fault stats %v", e.Stats().Faults)
	}
}

func TestFaultCOSError(t *testing.T) {
	e := emulatortest.Start(t)
	vc := defaultClient(t, e)
	ap := apply(t, vc, nil)
	cc := cosClient(t, e, ap)
	cc.Conf.RetryOpt.Count = 1
	e.SetFaults(emulator.FaultConfig{ErrorRate: map[string]float64{"PutObject": 1}})
	_, err := cc.Object.Put(context.Background(), (*ap.MediaStoragePath)[1:], bytes.NewReader(randomBytes(200<<10, 5)), nil)
	if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "InternalError") {
		t.Fatalf("put: %v, want 500 InternalError", err)
	}
}

func TestFaultThrottleBurst(t *testing.T) {
	e := emulatortest.Start(t, func(c *emulator.Config) {
		c.Faults = emulator.FaultConfig{Throttle: map[string]int{"ApplyUpload": 2, "PutObject": 1}}
	})
	vc := defaultClient(t, e)
	got := []string{applyCode(vc), applyCode(vc), applyCode(vc)}
	if got[0] != "RequestLimitExceeded" || got[1] != "RequestLimitExceeded" || got[2] != "" {
		t.Fatalf("codes %q", got)
	}
	ap := apply(t, vc, nil)
	cc := cosClient(t, e, ap)
	cc.Conf.RetryOpt.Count = 1 // see the 503 instead of the SDK's retry
	_, err := cc.Object.Put(context.Background(), (*ap.MediaStoragePath)[1:], strings.NewReader("x"), nil)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "SlowDown") {
		t.Fatalf("put: %v, want 503 SlowDown", err)
	}
	putObject(t, cc, (*ap.MediaStoragePath)[1:], []byte("x"))
}

func TestFaultResetMidBody(t *testing.T) {
	e := emulatortest.Start(t, func(c *emulator.Config) {
		c.Faults = emulator.FaultConfig{ResetRate: map[string]float64{"UploadPart": 1}, ResetAfterBytes: 64 << 10}
	})
	vc := defaultClient(t, e)
	ap := apply(t, vc, nil)
	cc := cosClient(t, e, ap)
	key := (*ap.MediaStoragePath)[1:]
	init, _, err := cc.Object.InitiateMultipartUpload(context.Background(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cc.Object.UploadPart(context.Background(), key, init.UploadID, 1, bytes.NewReader(randomBytes(1<<20, 6)), nil)
	if err == nil {
		t.Fatal("part upload survived a reset")
	}
	if n := e.Stats().COS.PartsReceived[init.UploadID]; len(n) != 0 {
		t.Fatalf("a reset part was stored: %v", n)
	}
	e.SetFaults(emulator.FaultConfig{})
	if _, err := cc.Object.UploadPart(context.Background(), key, init.UploadID, 1, bytes.NewReader(randomBytes(1<<20, 6)), nil); err != nil {
		t.Fatalf("after clearing faults: %v", err)
	}
	// net/http may resend an idempotent PUT after a reset: at least one.
	if e.Stats().Faults["reset"] < 1 {
		t.Fatalf("fault stats %v", e.Stats().Faults)
	}
}

func TestFaultLatency(t *testing.T) {
	e := emulatortest.Start(t, func(c *emulator.Config) {
		c.Latency = 20 * time.Millisecond
		c.Faults = emulator.FaultConfig{Latency: map[string]time.Duration{"ApplyUpload": 400 * time.Millisecond}}
	})
	vc := defaultClient(t, e)
	start := time.Now()
	apply(t, vc, nil)
	if d := time.Since(start); d < 420*time.Millisecond {
		t.Fatalf("ApplyUpload took %s, want >= 420ms", d)
	}
	start = time.Now()
	vc.SearchMedia(vod.NewSearchMediaRequest())
	if d := time.Since(start); d < 20*time.Millisecond || d > 300*time.Millisecond {
		t.Fatalf("SearchMedia took %s, want the global 20ms only", d)
	}
}

// TestFaultAnswerLatency: the operation takes effect at once, its answer
// comes late, and a client that gives up meanwhile has lost it (the media
// exists although CommitUpload never answered).
func TestFaultAnswerLatency(t *testing.T) {
	e := emulatortest.Start(t, func(c *emulator.Config) {
		c.Faults = emulator.FaultConfig{AnswerLatency: map[string]time.Duration{"CommitUpload": 2 * time.Second}}
	})
	vc := defaultClient(t, e)
	ap := apply(t, vc, nil)
	cc := cosClient(t, e, ap)
	if _, err := cc.Object.Put(context.Background(), (*ap.MediaStoragePath)[1:], bytes.NewReader(randomBytes(10<<10, 7)), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req := vod.NewCommitUploadRequest()
	req.VodSessionKey = ap.VodSessionKey
	start := time.Now()
	if _, err := vc.CommitUploadWithContext(ctx, req); err == nil {
		t.Fatal("CommitUpload answered before its answer latency")
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("the client waited %s for a late answer it gave up on", d)
	}
	if n := len(e.Media()); n != 1 {
		t.Fatalf("%d media after the unanswered commit, want 1 (the operation takes effect before the delay)", n)
	}
	start = time.Now()
	apply(t, vc, nil)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("ApplyUpload took %s: the answer latency applies to CommitUpload only", d)
	}
}

func TestFaultShortCertificate(t *testing.T) {
	clock := newClock()
	e := emulatortest.Start(t, func(c *emulator.Config) {
		c.Now = clock.Now
		c.Faults = emulator.FaultConfig{CertLifetime: time.Minute}
	})
	vc := defaultClient(t, e)
	ap := apply(t, vc, nil)
	if left := time.Until(time.Unix(int64(*ap.TempCertificate.ExpiredTime), 0)); left > time.Minute+time.Second {
		t.Fatalf("certificate lives %s", left)
	}
	cc := cosClient(t, e, ap)
	putObject(t, cc, (*ap.MediaStoragePath)[1:], []byte("before"))
	clock.Add(2 * time.Minute)
	_, err := cc.Object.Put(context.Background(), (*ap.MediaStoragePath)[1:], strings.NewReader("after"), nil)
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("put with an expired certificate: %v", err)
	}
}

// TestFaultsDeterministic: the same seed gives the same outcomes.
func TestFaultsDeterministic(t *testing.T) {
	run := func(seed int64) string {
		e := emulatortest.Start(t, func(c *emulator.Config) {
			c.Faults = emulator.FaultConfig{Seed: seed, ErrorRate: map[string]float64{"ApplyUpload": 0.5}}
		})
		vc := defaultClient(t, e)
		var b strings.Builder
		for i := 0; i < 24; i++ {
			if applyCode(vc) == "" {
				b.WriteByte('.')
			} else {
				b.WriteByte('x')
			}
		}
		return b.String()
	}
	a, b, c := run(7), run(7), run(8)
	if a != b {
		t.Fatalf("same seed, different outcomes: %s vs %s", a, b)
	}
	if a == c || !strings.Contains(a, "x") || !strings.Contains(a, ".") {
		t.Fatalf("outcomes do not depend on the seed: %s vs %s", a, c)
	}
}

// TestShortBody: a body shorter than its Content-Length on a connection
// kept open is cut after the idle timeout instead of hanging.
func TestShortBody(t *testing.T) {
	e := emulatortest.Start(t, func(c *emulator.Config) { c.BodyIdleTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: "+e.Addr()+"\r\nContent-Type: application/json\r\nX-TC-Action: ApplyUpload\r\nContent-Length: 100\r\n\r\n{\"Media")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the emulator hung on a short body")
	}
	if len(b) > 0 && !strings.Contains(string(b), "InvalidParameter") {
		t.Fatalf("answer %q", b)
	}
}

// TestFaultsFromAccountsFile: the YAML file's faults apply, and Config's
// faults are laid over them.
func TestFaultsFromAccountsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "accounts.yaml")
	yaml := "faults:\n  seed: 3\n  throttle: {ApplyUpload: 1}\n  error_rate: {SearchMedia: 1}\n  latency: {ApplyUpload: 1ms}\n"
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e := emulatortest.Start(t, func(c *emulator.Config) {
		c.AccountsFile = p
		c.Faults = emulator.FaultConfig{ErrorRate: map[string]float64{"SearchMedia": 0}}
	})
	vc := defaultClient(t, e)
	if got := []string{applyCode(vc), applyCode(vc)}; got[0] != "RequestLimitExceeded" || got[1] != "" {
		t.Fatalf("codes %q", got)
	}
	if _, err := vc.SearchMedia(vod.NewSearchMediaRequest()); err != nil {
		t.Fatalf("Config's faults did not override the file's: %v", err)
	}
}
