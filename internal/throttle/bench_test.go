package throttle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
	"github.com/tencentyun/cos-go-sdk-v5"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// BenchmarkDefaults30ms measures the default settings where they matter:
// the emulator adds 30 ms to every request (a cloud region's round trip).
//
//	ours: the uploader with its defaults (8 MiB parts, 8 in flight) behind
//	      this package's body wrapper (no limit) and API pacer (50/s), the
//	      drop uploaded by 4 jobs at once (the daemon's default workers)
//	sdk:  like the official SDKs: cos-go-sdk-v5 MultiUpload with 1 MB parts
//	      and 5 threads for the big file; the drop one file after another,
//	      each ApplyUpload, PutObject, CommitUpload
//
// Run it once:
//
//	go test -run x -bench Defaults30ms -benchtime 1x ./internal/throttle
//
// VODWATCHD_BENCH_SIZE (default 1GiB) and VODWATCHD_BENCH_FILES (default
// 2000, of 64-256 KiB) shrink it for quick runs.
func BenchmarkDefaults30ms(b *testing.B) {
	size := int64(1 << 30)
	if v := os.Getenv("VODWATCHD_BENCH_SIZE"); v != "" {
		n, err := config.ParseSize(v)
		if err != nil {
			b.Fatalf("VODWATCHD_BENCH_SIZE: %v", err)
		}
		size = n
	}
	nfiles := 2000
	if v := os.Getenv("VODWATCHD_BENCH_FILES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("VODWATCHD_BENCH_FILES: %q is not a positive count", v)
		}
		nfiles = n
	}
	dir := b.TempDir()
	big := writeFile(b, dir, "big.mp4", int(size))
	drop, dropBytes := dropFiles(b, filepath.Join(dir, "drop"), nfiles)
	// A fresh emulator for each run: its metadata file grows with every
	// upload and is rewritten on each ApplyUpload and CommitUpload, so a
	// run after another would pay for the first one's records.
	env := &benchEnv{b: b}
	throttled := int64(0)
	fresh := func() *benchEnv {
		if env.emu != nil {
			throttled += env.emu.Stats().Errors["RequestLimitExceeded"]
		}
		env.emu = startEmulator(b, func(c *emulator.Config) { c.Latency = 30 * time.Millisecond })
		return env
	}

	var out strings.Builder
	fmt.Fprintf(&out, "\n30 ms per request, %s, GOMAXPROCS %d\n", time.Now().Format("2006-01-02"), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&out, "%-34s %10s %10s %8s\n", "case", "ours", "sdk", "speed-up")
	ours := fresh().seconds(func() { env.ours([]string{big}, 1) })
	sdk := fresh().seconds(func() { env.sdkMulti(big) })
	fmt.Fprintf(&out, "%-34s %7.1f MiB/s %6.1f MiB/s %7.2fx\n", "1 file of "+sizeText(size),
		float64(size)/(1<<20)/ours, float64(size)/(1<<20)/sdk, sdk/ours)
	b.ReportMetric(float64(size)/(1<<20)/ours, "ours-MiB/s")
	b.ReportMetric(sdk/ours, "bigfile-speedup")

	ours = fresh().seconds(func() { env.ours(drop, 4) })
	sdk = fresh().seconds(func() { env.sdkSequential(drop) })
	fmt.Fprintf(&out, "%-34s %8.1f s %8.1f s %7.2fx   (%.1f vs %.1f files/s)\n",
		fmt.Sprintf("drop of %d files (%s)", nfiles, sizeText(dropBytes)), ours, sdk, sdk/ours,
		float64(nfiles)/ours, float64(nfiles)/sdk)
	b.ReportMetric(sdk/ours, "drop-speedup")
	fresh()
	fmt.Fprintf(&out, "emulator: RequestLimitExceeded answered %d times\n", throttled)
	fmt.Println(out.String())
}

