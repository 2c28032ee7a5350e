package uploader

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tencentyun/cos-go-sdk-v5"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/credentials"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
)

// BenchmarkUploadComparison uploads the same file three ways against one
// emulator, with no added latency and with 30 ms per request:
//
//	ours:    this uploader (8 MiB parts, 8 in flight, CRC while sending)
//	sdk:     like the official Go SDK: cos-go-sdk-v5 MultiUpload, 1 MB parts, 5 threads
//	ceiling: unsigned parallel PUTs of the same 8 MiB parts, 8 in flight, no checks
//
// and an HLS bundle of 1000 small segments: ours against one PutObject
// after another. Run it once:
//
//	go test -run x -bench UploadComparison -benchtime 1x ./internal/uploader
//
// VODWATCHD_BENCH_SIZE (e.g. 256MiB) and VODWATCHD_BENCH_SEGMENTS change
// the sizes; defaults 1GiB and 1000 segments of 64 KiB.
func BenchmarkUploadComparison(b *testing.B) {
	size := int64(1 << 30)
	if v := os.Getenv("VODWATCHD_BENCH_SIZE"); v != "" {
		n, err := config.ParseSize(v)
		if err != nil {
			b.Fatalf("VODWATCHD_BENCH_SIZE: %v", err)
		}
		size = n
	}
	segments := 1000
	if v := os.Getenv("VODWATCHD_BENCH_SEGMENTS"); v != "" {
		segments, _ = strconv.Atoi(v)
	}
	emu := emulatortest.Start(b, func(c *emulator.Config) {
		c.AllowUnsignedCOS = true
		c.APIRateLimit = -1
	})
	dir := b.TempDir()
	file := writeFile(b, dir, "bench.mp4", int(size))
	top := writeHLS(b, filepath.Join(dir, "hls"), segments, 64<<10)
	bench := &benchEnv{b: b, emu: emu}
	var out strings.Builder
	fmt.Fprintf(&out, "\nupload of %s, %s, GOMAXPROCS %d\n", humanSize(size), time.Now().Format("2006-01-02"), runtimeProcs())
	fmt.Fprintf(&out, "MiB/s, end to end (ApplyUpload..CommitUpload; ceiling: PUTs only); parts: ours while parts were in flight\n")
	fmt.Fprintf(&out, "%-18s %10s %10s %10s %10s %9s %12s %14s\n", "condition", "ours", "ours parts", "sdk", "ceiling", "ours/sdk", "ours/ceiling", "parts/ceiling")
	for _, lat := range []time.Duration{0, 30 * time.Millisecond} {
		emu.SetFaults(emulator.FaultConfig{Latency: map[string]time.Duration{"*": lat}})
		var parts float64
		ours := bench.mibps(size, func() { parts = bench.oursParts(file, size) })
		sdk := bench.mibps(size, func() { bench.sdk(file) })
		ceil := bench.mibps(size, func() { bench.ceiling(file) })
		fmt.Fprintf(&out, "%-18s %10.1f %10.1f %10.1f %10.1f %8.2fx %11.2fx %13.2fx\n", "latency "+lat.String(),
			ours, parts, sdk, ceil, ours/sdk, ours/ceil, parts/ceil)
		b.ReportMetric(ours, "ours-MiB/s-"+lat.String())
		b.ReportMetric(ours/sdk, "ours/sdk-"+lat.String())
		b.ReportMetric(ours/ceil, "ours/ceiling-"+lat.String())
	}
	fmt.Fprintf(&out, "\nHLS bundle: %d segments of 64 KiB\n%-18s %10s %10s %9s\n", segments, "condition", "ours s", "sdk s", "speed-up")
	for _, lat := range []time.Duration{0, 30 * time.Millisecond} {
		emu.SetFaults(emulator.FaultConfig{Latency: map[string]time.Duration{"*": lat}})
		ours := bench.seconds(func() { bench.ours(top) })
		seq := bench.seconds(func() { bench.sequentialBundle(top) })
		fmt.Fprintf(&out, "%-18s %10.2f %10.2f %8.1fx\n", "latency "+lat.String(), ours, seq, seq/ours)
		b.ReportMetric(seq/ours, "hls-speedup-"+lat.String())
	}
	fmt.Println(out.String())
}

type benchEnv struct {
	b   *testing.B
	emu *emulator.Emulator
}

func (e *benchEnv) uploader() *Uploader {
	u, err := New(Config{Region: "ap-guangzhou", Endpoint: e.emu.Addr(), Scheme: "http", COSEndpoint: e.emu.Addr(),
		Credentials: credentials.Static(e.emu.SecretID(), e.emu.SecretKey(), "")})
	if err != nil {
		e.b.Fatal(err)
	}
	return u
}

func (e *benchEnv) seconds(fn func()) float64 {
	start := time.Now()
	fn()
	return time.Since(start).Seconds()
}

func (e *benchEnv) mibps(size int64, fn func()) float64 {
	return float64(size) / (1 << 20) / e.seconds(fn)
}

func (e *benchEnv) ours(file string) {
	if _, err := e.uploader().Upload(context.Background(), Request{MediaFilePath: file}, nil, nil); err != nil {
		e.b.Fatal(err)
	}
}

