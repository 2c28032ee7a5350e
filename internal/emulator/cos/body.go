package cos

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

var crcTable = crc64.MakeTable(crc64.ECMA)

// received is a request body stored in a temp file.
type received struct {
	path  string
	size  int64
	md5   []byte
	crc64 uint64
}

func (b received) etag() string { return `"` + hex.EncodeToString(b.md5) + `"` }

// receiveBody streams r's body into a temp file, hashing MD5 and CRC-64 in
// the same pass. The body must be complete: a short body, one over the size
// limit or one that fails Content-MD5 is an error and leaves no file behind.
func (s *Server) receiveBody(rq *request) (received, error) {
	r := rq.r
	wantMD5, err := contentMD5(r)
	if err != nil {
		return received{}, err
	}
	if r.ContentLength > s.maxBody {
		return received{}, errEntityTooLarge(r.ContentLength, s.maxBody)
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "body-")
	if err != nil {
		return received{}, fmt.Errorf("create temp body file: %w", err)
	}
	b := received{path: f.Name()}
	md5h, crch := md5.New(), crc64.New(crcTable)
	bufp := s.bufPool.Get().(*[]byte)
	body := &idleReader{r: r.Body, rc: http.NewResponseController(rq.w), idle: s.idle}
	n, err := io.CopyBuffer(io.MultiWriter(f, md5h, crch), io.LimitReader(body, s.maxBody+1), *bufp)
	s.bufPool.Put(bufp)
	s.stats.bytes(n)
	if err != nil {
		err = bodyReadError(err, n, r.ContentLength)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close temp body file: %w", cerr)
	}
	b.size, b.md5, b.crc64 = n, md5h.Sum(nil), crch.Sum64()
	if err == nil {
		err = checkBody(r, b, wantMD5, s.maxBody)
	}
	if err != nil {
		_ = os.Remove(b.path)
		return received{}, err
	}
	return b, nil
}

func checkBody(r *http.Request, b received, wantMD5 []byte, max int64) error {
	switch {
	case b.size > max:
		return errEntityTooLarge(b.size, max)
	case r.ContentLength >= 0 && b.size != r.ContentLength:
		return errIncompleteBody(b.size, r.ContentLength)
	case wantMD5 != nil && !bytes.Equal(wantMD5, b.md5):
		return cosErr(http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.")
	}
	return nil
}

// bodyReadError maps a failed body read to COS's answer.
func bodyReadError(err error, n, want int64) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errIncompleteBody(n, want)
	}
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return errEntityTooLarge(n, maxErr.Limit)
	}
	return errIncompleteBody(n, want)
}

func errIncompleteBody(got, want int64) *Error {
	return cosErr(http.StatusBadRequest, "IncompleteBody",
		"You did not provide the number of bytes specified by the Content-Length HTTP header (got %d of %d).", got, want)
}

func errEntityTooLarge(size, max int64) *Error {
	return cosErr(http.StatusBadRequest, "EntityTooLarge",
		"Your proposed upload (%d bytes) exceeds the maximum allowed object size (%d bytes).", size, max)
}

// contentMD5 decodes the Content-MD5 header (nil when absent).
func contentMD5(r *http.Request) ([]byte, error) {
	v := r.Header.Get("Content-MD5")
	if v == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != md5.Size {
		return nil, cosErr(http.StatusBadRequest, "InvalidDigest", "The Content-MD5 you specified is not valid.")
	}
	return b, nil
}

// idleReader pushes the connection's read deadline forward before each read,
// so a body that stops arriving fails after idle instead of hanging.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (d *idleReader) Read(p []byte) (int, error) {
	_ = d.rc.SetReadDeadline(time.Now().Add(d.idle)) // unsupported writers just keep their own timeouts
	return d.r.Read(p)
}
