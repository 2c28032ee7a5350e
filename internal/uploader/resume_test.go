package uploader

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// interrupt starts uploading req and cancels once `parts` parts are
// recorded, as a shutdown would; it returns the saved progress.
func interrupt(t *testing.T, env *testEnv, req Request, parts int) *memProgress {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prog := &memProgress{hook: func(cp *Checkpoint) {
		if countParts(cp) >= parts {
			cancel()
		}
	}}
	_, err := env.u.Upload(ctx, req, nil, prog)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted upload: err = %v, want context.Canceled", err)
	}
	return prog
}

func TestResume(t *testing.T) {
	cases := []struct {
		name      string
		expired   bool // the uploader's clock is 58 minutes later: the session is not resumed
		lostCert  bool // no certificate at all: the old upload can only be dropped
		wantApply int64
		wantAbort int64
	}{
		{name: "session valid, cert handed back", wantApply: 1},
		{name: "session expired, old upload aborted", expired: true, wantApply: 2, wantAbort: 1},
		{name: "certificate lost, old upload dropped", lostCert: true, wantApply: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := newEnv(t, nil, func(cfg *Config) { cfg.PartsInFlight = 2 })
			req := Request{MediaFilePath: writeFile(t, t.TempDir(), "big.mp4", 6*mib+4321)}
			prog := interrupt(t, env, req, 3)

			cp := prog.load(t)
			if cp.Cert != nil || strings.Contains(string(prog.last), prog.cert.SecretKey) ||
				strings.Contains(string(prog.last), prog.cert.Token) {
				t.Fatal("the checkpoint's JSON holds the certificate")
			}
			if len(cp.Objects) != 1 || cp.Objects[0].UploadID == "" || len(cp.Objects[0].Parts) < 3 {
				t.Fatalf("checkpoint after interruption: %s", prog.last)
			}
			oldID, done := cp.Objects[0].UploadID, cp.Objects[0].Parts

			cfg := env.cfg
			if !c.lostCert {
				cp.Cert = prog.cert // what the caller kept apart from the JSON
			}
			if c.expired {
				cfg.Now = func() time.Time { return time.Now().Add(58 * time.Minute) }
			}
			u, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, err := u.Upload(context.Background(), req, cp, prog)
			if err != nil {
				t.Fatal(err)
			}
			assertServed(t, res.MediaURL, req.MediaFilePath)
			st := env.emu.Stats()
			eq(t, "ApplyUpload requests", st.Requests["ApplyUpload"], c.wantApply)
			eq(t, "AbortMultipartUpload requests", st.COS.Requests["AbortMultipartUpload"], c.wantAbort)
			if c.wantApply == 1 {
				for _, p := range done {
					eq(t, "times part "+strconv.Itoa(p.Number)+" was received", st.COS.PartsReceived[oldID][p.Number], 1)
				}
				eq(t, "parts received in all", sum(st.COS.PartsReceived[oldID]) >= 7, true)
			}
			if final := prog.load(t); final.Result == nil || final.Result.FileID != res.FileID {
				t.Fatalf("final checkpoint lacks the result: %s", prog.last)
			}
		})
	}
}

// readFunc adapts a function to io.Reader.
type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

func sum(m map[int]int) int {
	s := 0
	for _, v := range m {
		s += v
	}
	return s
}

// Without a Progress nobody can resume, so a cancelled upload aborts its
// multipart upload instead of leaving parts behind.
func TestCancelWithoutProgressAborts(t *testing.T) {
	env := newEnv(t, nil, func(cfg *Config) { cfg.PartsInFlight = 2 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sent atomic.Int64
	cfg := env.cfg
	cfg.BodyWrapper = func(r io.Reader) io.Reader {
		return readFunc(func(p []byte) (int, error) {
			n, err := r.Read(p)
			if sent.Add(int64(n)) > 3*mib {
				cancel()
			}
			return n, err
		})
	}
	u, _ := New(cfg)
	req := Request{MediaFilePath: writeFile(t, t.TempDir(), "big.mp4", 8*mib)}
	if _, err := u.Upload(ctx, req, nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	st := env.emu.Stats()
	eq(t, "AbortMultipartUpload requests", st.COS.Requests["AbortMultipartUpload"], int64(1))
	eq(t, "CompleteMultipartUpload requests", st.COS.Requests["CompleteMultipartUpload"], int64(0))
}

// A bundle with a bad reference is refused before anything is sent, with
// a message naming the manifest and the reference.
func TestBundleRefused(t *testing.T) {
	cases := []struct{ name, ref, want string }{
		{"missing", "seg_missing.ts", "seg_missing.ts"},
		{"escaping", "../outside.ts", "../outside.ts"},
		{"absolute", "/etc/hostname", "/etc/hostname"},
		{"url", "http://example.com/seg.ts", "http://example.com/seg.ts"},
	}
	env := newEnv(t, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "bundle")
			writeFile(t, root, "outside.ts", 100)
			writeFile(t, dir, "seg_ok.ts", 100)
			m3u8 := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\nseg_ok.ts\n#EXTINF:4,\n" + c.ref + "\n#EXT-X-ENDLIST\n"
			top := filepath.Join(dir, "index.m3u8")
			if err := os.WriteFile(top, []byte(m3u8), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := env.u.Upload(context.Background(), Request{MediaFilePath: top}, nil, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "index.m3u8") {
				t.Fatalf("err = %v, want it to name index.m3u8 and %q", err, c.want)
			}
			if _, err := TotalBytes(context.Background(), Request{MediaFilePath: top}); err == nil {
				t.Fatal("TotalBytes accepted the bundle")
			}
			st := env.emu.Stats()
			eq(t, "ApplyUpload requests", st.Requests["ApplyUpload"], int64(0))
			eq(t, "COS requests", len(st.COS.Requests), 0)
		})
	}
}
