package cos

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"
)

const testPartSize = 1 << 20 // MinPartSize

// putMultipart uploads data to key in parts of testPartSize and completes it.
func putMultipart(t *testing.T, c *cossdk.Client, key string, data []byte) {
	t.Helper()
	ctx := context.Background()
	init, _, err := c.Object.InitiateMultipartUpload(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := (len(data) + testPartSize - 1) / testPartSize
	etags := uploadParts(t, c, key, init.UploadID, data, testPartSize, seq(n))
	if _, _, err := c.Object.CompleteMultipartUpload(ctx, key, init.UploadID, completeOpt(etags, seq(n)...)); err != nil {
		t.Fatalf("complete %s: %v", key, err)
	}
}

// bucketFiles counts the metadata and data files in the test bucket's folder.
func bucketFiles(t *testing.T, e *env) (meta, data int) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.dir, objectsDir, testBucket))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, en := range entries {
		switch filepath.Ext(en.Name()) {
		case ".json":
			meta++
		case ".data":
			data++
		default:
			t.Errorf("unexpected file %s in bucket folder", en.Name())
		}
	}
	return meta, data
}

// checkReads reads key back through the SDK whole and with Ranges that cross
// part boundaries, and checks HEAD.
func checkReads(t *testing.T, c *cossdk.Client, key string, data []byte) {
	t.Helper()
	ctx := context.Background()
	size := len(data)
	tests := []struct {
		rng    string
		lo, hi int // expected slice data[lo:hi]
	}{
		{"", 0, size},
		{"bytes=0-", 0, size},
		{fmt.Sprintf("bytes=%d-%d", testPartSize-10, testPartSize+9), testPartSize - 10, testPartSize + 10},
		{fmt.Sprintf("bytes=%d-%d", testPartSize, testPartSize), testPartSize, testPartSize + 1},
		{fmt.Sprintf("bytes=%d-%d", testPartSize-1, 2*testPartSize), testPartSize - 1, 2*testPartSize + 1},
		{fmt.Sprintf("bytes=%d-%d", 100, size-100), 100, size - 99},
		{"bytes=-5000", size - 5000, size},
		{fmt.Sprintf("bytes=%d-", 2*testPartSize-3), 2*testPartSize - 3, size},
	}
	for _, tt := range tests {
		t.Run("range "+tt.rng, func(t *testing.T) {
			var opt *cossdk.ObjectGetOptions
			if tt.rng != "" {
				opt = &cossdk.ObjectGetOptions{Range: tt.rng}
			}
			resp, err := c.Object.Get(ctx, key, opt)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if !bytes.Equal(got, data[tt.lo:tt.hi]) {
				t.Fatalf("got %d bytes, want data[%d:%d] (%d bytes), contents differ", len(got), tt.lo, tt.hi, tt.hi-tt.lo)
			}
			if tt.rng != "" && resp.StatusCode != http.StatusPartialContent && !(tt.lo == 0 && tt.hi == size) {
				t.Fatalf("status %d, want 206", resp.StatusCode)
			}
		})
	}
	resp, err := c.Object.Head(ctx, key, nil)
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	wantCRC := strconv.FormatUint(crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)), 10)
	if resp.ContentLength != int64(size) || resp.Header.Get("x-cos-hash-crc64ecma") != wantCRC {
		t.Fatalf("head: length %d crc %s, want %d %s", resp.ContentLength, resp.Header.Get("x-cos-hash-crc64ecma"), size, wantCRC)
	}
}

// TestMultipartObjectKeepsPartFiles checks a completed multipart object is
// stored as its parts' files (nothing copied) and reads back correctly.
func TestMultipartObjectKeepsPartFiles(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.grant)
	data := randomBytes(t, 3*testPartSize+777)
	putMultipart(t, c, "session1/m.mp4", data)
	if meta, files := bucketFiles(t, e); meta != 1 || files != 4 {
		t.Fatalf("bucket holds %d metadata and %d data files, want 1 and 4 (one per part)", meta, files)
	}
	checkReads(t, c, "session1/m.mp4", data)
	assertObject(t, e.srv, "session1/m.mp4", data)
	if left, _ := os.ReadDir(filepath.Join(e.dir, uploadsDir)); len(left) != 0 {
		t.Fatalf("uploads left: %v", left)
	}
}

