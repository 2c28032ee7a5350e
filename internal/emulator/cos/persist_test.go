package cos

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"
)

// TestRestartContinuesUpload stops the server mid-upload, starts a new one on
// the same data dir, and finishes the upload without resending parts.
func TestRestartContinuesUpload(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const mib = 1 << 20
	data := randomBytes(t, 3*mib+100)
	small := []byte("persisted object")
	putBytes(t, e.client(e.grant), "session1/small.txt", small)
	c := e.client(e.grant)
	init, _, err := c.Object.InitiateMultipartUpload(ctx, "session1/v.mp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	etags := uploadParts(t, c, "session1/v.mp4", init.UploadID, data, mib, []int{1, 2})
	e.http.Close()
	// A body cut off by the crash is left in tmp/; the new server must clear it.
	if err := os.WriteFile(filepath.Join(e.dir, tmpDir, "body-crash"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	e.start()
	c = e.client(e.grant)
	ups, _, err := c.Bucket.ListMultipartUploads(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 1 || ups.Uploads[0].UploadID != init.UploadID || ups.Uploads[0].Key != "session1/v.mp4" {
		t.Fatalf("uploads after restart = %+v", ups.Uploads)
	}
	lp, _, err := c.Object.ListParts(ctx, "session1/v.mp4", init.UploadID, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := map[int]string{}
	for _, p := range lp.Parts {
		done[p.PartNumber] = p.ETag
	}
	if len(done) != 2 || done[1] != etags[1] || done[2] != etags[2] {
		t.Fatalf("parts after restart = %+v", lp.Parts)
	}
	for n, et := range uploadParts(t, c, "session1/v.mp4", init.UploadID, data, mib, []int{3, 4}) {
		done[n] = et
	}
	if _, _, err := c.Object.CompleteMultipartUpload(ctx, "session1/v.mp4", init.UploadID, completeOpt(done, 1, 2, 3, 4)); err != nil {
		t.Fatalf("complete: %v", err)
	}
	assertObject(t, e.srv, "session1/v.mp4", data)
	assertObject(t, e.srv, "session1/small.txt", small)
	got := e.srv.Stats().PartsReceived[init.UploadID]
	if len(got) != 2 || got[3] != 1 || got[4] != 1 {
		t.Fatalf("parts received after restart = %v, want only 3 and 4 once", got)
	}
	if left, _ := os.ReadDir(filepath.Join(e.dir, tmpDir)); len(left) != 0 {
		t.Fatalf("tmp not cleared: %v", left)
	}
}

func assertObject(t *testing.T, s *Server, key string, want []byte) {
	t.Helper()
	f, info, err := s.Open(testBucket, key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer f.Close()
	got, _ := io.ReadAll(f)
	if !bytes.Equal(got, want) || info.Size != int64(len(want)) {
		t.Fatalf("%s: %d bytes (info %d), want %d", key, len(got), info.Size, len(want))
	}
}

func TestDeleteAndMissing(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.grant)
	ctx := context.Background()
	putBytes(t, c, "session1/d", []byte("bye"))
	f, _, err := e.srv.Open(testBucket, "session1/d")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := c.Object.Delete(ctx, "session1/d"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.Object.Delete(ctx, "session1/d"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	resp, err := c.Object.Head(ctx, "session1/d", nil)
	if err == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("head after delete: %v", err)
	}
	if _, err := c.Object.Get(ctx, "session1/d", nil); cosCode(err) != "NoSuchKey" {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := e.srv.Stat(testBucket, "session1/d"); !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("Stat after delete: %v", err)
	}
	if _, err := e.srv.Stat("../etc", "x"); err == nil {
		t.Fatal("Stat accepted a path-like bucket")
	}
	// A reader that opened the object before the delete still reads it.
	if b, _ := io.ReadAll(f); string(b) != "bye" {
		t.Fatalf("open file read %q", b)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestListUploadsFiltersGrant(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	wide := e.grant
	wide.SecretID, wide.Prefixes = "AKIDwide", []string{""}
	e.grants.add(wide)
	for _, k := range []string{"session1/a", "session1/b", "session2/c"} {
		if _, _, err := e.client(wide).Object.InitiateMultipartUpload(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		grant  Grant
		opt    *cossdk.ListMultipartUploadsOptions
		expect string
	}{
		{wide, nil, "session1/a,session1/b,session2/c"},
		{e.grant, nil, "session1/a,session1/b"},
		{wide, &cossdk.ListMultipartUploadsOptions{Prefix: "session2/"}, "session2/c"},
		{wide, &cossdk.ListMultipartUploadsOptions{MaxUploads: 1}, "session1/a"},
	}
	for i, tt := range tests {
		res, _, err := e.client(tt.grant).Bucket.ListMultipartUploads(ctx, tt.opt)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, u := range res.Uploads {
			keys = append(keys, u.Key)
		}
		if got := strings.Join(keys, ","); got != tt.expect {
			t.Errorf("case %d: uploads %s, want %s", i, got, tt.expect)
		}
	}
}

// rawPut writes a signed PUT by hand on a TCP connection; send is what goes
// after the headers. It returns the status line and body ("" if the server
// closed without answering).
func rawPut(t *testing.T, e *env, key string, contentLength int, send []byte, halfClose bool) (status string, body string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", e.http.URL+"/"+key, nil)
	req.Host = testHost
	req.Header.Set("Content-Length", fmt.Sprint(contentLength))
	now := time.Now()
	signRequestForTest(req, e.grant, now)
	conn, err := net.Dial("tcp", e.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var head bytes.Buffer
	fmt.Fprintf(&head, "PUT /%s HTTP/1.1\r\nHost: %s\r\n", key, testHost)
	for k, vs := range req.Header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, vs[0])
	}
	head.WriteString("\r\n")
	if _, err := conn.Write(append(head.Bytes(), send...)); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status, string(b)
}

func TestRawBodies(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.BodyIdleTimeout = 300 * time.Millisecond })
	tests := []struct {
		name       string
		cl         int
		send       string
		halfClose  bool
		wantCode   string // "" = stored
		wantStored string
	}{
		{name: "exact", cl: 5, send: "hello", wantStored: "hello"},
		{name: "short then close", cl: 100, send: "hello", halfClose: true, wantCode: "IncompleteBody"},
		{name: "short then stall", cl: 100, send: "hello", wantCode: "IncompleteBody"},
		{name: "longer than content-length", cl: 3, send: "hello", wantStored: "hel"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := fmt.Sprintf("session1/raw%d", i)
			start := time.Now()
			status, body := rawPut(t, e, key, tt.cl, []byte(tt.send), tt.halfClose)
			if time.Since(start) > 5*time.Second {
				t.Fatalf("server took %v", time.Since(start))
			}
			_, err := e.srv.Stat(testBucket, key)
			if tt.wantCode != "" {
				if err == nil {
					t.Fatal("partial body was stored")
				}
				if status != "" && !strings.Contains(body, tt.wantCode) {
					t.Fatalf("answer %s %s, want %s", status, body, tt.wantCode)
				}
				return
			}
			if !strings.HasPrefix(status, "200") {
				t.Fatalf("answer %s %s", status, body)
			}
			assertObject(t, e.srv, key, []byte(tt.wantStored))
		})
	}
	if left, _ := os.ReadDir(filepath.Join(e.dir, tmpDir)); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}
