package cos

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash/crc64"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"
)

// uploadParts uploads the given part numbers of data concurrently and returns
// their ETags by part number.
func uploadParts(t *testing.T, c *cossdk.Client, key, id string, data []byte, partSize int, nums []int) map[int]string {
	t.Helper()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		etags = map[int]string{}
		errs  []error
	)
	for _, n := range nums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo := (n - 1) * partSize
			hi := min(lo+partSize, len(data))
			resp, err := c.Object.UploadPart(context.Background(), key, id, n, bytes.NewReader(data[lo:hi]), nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("part %d: %w", n, err))
				return
			}
			etags[n] = resp.Header.Get("ETag")
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("upload parts: %v", errs)
	}
	return etags
}

func completeOpt(etags map[int]string, nums ...int) *cossdk.CompleteMultipartUploadOptions {
	opt := &cossdk.CompleteMultipartUploadOptions{}
	for _, n := range nums {
		opt.Parts = append(opt.Parts, cossdk.Object{PartNumber: n, ETag: etags[n]})
	}
	return opt
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

func TestMultipartConcurrent(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.grant)
	ctx := context.Background()
	const partSize = 1 << 20
	data := randomBytes(t, 5*partSize+12345)
	key := "session1/movie.mp4"
	init, _, err := c.Object.InitiateMultipartUpload(ctx, key, &cossdk.InitiateMultipartUploadOptions{
		ObjectPutHeaderOptions: &cossdk.ObjectPutHeaderOptions{ContentType: "video/mp4"}})
	if err != nil {
		t.Fatal(err)
	}
	etags := uploadParts(t, c, key, init.UploadID, data, partSize, seq(6))
	// Same part twice in parallel: the last one wins, both are counted.
	uploadParts(t, c, key, init.UploadID, data, partSize, []int{2, 2})
	res, resp, err := c.Object.CompleteMultipartUpload(ctx, key, init.UploadID, completeOpt(etags, seq(6)...))
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	h := md5.New()
	for n := 1; n <= 6; n++ {
		b, _ := hex.DecodeString(etags[n][1:33])
		h.Write(b)
	}
	if want := fmt.Sprintf(`"%x-6"`, h.Sum(nil)); res.ETag != want {
		t.Errorf("ETag = %s, want %s", res.ETag, want)
	}
	wantCRC := strconv.FormatUint(crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)), 10)
	if got := resp.Header.Get("x-cos-hash-crc64ecma"); got != wantCRC {
		t.Errorf("complete crc = %s, want %s", got, wantCRC)
	}
	f, info, err := e.srv.Open(testBucket, key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, data) || info.ContentType != "video/mp4" {
		t.Fatalf("assembled object differs (%d bytes, %q)", len(got), info.ContentType)
	}
	if n := e.srv.Stats().PartsReceived[init.UploadID][2]; n != 3 {
		t.Errorf("part 2 received %d times, want 3", n)
	}
	if _, err := os.Stat(filepath.Join(e.dir, uploadsDir, init.UploadID)); !os.IsNotExist(err) {
		t.Errorf("upload dir left behind: %v", err)
	}
}

// TestSDKMultiUpload drives the SDK's own multipart helper, which checks the
// whole-object CRC64 against the CompleteMultipartUpload answer.
func TestSDKMultiUpload(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.grant)
	data := randomBytes(t, 3<<20+5)
	path := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Object.Upload(context.Background(), "session1/f.bin", path, &cossdk.MultiUploadOptions{PartSize: 1, ThreadPoolSize: 3})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	info, err := e.srv.Stat(testBucket, "session1/f.bin")
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
}