// TestMultipartOverwriteDeleteRemovesFiles overwrites and deletes objects of
// both kinds and counts the files left in the bucket folder.
func TestMultipartOverwriteDeleteRemovesFiles(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.grant)
	ctx := context.Background()
	const key = "session1/o.bin"
	multi := randomBytes(t, 2*testPartSize+1)
	multi2 := randomBytes(t, 3*testPartSize)
	single := []byte("single put")
	steps := []struct {
		name       string
		do         func()
		meta, data int
		want       []byte // nil: object absent
	}{
		{"multipart", func() { putMultipart(t, c, key, multi) }, 1, 3, multi},
		{"put over multipart", func() { putBytes(t, c, key, single) }, 1, 1, single},
		{"multipart over put", func() { putMultipart(t, c, key, multi) }, 1, 3, multi},
		{"multipart over multipart", func() { putMultipart(t, c, key, multi2) }, 1, 3, multi2},
		{"delete multipart", func() {
			if _, err := c.Object.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
		}, 0, 0, nil},
	}
	for _, st := range steps {
		st.do()
		if meta, data := bucketFiles(t, e); meta != st.meta || data != st.data {
			t.Fatalf("%s: %d metadata and %d data files, want %d and %d", st.name, meta, data, st.meta, st.data)
		}
		if st.want == nil {
			if _, err := e.srv.Stat(testBucket, key); !os.IsNotExist(unwrapAll(err)) {
				t.Fatalf("%s: Stat = %v, want not exist", st.name, err)
			}
			continue
		}
		assertObject(t, e.srv, key, st.want)
	}
}

// TestMultipartReaderOutlivesDelete opens a multipart object, deletes and
// then overwrites it, and still reads the old bytes to the end; the old part
// files go when the reader closes.
func TestMultipartReaderOutlivesDelete(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.grant)
	ctx := context.Background()
	const key = "session1/r.bin"
	data := randomBytes(t, 3*testPartSize+5)
	putMultipart(t, c, key, data)
	r, _, err := e.srv.Open(testBucket, key)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Object.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	putBytes(t, c, key, []byte("new"))
	if _, data := bucketFiles(t, e); data != 1+4 {
		t.Fatalf("%d data files while the reader is open, want 5 (new object + 4 pinned parts)", data)
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(append(head, rest...), data) {
		t.Fatalf("reader after delete: %d bytes, %v", len(head)+len(rest), err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if meta, data := bucketFiles(t, e); meta != 1 || data != 1 {
		t.Fatalf("after Close: %d metadata and %d data files, want 1 and 1", meta, data)
	}
}

// TestMultipartRestart completes a multipart object, starts a new server on
// the same dir, and reads, overwrites and deletes it there.
func TestMultipartRestart(t *testing.T) {
	e := newEnv(t)
	const key = "session1/persist.mp4"
	data := randomBytes(t, 2*testPartSize+4321)
	putMultipart(t, e.client(e.grant), key, data)
	putBytes(t, e.client(e.grant), "session1/one.txt", []byte("one file"))
	e.http.Close()

	e.start()
	c := e.client(e.grant)
	info, err := e.srv.Stat(testBucket, key)
	if err != nil || info.Size != int64(len(data)) || info.CRC64 != crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)) {
		t.Fatalf("Stat after restart = %+v, %v", info, err)
	}
	checkReads(t, c, key, data)
	assertObject(t, e.srv, "session1/one.txt", []byte("one file"))
	putBytes(t, c, key, []byte("replaced"))
	if _, err := c.Object.Delete(context.Background(), "session1/one.txt"); err != nil {
		t.Fatal(err)
	}
	if meta, files := bucketFiles(t, e); meta != 1 || files != 1 {
		t.Fatalf("after overwrite and delete: %d metadata and %d data files, want 1 and 1", meta, files)
	}
}
