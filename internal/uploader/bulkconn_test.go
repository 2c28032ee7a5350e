package uploader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/iotest"
)

// writeRecorder is a connection that records the size of every write.
type writeRecorder struct {
	net.Conn
	buf    bytes.Buffer
	writes []int
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.buf.Write(p)
}

// TestBulkConnWrites: a body of up to bodyChunk goes out in one write, a
// larger one in writes of at most streamChunk, whole, from readers that
// return every size of read.
func TestBulkConnWrites(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), (bodyChunk*2+1000)/16)
	cases := []struct {
		name       string
		r          io.Reader
		n          int // bytes to arrive
		maxWrite   int
		wantWrites int // 0: not checked (short reads)
	}{
		{"small body, one write", io.LimitReader(bytes.NewReader(body), bodyChunk), bodyChunk, bodyChunk, 1},
		{"tiny body", io.LimitReader(bytes.NewReader(body), 100), 100, bodyChunk, 1},
		{"large body, streamed", io.LimitReader(bytes.NewReader(body), int64(len(body))), len(body), streamChunk, (len(body) + streamChunk - 1) / streamChunk},
		{"unknown length, streamed", struct{ io.Reader }{bytes.NewReader(body)}, len(body), streamChunk, (len(body) + streamChunk - 1) / streamChunk},
		{"small body, short reads", io.LimitReader(iotest.HalfReader(bytes.NewReader(body)), 5000), 5000, bodyChunk, 0},
		{"one byte reads", iotest.OneByteReader(io.LimitReader(bytes.NewReader(body), 5000)), 5000, streamChunk, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &writeRecorder{}
			n, err := bulkConn{Conn: rec, bufs: newCopyBuffers()}.ReadFrom(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(tc.n) || !bytes.Equal(rec.buf.Bytes(), body[:tc.n]) {
				t.Fatalf("%d bytes reported, %d written, want %d equal to the body's first", n, rec.buf.Len(), tc.n)
			}
			for _, w := range rec.writes {
				if w > tc.maxWrite {
					t.Fatalf("a write of %d bytes, more than %d", w, tc.maxWrite)
				}
			}
			if tc.wantWrites > 0 && len(rec.writes) != tc.wantWrites {
				t.Fatalf("%d writes %v, want %d", len(rec.writes), rec.writes, tc.wantWrites)
			}
		})
	}
}

// TestDefaultTransportSendsBodies sends bodies of several sizes through
// DefaultTransport (its connections are bulkConn) to a loopback server,
// from a reader net/http cannot see the length of: every byte arrives.
func TestDefaultTransportSendsBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		if _, err := io.Copy(h, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write(h.Sum(nil))
	}))
	defer srv.Close()
	tr := DefaultTransport()
	defer tr.CloseIdleConnections()
	dialed := 0
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if _, ok := c.(bulkConn); !ok && err == nil {
			t.Errorf("DefaultTransport dials %T, want bulkConn", c)
		}
		dialed++
		return c, err
	}
	client := &http.Client{Transport: tr}
	for _, size := range []int{1, 4095, bodyChunk - 1, bodyChunk, bodyChunk + 1, 3*bodyChunk + 17} {
		body := bytes.Repeat([]byte{byte(size)}, size)
		req, err := http.NewRequest(http.MethodPut, srv.URL, iotest.HalfReader(bytes.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(size)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := sha256.Sum256(body)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want[:]) {
			t.Fatalf("%d bytes: status %d, server's digest differs", size, resp.StatusCode)
		}
	}
	if dialed == 0 {
		t.Fatal("no connection dialed")
	}
}
