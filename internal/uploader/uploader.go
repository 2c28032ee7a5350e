// Package uploader uploads one file or HLS/DASH bundle into Tencent Cloud VOD
// (ApplyUpload, COS single or multipart PUTs with CRC64 checks, CommitUpload),
// resumably and with retries.
package uploader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/credentials"
)

// Config configures an Uploader. Zero values take the documented defaults.
type Config struct {
	Region      string // API access region, e.g. ap-guangzhou (required)
	Endpoint    string // API host[:port], default vod.tencentcloudapi.com
	Scheme      string // API scheme, default https
	COSEndpoint string // host:port to send COS requests to instead of <bucket>.cos.<region>.myqcloud.com (Host header unchanged)
	COSScheme   string // COS scheme, default https (Scheme when COSEndpoint is set)
	Credentials Credentials

	PartSize           int64 // default 8 MiB; raised so no object exceeds 10000 parts
	MultipartThreshold int64 // objects larger than this use multipart; default PartSize
	// PartsInFlight caps the parts in flight per upload, default 32;
	// ObjectsInFlight the whole small objects (bundle files), default 128.
	// Below the caps the number adapts to the measured bandwidth-delay
	// product.
	PartsInFlight   int
	ObjectsInFlight int
	Retry           RetryPolicy
	APITimeout      time.Duration // per VOD API call, default 60s
	CertMargin      time.Duration // a session whose certificate expires within this is not resumed; default 5m

	Transport   http.RoundTripper         // default: a tuned clone of http.DefaultTransport
	Logger      *slog.Logger              // default: discard
	BodyWrapper func(io.Reader) io.Reader // wraps every request body (bandwidth limit, progress)
	Now         func() time.Time          // default time.Now
}

// Default caps of the requests in flight per upload.
const (
	DefaultPartsInFlight   = 32
	DefaultObjectsInFlight = 128
)

// Limits of COS multipart uploads.
const (
	MinPartSize = 1 << 20
	MaxPartSize = 5 << 30
	MaxParts    = 10000
)

// Uploader uploads files to VOD. It is safe for concurrent use.
type Uploader struct {
	cfg Config
	log *slog.Logger

	clientMu   sync.Mutex // guards client and clientCred
	client     *vod.Client
	clientCred credentials.Credential
}

// New checks cfg and returns an Uploader.
func New(cfg Config) (*Uploader, error) {
	if cfg.Region == "" {
		return nil, errors.New("uploader: Region (the API access region) is required")
	}
	if cfg.Credentials == nil {
		return nil, errors.New("uploader: Credentials are required")
	}
	if cfg.PartSize != 0 && (cfg.PartSize < MinPartSize || cfg.PartSize > MaxPartSize) {
		return nil, fmt.Errorf("uploader: PartSize %d outside %d..%d", cfg.PartSize, MinPartSize, MaxPartSize)
	}
	if cfg.PartsInFlight < 0 || cfg.ObjectsInFlight < 0 || cfg.MultipartThreshold < 0 {
		return nil, errors.New("uploader: PartsInFlight, ObjectsInFlight and MultipartThreshold must not be negative")
	}
	cfg = withDefaults(cfg)
	return &Uploader{cfg: cfg, log: cfg.Logger}, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Endpoint == "" {
		cfg.Endpoint = "vod.tencentcloudapi.com"
	}
	if cfg.Scheme == "" {
		cfg.Scheme = "https"
	}
	if cfg.COSScheme == "" {
		cfg.COSScheme = "https"
		if cfg.COSEndpoint != "" {
			cfg.COSScheme = cfg.Scheme
		}
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = 8 << 20
	}
	if cfg.MultipartThreshold == 0 {
		cfg.MultipartThreshold = cfg.PartSize
	}
	if cfg.PartsInFlight == 0 {
		cfg.PartsInFlight = DefaultPartsInFlight
	}
	if cfg.ObjectsInFlight == 0 {
		cfg.ObjectsInFlight = DefaultObjectsInFlight
	}
	cfg.Retry = cfg.Retry.withDefaults()
	if cfg.APITimeout <= 0 {
		cfg.APITimeout = 60 * time.Second
	}
	if cfg.CertMargin == 0 {
		cfg.CertMargin = 5 * time.Minute
	}
	if cfg.Transport == nil {
		cfg.Transport = DefaultTransport()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// DefaultTransport returns the transport used when Config.Transport is nil:
// enough idle connections per host for the requests in flight at the caps
// (a connection that finds no idle slot is closed, and the next request
// pays a new handshake), larger buffers, and request bodies sent over
// plain connections in 256 KiB writes (bulkConn).
func DefaultTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           bulkDial((&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   DefaultPartsInFlight + DefaultObjectsInFlight,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        64 << 10,
	}
}

// partSizeFor returns the part size for an object of the given size: the
// configured size, raised to keep the count within MaxParts (in whole MiB).
func partSizeFor(size, configured int64) int64 {
	ps := max(configured, MinPartSize)
	if (size+ps-1)/ps > MaxParts {
		ps = (size + MaxParts - 1) / MaxParts
		ps = (ps + MinPartSize - 1) / MinPartSize * MinPartSize
	}
	return min(ps, MaxPartSize)
}

// Credentials provides the API credential; it is asked again for every
// ApplyUpload, so rotated credentials are picked up without a restart
// (credentials.ForConfig, credentials.Static).
type Credentials interface {
	Credential(ctx context.Context) (credentials.Credential, error)
}