// dropFiles writes n files of 64-256 KiB (whole KiB, seeded).
func dropFiles(b testing.TB, dir string, n int) ([]string, int64) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 256<<10)
	rand.NewChaCha8([32]byte{7}).Read(buf)
	files := make([]string, n)
	var total int64
	for i := range files {
		size := (64 + rng.IntN(193)) << 10
		files[i] = filepath.Join(dir, fmt.Sprintf("clip-%05d.mp4", i))
		copy(buf, fmt.Sprintf("%08d", i))
		if err := os.WriteFile(files[i], buf[:size], 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(size)
	}
	return files, total
}

func sizeText(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.3g GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.3g MiB", float64(n)/(1<<20))
}

type benchEnv struct {
	b   *testing.B
	emu *emulator.Emulator
}

func (e *benchEnv) seconds(fn func()) float64 {
	start := time.Now()
	fn()
	return time.Since(start).Seconds()
}

// ours uploads files, `workers` at once, as the daemon would by default.
func (e *benchEnv) ours(files []string, workers int) {
	g := NewGroup()
	u := newUploader(e.b, e.emu, func(c *uploader.Config) {
		c.Transport = NewPacer(uploader.DefaultTransport(), PacerOptions{})
		c.BodyWrapper = g.BodyWrapper("")
	})
	for i, err := range uploadAll(context.Background(), u, files, workers) {
		if err != nil {
			e.b.Fatalf("%s: %v", files[i], err)
		}
	}
}

// vodClient is a tencentcloud-sdk-go client with the SDK's own defaults.
func (e *benchEnv) vodClient() *vod.Client {
	cp := profile.NewClientProfile()
	cp.HttpProfile.Endpoint = e.emu.Addr()
	cp.HttpProfile.Scheme = "HTTP"
	c, err := vod.NewClient(common.NewCredential(e.emu.SecretID(), e.emu.SecretKey()), "ap-guangzhou", cp)
	if err != nil {
		e.b.Fatal(err)
	}
	return c
}

// apply calls ApplyUpload like the SDK's VodUploadClient and returns the
// session key, the media key and a COS client on the temporary certificate.
func (e *benchEnv) apply(vc *vod.Client, file string) (string, string, *cos.Client) {
	in := vod.NewApplyUploadRequest()
	in.MediaType = common.StringPtr("mp4")
	in.MediaName = common.StringPtr(strings.TrimSuffix(filepath.Base(file), ".mp4"))
	res, err := vc.ApplyUpload(in)
	if err != nil {
		e.b.Fatal(err)
	}
	r := res.Response
	bu, _ := url.Parse("http://" + e.emu.Addr())
	c := cos.NewClient(&cos.BaseURL{BucketURL: bu}, &http.Client{Transport: &cos.AuthorizationTransport{
		SecretID: *r.TempCertificate.SecretId, SecretKey: *r.TempCertificate.SecretKey, SessionToken: *r.TempCertificate.Token}})
	c.Host = *r.StorageBucket + ".cos." + *r.StorageRegion + ".myqcloud.com"
	return *r.VodSessionKey, strings.TrimPrefix(*r.MediaStoragePath, "/"), c
}

func (e *benchEnv) commit(vc *vod.Client, key string) {
	in := vod.NewCommitUploadRequest()
	in.VodSessionKey = &key
	if _, err := vc.CommitUpload(in); err != nil {
		e.b.Fatal(err)
	}
}

// sdkMulti uploads one file like the official Go SDK: MultiUpload with
// 1 MB parts and 5 threads.
func (e *benchEnv) sdkMulti(file string) {
	vc := e.vodClient()
	key, obj, c := e.apply(vc, file)
	if _, _, err := c.Object.MultiUpload(context.Background(), obj, file, &cos.MultiUploadOptions{PartSize: 1, ThreadPoolSize: 5}); err != nil {
		e.b.Fatal(err)
	}
	e.commit(vc, key)
}

// sdkSequential uploads the files one after another, each with one PUT.
func (e *benchEnv) sdkSequential(files []string) {
	vc := e.vodClient()
	for _, f := range files {
		key, obj, c := e.apply(vc, f)
		if _, err := c.Object.PutFromFile(context.Background(), obj, f, nil); err != nil {
			e.b.Fatal(err)
		}
		e.commit(vc, key)
	}
}
