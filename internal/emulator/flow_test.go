package emulator_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
	cossdk "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
)

func TestPutFlow(t *testing.T) {
	e := emulatortest.Start(t)
	vc := defaultClient(t, e)
	ap := apply(t, vc, func(r *vod.ApplyUploadRequest) {
		r.CoverType = common.StringPtr("jpg")
		r.SourceContext = common.StringPtr("job-1")
	})
	if !strings.HasSuffix(*ap.StorageBucket, "-1250000000") || *ap.StorageRegion != "ap-guangzhou" {
		t.Fatalf("bucket %s region %s", *ap.StorageBucket, *ap.StorageRegion)
	}
	if !strings.HasPrefix(*ap.MediaStoragePath, "/") || !strings.HasSuffix(*ap.MediaStoragePath, ".mp4") || ap.CoverStoragePath == nil {
		t.Fatalf("paths %s %v", *ap.MediaStoragePath, ap.CoverStoragePath)
	}
	media, cover := randomBytes(300<<10, 1), randomBytes(5<<10, 2)
	cc := cosClient(t, e, ap)
	resp := putObject(t, cc, (*ap.MediaStoragePath)[1:], media)
	if got := resp.Header.Get("x-cos-hash-crc64ecma"); got != crcOf(media) {
		t.Fatalf("crc header %s, want %s", got, crcOf(media))
	}
	putObject(t, cc, (*ap.CoverStoragePath)[1:], cover)
	cm := commit(t, vc, *ap.VodSessionKey)
	if *cm.FileId == "" || cm.CoverUrl == nil {
		t.Fatalf("commit %+v", cm)
	}
	r, body := fetch(t, *cm.MediaUrl, nil)
	if r.StatusCode != 200 || !bytes.Equal(body, media) || r.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("GET media: %d %s, %d bytes, equal=%v", r.StatusCode, r.Header.Get("Content-Type"), len(body), bytes.Equal(body, media))
	}
	r, body = fetch(t, *cm.MediaUrl, http.Header{"Range": {"bytes=100-199"}})
	if r.StatusCode != http.StatusPartialContent || !bytes.Equal(body, media[100:200]) {
		t.Fatalf("range GET: %d, %d bytes", r.StatusCode, len(body))
	}
	r, body = fetch(t, *cm.CoverUrl, nil)
	if r.StatusCode != 200 || !bytes.Equal(body, cover) || r.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("GET cover: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	ms := e.Media()
	if len(ms) != 1 || ms[0].FileID != *cm.FileId || ms[0].SourceContext != "job-1" || ms[0].Size != int64(len(media)) {
		t.Fatalf("Media() = %+v", ms)
	}
	if s := e.Stats(); s.Commits != 1 || s.Requests["ApplyUpload"] != 1 || s.Requests["PutObject"] != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestMultipartFlow(t *testing.T) {
	e := emulatortest.Start(t)
	vc := defaultClient(t, e)
	ap := apply(t, vc, nil)
	cc := cosClient(t, e, ap)
	key := (*ap.MediaStoragePath)[1:]
	data := randomBytes(2<<20+123<<10, 3)
	parts := [][]byte{data[:1<<20], data[1<<20 : 2<<20], data[2<<20:]}
	ctx := context.Background()
	init, _, err := cc.Object.InitiateMultipartUpload(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	opt := &cossdk.CompleteMultipartUploadOptions{}
	for i, p := range parts {
		resp, err := cc.Object.UploadPart(ctx, key, init.UploadID, i+1, bytes.NewReader(p), nil)
		if err != nil { // the SDK verifies x-cos-hash-crc64ecma of the part here
			t.Fatalf("part %d: %v", i+1, err)
		}
		opt.Parts = append(opt.Parts, cossdk.Object{PartNumber: i + 1, ETag: resp.Header.Get("ETag")})
	}
	_, resp, err := cc.Object.CompleteMultipartUpload(ctx, key, init.UploadID, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("x-cos-hash-crc64ecma"); got != crcOf(data) {
		t.Fatalf("complete crc %s, want %s", got, crcOf(data))
	}
	cm := commit(t, vc, *ap.VodSessionKey)
	r, body := fetch(t, *cm.MediaUrl, nil)
	if r.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("GET media: %d, %d bytes", r.StatusCode, len(body))
	}
	if n := e.Stats().COS.PartsReceived[init.UploadID]; len(n) != 3 {
		t.Fatalf("parts received %v", n)
	}
}
