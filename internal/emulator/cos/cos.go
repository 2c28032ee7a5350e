// Package cos emulates the Tencent Cloud COS XML API for one bucket per request Host, storing objects on disk.
package cos

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Grant is a temporary certificate issued by ApplyUpload.
type Grant struct {
	SecretID, SecretKey, Token string
	Bucket, Region             string
	Prefixes                   []string // object keys the grant may touch (key prefixes, no leading "/")
	Expires                    time.Time
}

// Authorizer looks up the grant that owns a SecretId.
type Authorizer interface {
	Grant(secretID string) (Grant, bool)
}

// Options tunes a Server.
type Options struct {
	Now           func() time.Time
	Logger        *slog.Logger
	AllowUnsigned bool  // accept unsigned PutObject/UploadPart (benchmarks only)
	MaxBodyBytes  int64 // per object or part; default 5 GiB
	// BodyIdleTimeout cuts a request whose body stalls this long between
	// reads (default 2m), so a client that sends less than its
	// Content-Length cannot hold a handler forever.
	BodyIdleTimeout time.Duration
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Size        int64
	ETag        string // quoted
	CRC64       uint64 // CRC-64/XZ (ECMA) of the whole object
	ContentType string
	ModTime     time.Time
}

// Limits COS applies.
const (
	DefaultMaxBodyBytes = 5 << 30
	MinPartSize         = 1 << 20
	MaxPartNumber       = 10000
	maxXMLBytes         = 2 << 20
	signSkew            = 15 * time.Minute
)

// Server is an http.Handler serving the COS XML API.
type Server struct {
	dir     string
	auth    Authorizer
	now     func() time.Time
	log     *slog.Logger
	unsign  bool
	maxBody int64
	idle    time.Duration

	locks   keyLocks
	pins    pins
	stats   statsCollector
	bufPool sync.Pool
}

// New opens (or creates) a store under dataDir. Objects and in-progress
// multipart uploads found there are served again.
func New(dataDir string, auth Authorizer, opts Options) (*Server, error) {
	if dataDir == "" {
		return nil, fmt.Errorf("cos emulator: data dir is empty")
	}
	if auth == nil {
		return nil, fmt.Errorf("cos emulator: nil Authorizer")
	}
	for _, d := range []string{objectsDir, uploadsDir, tmpDir} {
		if err := os.MkdirAll(filepath.Join(dataDir, d), 0o755); err != nil {
			return nil, fmt.Errorf("cos emulator: create %s: %w", d, err)
		}
	}
	s := &Server{dir: dataDir, auth: auth, now: opts.Now, log: opts.Logger,
		unsign: opts.AllowUnsigned, maxBody: opts.MaxBodyBytes}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	s.idle = opts.BodyIdleTimeout
	if s.idle <= 0 {
		s.idle = 2 * time.Minute
	}
	if err := clearDir(filepath.Join(dataDir, tmpDir)); err != nil {
		return nil, fmt.Errorf("cos emulator: %w", err)
	}
	s.locks.m = map[string]*keyLock{}
	s.stats.init()
	s.bufPool.New = func() any { b := make([]byte, 256<<10); return &b }
	return s, nil
}

// clearDir removes leftovers (bodies cut off by a crash) from dir.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("clean %s: %w", dir, err)
		}
	}
	return nil
}

var hostRE = regexp.MustCompile(`^([a-z0-9][a-z0-9-]*[a-z0-9])\.cos\.([a-z]+(?:-[a-z0-9]+)+)\.myqcloud\.com$`)

// ParseHost splits "<bucket>.cos.<region>.myqcloud.com[:port]".
func ParseHost(host string) (bucket, region string, ok bool) {
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	m := hostRE.FindStringSubmatch(h)
	if m == nil || len(m[1]) > 63 {
		return "", "", false
	}
	return m[1], m[2], true
}

// Operation names the COS operation a request asks for, or "" when r is not
// a COS request this emulator knows.
func Operation(r *http.Request) string {
	if _, _, ok := ParseHost(r.Host); !ok {
		return ""
	}
	q := r.URL.Query()
	if strings.TrimPrefix(r.URL.Path, "/") == "" {
		if r.Method == http.MethodGet && q.Has("uploads") {
			return "ListMultipartUploads"
		}
		return ""
	}
	return objectOperation(r.Method, q.Has("uploads"), q.Has("uploadId"), q.Has("partNumber"))
}

func objectOperation(method string, uploads, uploadID, partNumber bool) string {
	switch method {
	case http.MethodPut:
		if uploadID || partNumber {
			return "UploadPart"
		}
		return "PutObject"
	case http.MethodPost:
		if uploads {
			return "InitiateMultipartUpload"
		}
		if uploadID {
			return "CompleteMultipartUpload"
		}
	case http.MethodGet:
		if uploadID {
			return "ListParts"
		}
		return "GetObject"
	case http.MethodHead:
		return "HeadObject"
	case http.MethodDelete:
		if uploadID {
			return "AbortMultipartUpload"
		}
		return "DeleteObject"
	}
	return ""
}

// request is one COS call after routing and authentication.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	id     string
	op     string
	bucket string
	region string
	key    string
	grant  Grant
}

// ServeHTTP serves one COS request; r.Host is the virtual host.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rq := &request{w: w, r: r, id: newRequestID(), key: strings.TrimPrefix(r.URL.Path, "/")}
	w.Header().Set("x-cos-request-id", rq.id)
	w.Header().Set("Server", "tencent-cos")
	var ok bool
	if rq.bucket, rq.region, ok = ParseHost(r.Host); !ok {
		s.fail(rq, errInvalidHost(r.Host))
		return
	}
	rq.op = Operation(r)
	s.stats.request(rq.op)
	if rq.op == "" {
		s.fail(rq, errNotImplemented(r.Method))
		return
	}
	if err := s.authenticate(rq); err != nil {
		s.fail(rq, err)
		return
	}
	s.dispatch(rq)
}

func (s *Server) dispatch(rq *request) {
	handlers := map[string]func(*request) error{
		"PutObject":               s.putObject,
		"GetObject":               s.getObject,
		"HeadObject":              s.getObject,
		"DeleteObject":            s.deleteObject,
		"InitiateMultipartUpload": s.initiateUpload,
		"UploadPart":              s.uploadPart,
		"CompleteMultipartUpload": s.completeUpload,
		"AbortMultipartUpload":    s.abortUpload,
		"ListParts":               s.listParts,
		"ListMultipartUploads":    s.listUploads,
	}
	if err := handlers[rq.op](rq); err != nil {
		s.fail(rq, err)
	}
}

func newRequestID() string { return randomHex(12) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b)
}
