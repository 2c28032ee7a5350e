package cos

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"testing"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"
)

func TestPutGetHeadRange(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.grant)
	ctx := context.Background()
	tests := []struct {
		name string
		key  string
		size int
	}{
		{"empty", "session1/empty.bin", 0},
		{"small", "session1/a b/腾讯云(1).mp4", 1000},
		{"large", "session1/big.ts", 3<<20 + 17},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := randomBytes(t, tt.size)
			opt := &cossdk.ObjectPutOptions{ObjectPutHeaderOptions: &cossdk.ObjectPutHeaderOptions{
				ContentType: "video/mp4", XCosMetaXXX: &http.Header{"x-cos-meta-origin": []string{"test"}}}}
			resp, err := c.Object.Put(ctx, tt.key, bytes.NewReader(data), opt)
			if err != nil {
				t.Fatalf("put: %v", err)
			}
			sum := md5.Sum(data)
			wantETag := `"` + hex.EncodeToString(sum[:]) + `"`
			if got := resp.Header.Get("ETag"); got != wantETag {
				t.Errorf("ETag = %s, want %s", got, wantETag)
			}
			wantCRC := strconv.FormatUint(crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)), 10)
			if got := resp.Header.Get("x-cos-hash-crc64ecma"); got != wantCRC {
				t.Errorf("crc = %s, want %s", got, wantCRC)
			}
			head, err := c.Object.Head(ctx, tt.key, nil)
			if err != nil {
				t.Fatalf("head: %v", err)
			}
			if head.ContentLength != int64(tt.size) || head.Header.Get("ETag") != wantETag ||
				head.Header.Get("Content-Type") != "video/mp4" || head.Header.Get("x-cos-meta-origin") != "test" {
				t.Errorf("head headers = %v", head.Header)
			}
			get, err := c.Object.Get(ctx, tt.key, nil)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			got, _ := io.ReadAll(get.Body)
			get.Body.Close()
			if !bytes.Equal(got, data) {
				t.Fatalf("get returned %d bytes, want %d", len(got), len(data))
			}
			if tt.size < 10 {
				return
			}
			rg, err := c.Object.Get(ctx, tt.key, &cossdk.ObjectGetOptions{Range: "bytes=3-9"})
			if err != nil {
				t.Fatalf("range get: %v", err)
			}
			part, _ := io.ReadAll(rg.Body)
			rg.Body.Close()
			if rg.StatusCode != http.StatusPartialContent || !bytes.Equal(part, data[3:10]) {
				t.Fatalf("range: status %d, %d bytes", rg.StatusCode, len(part))
			}
			info, err := e.srv.Stat(testBucket, tt.key)
			if err != nil || info.Size != int64(tt.size) || info.ETag != wantETag || fmt.Sprint(info.CRC64) != wantCRC {
				t.Fatalf("Stat = %+v, %v", info, err)
			}
		})
	}
}