// oursParts uploads with this uploader and returns the MiB/s of the part
// phase: from the multipart upload's start to its last part recorded
// (what the emulator's CompleteMultipartUpload, which copies the whole
// object once more, does not slow down).
func (e *benchEnv) oursParts(file string, size int64) float64 {
	var mu sync.Mutex
	var first, last time.Time
	n := 0
	prog := ProgressFunc(func(_ context.Context, cp *Checkpoint) error {
		mu.Lock()
		defer mu.Unlock()
		if len(cp.Objects) == 1 && cp.Objects[0].UploadID != "" && first.IsZero() {
			first = time.Now()
		}
		if c := countParts(cp); c > n {
			n, last = c, time.Now()
		}
		return nil
	})
	if _, err := e.uploader().Upload(context.Background(), Request{MediaFilePath: file}, nil, prog); err != nil {
		e.b.Fatal(err)
	}
	return float64(size) / (1 << 20) / last.Sub(first).Seconds()
}

// session applies for an upload session as any SDK would.
func (e *benchEnv) session(file string) (*Uploader, *scrubber, *session) {
	u := e.uploader()
	sc := &scrubber{}
	req, err := Request{MediaFilePath: file}.normalize()
	if err != nil {
		e.b.Fatal(err)
	}
	s, err := u.apply(context.Background(), sc, req)
	if err != nil {
		e.b.Fatal(err)
	}
	return u, sc, s
}

// sdkClient is a cos-go-sdk-v5 client configured as the SDK does (its own
// CRC checks on).
func (e *benchEnv) sdkClient(s *session) *cos.Client {
	bu, _ := url2(e.emu.Addr())
	c := cos.NewClient(&cos.BaseURL{BucketURL: bu}, &http.Client{Transport: &cos.AuthorizationTransport{
		SecretID: s.Cert.SecretID, SecretKey: s.Cert.SecretKey, SessionToken: s.Cert.Token}})
	c.Host = s.Bucket + ".cos." + s.Region + ".myqcloud.com"
	return c
}

// sdk uploads like the official Go SDK: MultiUpload with 1 MB parts and 5
// threads, then CommitUpload.
func (e *benchEnv) sdk(file string) {
	u, sc, s := e.session(file)
	c := e.sdkClient(s)
	key := strings.TrimPrefix(s.MediaPath, "/")
	if _, _, err := c.Object.MultiUpload(context.Background(), key, file, &cos.MultiUploadOptions{PartSize: 1, ThreadPoolSize: 5}); err != nil {
		e.b.Fatal(err)
	}
	if _, err := u.commit(context.Background(), sc, s.Key, 0); err != nil {
		e.b.Fatal(err)
	}
}

// ceiling PUTs the file's 8 MiB parts unsigned, 8 at a time, with no
// checks: what the server and loopback can take.
func (e *benchEnv) ceiling(file string) {
	_, _, s := e.session(file)
	f, err := os.Open(file)
	if err != nil {
		e.b.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	const ps = 8 << 20
	host := s.Bucket + ".cos." + s.Region + ".myqcloud.com"
	prefix := path.Dir(strings.TrimPrefix(s.MediaPath, "/"))
	client := &http.Client{Transport: DefaultTransport()}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for off, n := int64(0), 0; off < fi.Size(); off, n = off+ps, n+1 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			size := min(ps, fi.Size()-off)
			req, _ := http.NewRequest(http.MethodPut, "http://"+e.emu.Addr()+"/"+prefix+"/raw-"+strconv.Itoa(n),
				io.NewSectionReader(f, off, size))
			req.Host, req.ContentLength = host, size
			resp, err := client.Do(req)
			if err != nil {
				e.b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				e.b.Errorf("raw PUT: %s", resp.Status)
			}
		})
	}
	wg.Wait()
}

// sequentialBundle uploads a bundle's files one PutObject after another,
// as the SDKs do for HLS segments.
func (e *benchEnv) sequentialBundle(top string) {
	u, sc, s := e.session(top)
	c := e.sdkClient(s)
	files, err := planFiles(context.Background(), Request{MediaFilePath: top})
	if err != nil {
		e.b.Fatal(err)
	}
	mediaKey := strings.TrimPrefix(s.MediaPath, "/")
	for _, f := range files {
		key := mediaKey
		if f.role == "bundle" {
			key = path.Join(path.Dir(mediaKey), f.rel)
		}
		fd, err := os.Open(f.path)
		if err != nil {
			e.b.Fatal(err)
		}
		_, err = c.Object.Put(context.Background(), key, fd, nil)
		fd.Close()
		if err != nil {
			e.b.Fatal(err)
		}
	}
	if _, err := u.commit(context.Background(), sc, s.Key, 0); err != nil {
		e.b.Fatal(err)
	}
}

// writeHLS writes a media playlist of n segments of the given size.
func writeHLS(b testing.TB, dir string, n, segSize int) string {
	var m strings.Builder
	m.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n")
	for i := range n {
		name := fmt.Sprintf("seg_%05d.ts", i)
		writeFile(b, dir, name, segSize)
		fmt.Fprintf(&m, "#EXTINF:2.0,\n%s\n", name)
	}
	m.WriteString("#EXT-X-ENDLIST\n")
	top := filepath.Join(dir, "index.m3u8")
	if err := os.WriteFile(top, []byte(m.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return top
}

func humanSize(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

func url2(addr string) (*url.URL, error) { return url.Parse("http://" + addr) }

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
