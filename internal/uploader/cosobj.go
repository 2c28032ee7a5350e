package uploader

import (
	"context"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/tencentyun/cos-go-sdk-v5"

	"github.com/vodwatchd/vodwatchd/internal/crc64x"
)

// cosClient is a COS client for one session's bucket and certificate.
type cosClient struct {
	c    *cos.Client
	sc   *scrubber
	wrap func(io.Reader) io.Reader
}

// newCOS builds the client. With Config.COSEndpoint set, requests go to
// that host:port while their Host header stays the bucket's virtual host.
func (u *Uploader) newCOS(sc *scrubber, bucket, region string, cert *Cert) (*cosClient, error) {
	vhost := bucket + ".cos." + region + ".myqcloud.com"
	host := vhost
	if u.cfg.COSEndpoint != "" {
		host = u.cfg.COSEndpoint
	}
	bu, err := url.Parse(u.cfg.COSScheme + "://" + host)
	if err != nil || bu.Host == "" {
		return nil, fmt.Errorf("COS endpoint %q: invalid", host)
	}
	sc.add(cert.SecretKey, cert.Token)
	hc := &http.Client{Transport: &cos.AuthorizationTransport{
		SecretID: cert.SecretID, SecretKey: cert.SecretKey, SessionToken: cert.Token,
		Transport: u.cfg.Transport,
	}}
	c := cos.NewClient(&cos.BaseURL{BucketURL: bu}, hc)
	c.Host = vhost
	c.Conf.EnableCRC = false  // we hash while sending, once
	c.Conf.RetryOpt.Count = 1 // we retry ourselves, with backoff
	wrap := u.cfg.BodyWrapper
	if wrap == nil {
		wrap = func(r io.Reader) io.Reader { return r }
	}
	return &cosClient{c: c, sc: sc, wrap: wrap}, nil
}

// body returns the bytes [off, off+n) of f as a request body that feeds h
// as it is read, and passes through the bandwidth hook.
func (cc *cosClient) body(f io.ReaderAt, off, n int64, h hash.Hash64) io.Reader {
	if n == 0 {
		return strings.NewReader("")
	}
	return cc.wrap(io.TeeReader(&exactReader{r: io.NewSectionReader(f, off, n), left: n, off: off}, h))
}

// exactReader reads a body that must be exactly left bytes long: a file
// that ends early was truncated after it was planned, which no retry can
// mend, so it fails with ErrFileChanged instead of a short request that
// would look like a network error.
type exactReader struct {
	r    io.Reader
	left int64
	off  int64 // where the body starts in the file, for the message
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("file ended %d bytes before the end of the body at offset %d (truncated while uploading): %w",
			e.left, e.off, ErrFileChanged)
	}
	return n, err
}

// put stores a whole object with one PUT and returns its ETag and CRC.
func (cc *cosClient) put(ctx context.Context, key string, f io.ReaderAt, size int64) (etag string, crc uint64, err error) {
	h := crc64x.New()
	opt := &cos.ObjectPutOptions{ObjectPutHeaderOptions: &cos.ObjectPutHeaderOptions{
		ContentLength: size, ContentType: contentType(key),
	}}
	resp, err := cc.c.Object.Put(ctx, key, cc.body(f, 0, size, h), opt)
	if err != nil {
		return "", 0, cc.sc.classify("PutObject", err)
	}
	if err := cc.checkCRC("PutObject", resp, h.Sum64()); err != nil {
		return "", 0, err
	}
	return resp.Header.Get("ETag"), h.Sum64(), nil
}

// head returns an object's size and CRC-64, found=false when it is absent.
func (cc *cosClient) head(ctx context.Context, key string) (size int64, crc uint64, found bool, err error) {
	resp, err := cc.c.Object.Head(ctx, key, nil)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return 0, 0, false, nil
		}
		return 0, 0, false, cc.sc.classify("HeadObject", err)
	}
	crc, perr := strconv.ParseUint(resp.Header.Get("x-cos-hash-crc64ecma"), 10, 64)
	if perr != nil {
		return resp.ContentLength, 0, true, &Error{Op: "HeadObject", Code: "InvalidResponse", Message: "no x-cos-hash-crc64ecma"}
	}
	return resp.ContentLength, crc, true, nil
}

// initiate starts a multipart upload.
func (cc *cosClient) initiate(ctx context.Context, key string) (string, error) {
	opt := &cos.InitiateMultipartUploadOptions{ObjectPutHeaderOptions: &cos.ObjectPutHeaderOptions{
		ContentType: contentType(key),
	}}
	res, _, err := cc.c.Object.InitiateMultipartUpload(ctx, key, opt)
	if err != nil {
		return "", cc.sc.classify("InitiateMultipartUpload", err)
	}
	if res.UploadID == "" {
		return "", &Error{Op: "InitiateMultipartUpload", Code: "InvalidResponse", Message: "no UploadId"}
	}
	return res.UploadID, nil
}

