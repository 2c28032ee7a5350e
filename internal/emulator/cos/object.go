package cos

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
)

func (s *Server) putObject(rq *request) error {
	if rq.r.Header.Get("x-cos-copy-source") != "" {
		return errNotImplemented("PUT with x-cos-copy-source (copy)")
	}
	b, err := s.receiveBody(rq)
	if err != nil {
		return err
	}
	m := objectMeta{Key: rq.key, Size: b.size, ETag: b.etag(), CRC64: b.crc64,
		ContentType: contentType(rq.r), ModTime: s.now().UTC(), Meta: userMeta(rq.r.Header)}
	if err := s.installObject(rq.bucket, m, []dataSource{{Path: b.path, Size: b.size}}); err != nil {
		_ = os.Remove(b.path)
		return err
	}
	h := rq.w.Header()
	h.Set("ETag", m.ETag)
	h.Set("x-cos-hash-crc64ecma", strconv.FormatUint(m.CRC64, 10))
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// getObject serves GetObject and HeadObject, with Range and conditionals.
func (s *Server) getObject(rq *request) error {
	f, m, err := s.openObject(rq.bucket, rq.key)
	if errors.Is(err, fs.ErrNotExist) {
		return errNoSuchKey()
	}
	if err != nil {
		return err
	}
	defer f.Close()
	h := rq.w.Header()
	h.Set("ETag", m.ETag)
	h.Set("Content-Type", m.ContentType)
	h.Set("x-cos-hash-crc64ecma", strconv.FormatUint(m.CRC64, 10))
	h.Set("x-cos-storage-class", "STANDARD")
	for k, v := range m.Meta {
		h.Set(k, v)
	}
	if v := rq.r.URL.Query().Get("response-content-type"); v != "" {
		h.Set("Content-Type", v)
	}
	http.ServeContent(rq.w, rq.r, "", m.ModTime, f)
	return nil
}

func (s *Server) deleteObject(rq *request) error {
	if err := s.deleteObjectFiles(rq.bucket, rq.key); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func contentType(r *http.Request) string {
	if v := r.Header.Get("Content-Type"); v != "" {
		return v
	}
	return "application/octet-stream"
}

// userMeta collects x-cos-meta-* headers (names lower-cased).
func userMeta(h http.Header) map[string]string {
	var m map[string]string
	for k, vs := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "x-cos-meta-") || len(vs) == 0 {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[lk] = vs[0]
	}
	return m
}
