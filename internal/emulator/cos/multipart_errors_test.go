package cos

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"
)

func TestCompleteErrors(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.grant)
	ctx := context.Background()
	key := "session1/m.mp4"
	const mib = 1 << 20
	data := randomBytes(t, 3*mib)

	// An upload with parts 1..3 and 6 of 1 MiB, and part 5 of 10 bytes.
	newUpload := func(t *testing.T) (string, map[int]string) {
		init, _, err := c.Object.InitiateMultipartUpload(ctx, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		etags := uploadParts(t, c, key, init.UploadID, data, mib, seq(3))
		resp, err := c.Object.UploadPart(ctx, key, init.UploadID, 5, bytes.NewReader(data[:10]), nil)
		if err != nil {
			t.Fatal(err)
		}
		etags[5] = resp.Header.Get("ETag")
		resp, err = c.Object.UploadPart(ctx, key, init.UploadID, 6, bytes.NewReader(data[:mib]), nil)
		if err != nil {
			t.Fatal(err)
		}
		etags[6] = resp.Header.Get("ETag")
		return init.UploadID, etags
	}
	id, etags := newUpload(t)
	tests := []struct {
		name     string
		parts    []cossdk.Object
		upload   string
		wantCode string
	}{
		{name: "unknown part", wantCode: "InvalidPart",
			parts: []cossdk.Object{{PartNumber: 1, ETag: etags[1]}, {PartNumber: 4, ETag: etags[1]}}},
		{name: "etag mismatch", wantCode: "InvalidPart",
			parts: []cossdk.Object{{PartNumber: 1, ETag: etags[2]}, {PartNumber: 2, ETag: etags[2]}}},
		{name: "descending", wantCode: "InvalidPartOrder",
			parts: []cossdk.Object{{PartNumber: 2, ETag: etags[2]}, {PartNumber: 1, ETag: etags[1]}}},
		{name: "duplicate", wantCode: "InvalidPartOrder",
			parts: []cossdk.Object{{PartNumber: 1, ETag: etags[1]}, {PartNumber: 1, ETag: etags[1]}}},
		{name: "small part not last", wantCode: "EntityTooSmall",
			parts: []cossdk.Object{{PartNumber: 1, ETag: etags[1]}, {PartNumber: 5, ETag: etags[5]}, {PartNumber: 6, ETag: etags[6]}}},
		{name: "no parts", wantCode: "MalformedXML"},
		{name: "unknown upload", upload: strings.Repeat("0", 32), wantCode: "NoSuchUpload",
			parts: []cossdk.Object{{PartNumber: 1, ETag: etags[1]}}},
		{name: "path-like upload id", upload: "../../objects", wantCode: "NoSuchUpload",
			parts: []cossdk.Object{{PartNumber: 1, ETag: etags[1]}}},
		{name: "small last part, unquoted etag", parts: []cossdk.Object{{PartNumber: 1, ETag: etags[1]},
			{PartNumber: 2, ETag: strings.Trim(etags[2], `"`)}, {PartNumber: 5, ETag: etags[5]}}},
		{name: "completed upload is gone", wantCode: "NoSuchUpload",
			parts: []cossdk.Object{{PartNumber: 1, ETag: etags[1]}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid := id
			if tt.upload != "" {
				uid = tt.upload
			}
			_, _, err := c.Object.CompleteMultipartUpload(ctx, key, uid,
				&cossdk.CompleteMultipartUploadOptions{Parts: tt.parts})
			if got := cosCode(err); got != tt.wantCode {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
	info, err := e.srv.Stat(testBucket, key)
	if err != nil || info.Size != 2*mib+10 || !strings.HasSuffix(info.ETag, `-3"`) {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
}

func TestUploadPartErrors(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxBodyBytes = 4096 })
	c := e.client(e.grant)
	ctx := context.Background()
	key := "session1/p.bin"
	init, _, err := c.Object.InitiateMultipartUpload(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	aborted, _, err := c.Object.InitiateMultipartUpload(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Object.AbortMultipartUpload(ctx, key, aborted.UploadID, nil); err != nil {
		t.Fatalf("abort: %v", err)
	}
	tests := []struct {
		name     string
		key      string
		upload   string
		part     int
		size     int
		opt      *cossdk.ObjectUploadPartOptions
		wantCode string
	}{
		{name: "ok", part: 1, size: 100},
		{name: "part 10000", part: 10000, size: 1},
		{name: "part 0", part: 0, size: 1, wantCode: "InvalidArgument"},
		{name: "part 10001", part: 10001, size: 1, wantCode: "InvalidArgument"},
		{name: "too large", part: 2, size: 4097, wantCode: "EntityTooLarge"},
		{name: "aborted upload", upload: aborted.UploadID, part: 1, size: 1, wantCode: "NoSuchUpload"},
		{name: "upload of another key", key: "session1/other", part: 1, size: 1, wantCode: "NoSuchUpload"},
		{name: "bad content-md5", part: 3, size: 10, wantCode: "BadDigest",
			opt: &cossdk.ObjectUploadPartOptions{ContentMD5: "AAAAAAAAAAAAAAAAAAAAAA=="}},
		{name: "malformed content-md5", part: 3, size: 10, wantCode: "InvalidDigest",
			opt: &cossdk.ObjectUploadPartOptions{ContentMD5: "not base64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, id := key, init.UploadID
			if tt.key != "" {
				k = tt.key
			}
			if tt.upload != "" {
				id = tt.upload
			}
			_, err := c.Object.UploadPart(ctx, k, id, tt.part, bytes.NewReader(randomBytes(t, tt.size)), tt.opt)
			if got := cosCode(err); got != tt.wantCode {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
	res, _, err := c.Object.ListParts(ctx, key, init.UploadID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Parts) != 2 || res.Parts[0].PartNumber != 1 || res.Parts[1].PartNumber != 10000 {
		t.Fatalf("parts after errors = %+v", res.Parts)
	}
	_, err = c.Object.Put(ctx, "session1/big", bytes.NewReader(randomBytes(t, 5000)), nil)
	if got := cosCode(err); got != "EntityTooLarge" {
		t.Fatalf("big put: %q (%v)", got, err)
	}
}

func TestCompleteMalformedXML(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.grant)
	init, _, err := c.Object.InitiateMultipartUpload(context.Background(), "session1/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, body string }{
		{"not xml", "hello"},
		{"truncated", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"},
		{"wrong root", "<Other><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Other>"},
		{"bad number", "<CompleteMultipartUpload><Part><PartNumber>one</PartNumber></Part></CompleteMultipartUpload>"},
		{"too large", "<CompleteMultipartUpload>" + strings.Repeat(" ", maxXMLBytes) + "</CompleteMultipartUpload>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.rawRequest(t, "POST", "/session1/x?uploadId="+init.UploadID, []byte(tt.body),
				map[string]string{"Content-Type": "application/xml"}, &e.grant)
			if resp.StatusCode != http.StatusBadRequest || parseError(t, body).Code != "MalformedXML" {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
		})
	}
}

func FuzzParseCompleteXML(f *testing.F) {
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"abc"</ETag></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber></Part><Part/></CompleteMultipartUpload>`))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><CompleteMultipartUpload>&a;</CompleteMultipartUpload>`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := parseCompleteXML(b)
		if err != nil {
			var ce *Error
			if !errorsAs(err, &ce) || ce.Code != "MalformedXML" {
				t.Fatalf("error %v is not MalformedXML", err)
			}
			return
		}
		if len(parts) == 0 || len(parts) > MaxPartNumber {
			t.Fatalf("accepted %d parts", len(parts))
		}
		// Whatever parsed must survive the part-list check without panicking.
		_, _ = checkPartList(parts, map[int]partMeta{1: {PartNumber: 1, ETag: `"abc"`, Size: 1}})
	})
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
