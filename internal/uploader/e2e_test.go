package uploader

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/credentials"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
)

// The examples of the VOD server-upload SDK guide, against the emulator.
func TestSDKGuideExamples(t *testing.T) {
	tempAccounts := func(c *emulator.Config) {
		p := filepath.Join(t.TempDir(), "accounts.yaml")
		yaml := "accounts:\n  - secret_id: AKIDtempowner\n    secret_key: owner-key-0123456789\n" +
			"    temporary:\n      - {secret_id: AKIDtmp0001, secret_key: tmp-secret-key-0123456789, token: tmp-token-abcdefghijkl, expires: 2099-01-01T00:00:00Z}\n"
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c.AccountsFile = p
	}
	cases := []struct {
		name    string
		emu     []func(*emulator.Config)
		cfg     func(*Config)
		size    int
		cover   bool
		req     Request
		check   func(t *testing.T, m emulator.MediaInfo)
		minPart int64 // UploadPart requests expected at least
	}{
		{name: "simple upload", size: 200 << 10},
		{name: "with cover", size: 100 << 10, cover: true},
		{name: "with procedure", size: 10 << 10, req: Request{Procedure: "news-transcode"},
			check: func(t *testing.T, m emulator.MediaInfo) { eq(t, "Procedure", m.Procedure, "news-transcode") }},
		{name: "with sub-application", size: 10 << 10, req: Request{SubAppID: 1500000001},
			check: func(t *testing.T, m emulator.MediaInfo) { eq(t, "SubAppID", m.SubAppID, uint64(1500000001)) }},
		{name: "with storage region", size: 10 << 10, req: Request{StorageRegion: "ap-chongqing"},
			check: func(t *testing.T, m emulator.MediaInfo) { eq(t, "StorageRegion", m.StorageRegion, "ap-chongqing") }},
		{name: "with concurrent parts", size: 5*mib + 12345, req: Request{ConcurrentUploadNumber: 3}, minPart: 6},
		{name: "with temporary credentials", size: 3 * mib, emu: []func(*emulator.Config){tempAccounts}, minPart: 3,
			cfg: func(c *Config) {
				c.Credentials = credentials.Static("AKIDtmp0001", "tmp-secret-key-0123456789", "tmp-token-abcdefghijkl")
			}},
		{name: "every field", size: 10 << 10, req: Request{MediaName: "Named", ClassID: 12, ExpireTime: "2099-01-02T03:04:05+08:00",
			SourceContext: "src-ctx", SessionContext: "sess-ctx", MediaType: "MP4"},
			check: func(t *testing.T, m emulator.MediaInfo) {
				eq(t, "Name", m.Name, "Named")
				eq(t, "ClassID", m.ClassID, int64(12))
				eq(t, "SourceContext", m.SourceContext, "src-ctx")
				eq(t, "SessionContext", m.SessionContext, "sess-ctx")
				if m.ExpireTime == "" {
					t.Error("ExpireTime not recorded")
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var opts []func(*Config)
			if c.cfg != nil {
				opts = append(opts, c.cfg)
			}
			env := newEnv(t, c.emu, opts...)
			dir := t.TempDir()
			req := c.req
			req.MediaFilePath = writeFile(t, dir, "Wild Life.mp4", c.size)
			if c.cover {
				req.CoverFilePath = writeFile(t, dir, "cover.JPG", 5000)
			}
			res, err := env.u.Upload(context.Background(), req, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.FileID == "" || res.RequestID == "" || res.MediaURL == "" {
				t.Fatalf("incomplete result %+v", res)
			}
			assertServed(t, res.MediaURL, req.MediaFilePath)
			m := env.media(res.FileID)
			if c.req.MediaName == "" {
				eq(t, "Name", m.Name, "Wild Life")
			}
			eq(t, "Type", m.Type, "mp4")
			if c.cover {
				if res.CoverURL == "" {
					t.Fatal("no CoverUrl")
				}
				assertServed(t, res.CoverURL, req.CoverFilePath)
			}
			if c.check != nil {
				c.check(t, m)
			}
			if got := env.emu.Stats().COS.Requests["UploadPart"]; got < c.minPart {
				t.Errorf("UploadPart requests = %d, want >= %d", got, c.minPart)
			}
		})
	}
}

func eq[T comparable](t *testing.T, field string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", field, got, want)
	}
}

// Each error code of DESIGN.md reaches the caller with its code, message
// and RequestId; fatal ones are not retried, transient ones are, bounded.
func TestErrorCodes(t *testing.T) {
	cases := []struct {
		name      string
		emu       []func(*emulator.Config)
		cfg       func(env *testEnv, c *Config)
		req       func(r *Request, dir string)
		code      string // exact code, or prefix ending in "."
		applies   int64  // ApplyUpload requests expected
		wantError bool
	}{
		{name: "InternalError retried then reported", code: "InternalError", applies: 4,
			emu: []func(*emulator.Config){func(c *emulator.Config) {
				c.Faults = emulator.FaultConfig{Seed: 1, ErrorRate: map[string]float64{"ApplyUpload": 1}}
			}}},
		{name: "InvalidParameter.ExpireTime", code: "InvalidParameter.ExpireTime", applies: 1,
			req: func(r *Request, _ string) { r.ExpireTime = "next tuesday" }},
		{name: "InvalidParameterValue.CoverType", code: "InvalidParameterValue.CoverType", applies: 1,
			req: func(r *Request, dir string) { r.CoverFilePath = writeFile(t, dir, "cover.xyz", 10) }},
		{name: "InvalidParameterValue.MediaType", code: "InvalidParameterValue.MediaType", applies: 1,
			req: func(r *Request, _ string) { r.MediaType = "xyz" }},
		{name: "InvalidParameterValue.SubAppId", code: "InvalidParameterValue.SubAppId", applies: 1,
			req: func(r *Request, _ string) { r.SubAppID = 42 }},
		{name: "ResourceNotFound", code: "ResourceNotFound", applies: 1,
			req: func(r *Request, _ string) { r.Procedure = "no-such-procedure" }},
		{name: "AuthFailure wrong key", code: "AuthFailure.", applies: 1,
			cfg: func(env *testEnv, c *Config) {
				c.Credentials = credentials.Static(env.emu.SecretID(), "wrong-secret-key-0000", "")
			}},
		{name: "AuthFailure unknown id", code: "AuthFailure.", applies: 1,
			cfg: func(_ *testEnv, c *Config) { c.Credentials = credentials.Static("AKIDnobody", "whatever-key-0000", "") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := newEnv(t, c.emu)
			if c.cfg != nil {
				c.cfg(env, &env.cfg)
				env.u, _ = New(env.cfg)
			}
			dir := t.TempDir()
			req := Request{MediaFilePath: writeFile(t, dir, "a.mp4", 1000)}
			if c.req != nil {
				c.req(&req, dir)
			}
			_, err := env.u.Upload(context.Background(), req, nil, nil)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if e.Code != c.code && !(strings.HasSuffix(c.code, ".") && strings.HasPrefix(e.Code, c.code)) {
				t.Fatalf("code = %q, want %q (err: %v)", e.Code, c.code, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, e.Code) || e.Message == "" || !strings.Contains(msg, e.Message) ||
				e.RequestID == "" || !strings.Contains(msg, e.RequestID) || !strings.Contains(msg, "a.mp4") {
				t.Fatalf("message not readable: %q", msg)
			}
			env.assertNoSecrets(msg)
			st := env.emu.Stats()
			eq(t, "ApplyUpload requests", st.Requests["ApplyUpload"], c.applies)
			eq(t, "COS PUTs", st.COS.Requests["PutObject"], int64(0))
		})
	}
}

func TestRequestLimitExceededRetried(t *testing.T) {
	env := newEnv(t, []func(*emulator.Config){func(c *emulator.Config) {
		c.Faults = emulator.FaultConfig{Throttle: map[string]int{"ApplyUpload": 2, "CommitUpload": 2, "PutObject": 1}}
	}})
	p := writeFile(t, t.TempDir(), "a.mp4", 4000)
	res, err := env.u.Upload(context.Background(), Request{MediaFilePath: p}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertServed(t, res.MediaURL, p)
	st := env.emu.Stats()
	eq(t, "ApplyUpload requests", st.Requests["ApplyUpload"], int64(3))
	eq(t, "CommitUpload requests", st.Requests["CommitUpload"], int64(3))
	eq(t, "Commits", st.Commits, int64(1))
	if !strings.Contains(env.logs.String(), "RequestLimitExceeded") {
		t.Error("retries of RequestLimitExceeded not logged")
	}
}

func TestVodSessionKeyError(t *testing.T) {
	env := newEnv(t, []func(*emulator.Config){func(c *emulator.Config) { c.RepeatCommit = emulator.RepeatCommitError }})
	p := writeFile(t, t.TempDir(), "a.mp4", 1000)
	prog := &memProgress{}
	if _, err := env.u.Upload(context.Background(), Request{MediaFilePath: p}, nil, prog); err != nil {
		t.Fatal(err)
	}
	cp := prog.load(t)
	cp.Result = nil // pretend the answer was lost
	_, err := env.u.Commit(context.Background(), cp, nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != "InvalidParameterValue.VodSessionKey" {
		t.Fatalf("err = %v, want InvalidParameterValue.VodSessionKey", err)
	}
	if !strings.Contains(err.Error(), "already committed") {
		t.Errorf("message lacks the service's words: %v", err)
	}
	eq(t, "media", len(env.emu.Media()), 1)
}

// A CommitUpload whose connection breaks is handed back as
// ErrCommitUnknown and is not repeated; Commit settles it without a second
// copy.
func TestCommitUnknown(t *testing.T) {
	env := newEnv(t, []func(*emulator.Config){func(c *emulator.Config) {
		c.Faults = emulator.FaultConfig{Seed: 3, ResetRate: map[string]float64{"CommitUpload": 1}, ResetAfterBytes: 1}
	}})
	p := writeFile(t, t.TempDir(), "a.mp4", 3000)
	prog := &memProgress{}
	_, err := env.u.Upload(context.Background(), Request{MediaFilePath: p}, nil, prog)
	if !errors.Is(err, ErrCommitUnknown) {
		t.Fatalf("err = %v, want ErrCommitUnknown", err)
	}
	cp := prog.load(t)
	if !cp.Committing || !strings.Contains(err.Error(), cp.SessionKey) {
		t.Fatalf("checkpoint committing=%v, error %q should name session", cp.Committing, err)
	}
	eq(t, "CommitUpload requests", env.emu.Stats().Requests["CommitUpload"], int64(1))

	// Upload with that checkpoint refuses to go on blindly.
	before := env.emu.Stats()
	if _, err := env.u.Upload(context.Background(), Request{MediaFilePath: p}, cp, prog); !errors.Is(err, ErrCommitUnknown) {
		t.Fatalf("second Upload: %v, want ErrCommitUnknown", err)
	}
	after := env.emu.Stats()
	eq(t, "requests after refusal", after.Requests["ApplyUpload"]+after.Requests["CommitUpload"]+after.COS.Requests["PutObject"],
		before.Requests["ApplyUpload"]+before.Requests["CommitUpload"]+before.COS.Requests["PutObject"])

	env.emu.SetFaults(emulator.FaultConfig{})
	cp.Cert = nil
	res, err := env.u.Commit(context.Background(), cp, prog)
	if err != nil {
		t.Fatal(err)
	}
	assertServed(t, res.MediaURL, p)
	eq(t, "media", len(env.emu.Media()), 1)
	eq(t, "ApplyUpload requests", env.emu.Stats().Requests["ApplyUpload"], int64(1))
	if cp := prog.load(t); cp.Result == nil || cp.Result.FileID != res.FileID || cp.Committing {
		t.Fatalf("checkpoint after Commit: %+v", cp)
	}
}

// Transient COS failures (500s and resets mid-body) are retried per part.
func TestCOSFaultsRetried(t *testing.T) {
	env := newEnv(t, []func(*emulator.Config){func(c *emulator.Config) {
		c.Faults = emulator.FaultConfig{Seed: 7,
			ErrorRate: map[string]float64{"UploadPart": 0.3, "PutObject": 0.3},
			ResetRate: map[string]float64{"UploadPart": 0.2}, ResetAfterBytes: 100 << 10}
	}}, func(c *Config) { c.Retry.MaxAttempts = 10 })
	dir := t.TempDir()
	p := writeFile(t, dir, "a.mp4", 4*mib+77)
	cover := writeFile(t, dir, "c.png", 777)
	res, err := env.u.Upload(context.Background(), Request{MediaFilePath: p, CoverFilePath: cover}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertServed(t, res.MediaURL, p)
	assertServed(t, res.CoverURL, cover)
	if st := env.emu.Stats(); st.Faults["error"]+st.Faults["reset"] == 0 {
		t.Fatalf("no fault was injected: %+v", st.Faults)
	}
}

// bundleDir copies a committed ffmpeg bundle into a temp dir.
func bundleDir(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	src := filepath.Join("..", "manifest", "testdata", name)
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// HLS and DASH bundles made by ffmpeg land with exactly their files at
// dir(MediaStoragePath)/<rel>, and the MediaUrl serves them.
func TestBundles(t *testing.T) {
	cases := []struct{ dir, top string }{
		{"hls_fmp4", "index.m3u8"},
		{"hls_aes", "index.m3u8"},
		{"hls_single", "index.m3u8"},
		{"hls_master", "master.m3u8"},
		{"dash_number", "manifest.mpd"},
		{"dash_timeline", "manifest.mpd"},
		{"dash_time", "manifest.mpd"},
		{"dash_list", "manifest.mpd"},
	}
	env := newEnv(t, nil)
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			dir := bundleDir(t, c.dir)
			top := filepath.Join(dir, c.top)
			before := env.emu.Stats().COS.Requests["PutObject"]
			res, err := env.u.Upload(context.Background(), Request{MediaFilePath: top}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			assertServed(t, res.MediaURL, top)
			base := res.MediaURL[:strings.LastIndex(res.MediaURL, "/")]
			var want int
			err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
				if err != nil || fi.IsDir() || p == top || strings.HasSuffix(p, ".keyinfo") {
					return err
				}
				rel, _ := filepath.Rel(dir, p)
				assertServed(t, base+"/"+filepath.ToSlash(rel), p)
				want++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			m := env.media(res.FileID)
			if !m.Streaming || path.Ext(m.MediaKey) != path.Ext(c.top) {
				t.Errorf("media record %+v", m)
			}
			eq(t, "objects stored", env.emu.Stats().COS.Requests["PutObject"]-before, int64(want+1))
		})
	}
}