// uploadPart sends one part and verifies its CRC.
func (cc *cosClient) uploadPart(ctx context.Context, key, uploadID string, n int, f io.ReaderAt, off, size int64) (Part, error) {
	h := crc64x.New()
	opt := &cos.ObjectUploadPartOptions{ContentLength: size}
	resp, err := cc.c.Object.UploadPart(ctx, key, uploadID, n, cc.body(f, off, size, h), opt)
	if err != nil {
		return Part{}, cc.sc.classify("UploadPart", err)
	}
	if err := cc.checkCRC("UploadPart", resp, h.Sum64()); err != nil {
		return Part{}, err
	}
	return Part{Number: n, ETag: resp.Header.Get("ETag"), CRC64: h.Sum64(), Size: size}, nil
}

// complete finishes a multipart upload and verifies the object's CRC, the
// combination of the parts' CRCs.
func (cc *cosClient) complete(ctx context.Context, key, uploadID string, parts []Part) (string, uint64, error) {
	sorted := append([]Part(nil), parts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Number < sorted[j].Number })
	opt := &cos.CompleteMultipartUploadOptions{}
	var crc uint64
	for _, p := range sorted {
		opt.Parts = append(opt.Parts, cos.Object{PartNumber: p.Number, ETag: p.ETag})
		crc = crc64x.Combine(crc, p.CRC64, p.Size)
	}
	res, resp, err := cc.c.Object.CompleteMultipartUpload(ctx, key, uploadID, opt)
	if err != nil {
		return "", 0, cc.sc.classify("CompleteMultipartUpload", err)
	}
	if err := cc.checkCRC("CompleteMultipartUpload", resp, crc); err != nil {
		return "", 0, err
	}
	return res.ETag, crc, nil
}

// abort drops a multipart upload; "not found" counts as done.
func (cc *cosClient) abort(ctx context.Context, key, uploadID string) error {
	resp, err := cc.c.Object.AbortMultipartUpload(ctx, key, uploadID)
	if err != nil && resp != nil && resp.StatusCode == http.StatusNotFound {
		return nil
	}
	return cc.sc.classify("AbortMultipartUpload", err)
}

// listParts returns the parts COS holds for an upload, by number.
func (cc *cosClient) listParts(ctx context.Context, key, uploadID string) (map[int]cosPart, error) {
	out := map[int]cosPart{}
	marker := ""
	for {
		res, _, err := cc.c.Object.ListParts(ctx, key, uploadID, &cos.ObjectListPartsOptions{
			MaxParts: "1000", PartNumberMarker: marker,
		})
		if err != nil {
			return nil, cc.sc.classify("ListParts", err)
		}
		for _, p := range res.Parts {
			out[p.PartNumber] = cosPart{ETag: strings.Trim(p.ETag, `"`), Size: p.Size}
		}
		if !res.IsTruncated || res.NextPartNumberMarker == "" || res.NextPartNumberMarker == marker {
			return out, nil
		}
		marker = res.NextPartNumberMarker
	}
}

// cosPart is a part as ListParts reports it.
type cosPart struct {
	ETag string
	Size int64
}

// checkCRC compares COS's x-cos-hash-crc64ecma with ours. A mismatch means
// bytes changed on the way; it is retried.
func (cc *cosClient) checkCRC(op string, resp *cos.Response, want uint64) error {
	v := resp.Header.Get("x-cos-hash-crc64ecma")
	reqID := resp.Header.Get("X-Cos-Request-Id")
	if v == "" {
		return &Error{Op: op, Code: "CRC64Missing", Message: "response has no x-cos-hash-crc64ecma", RequestID: reqID}
	}
	got, err := strconv.ParseUint(v, 10, 64)
	if err != nil || got != want {
		// A part or single PUT can be sent again; a completed object cannot.
		return &Error{Op: op, Code: "CRC64Mismatch", RequestID: reqID, Retryable: op != "CompleteMultipartUpload",
			Message: fmt.Sprintf("COS reports CRC64 %s, we sent %d", v, want)}
	}
	return nil
}

var extraTypes = map[string]string{
	".m3u8": "application/vnd.apple.mpegurl",
	".mpd":  "application/dash+xml",
	".ts":   "video/mp2t",
	".m4s":  "video/iso.segment",
	".mp4":  "video/mp4",
	".key":  "application/octet-stream",
}

// contentType guesses an object's Content-Type from its extension.
func contentType(key string) string {
	ext := strings.ToLower(path.Ext(key))
	if t, ok := extraTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
