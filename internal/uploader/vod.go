package uploader

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/credentials"
)

// vodClient returns an SDK client with freshly resolved credentials: the
// one built last while they stay the same (SDK clients are safe for
// concurrent use and share the uploader's transport), a new one when they
// rotate.
func (u *Uploader) vodClient(ctx context.Context, sc *scrubber) (*vod.Client, error) {
	cred, err := u.cfg.Credentials.Credential(ctx)
	if err != nil {
		return nil, err
	}
	sc.add(cred.SecretKey, cred.Token)
	u.clientMu.Lock()
	defer u.clientMu.Unlock()
	if u.client != nil && u.clientCred == cred {
		return u.client, nil
	}
	c, err := u.newVODClient(cred, sc)
	if err != nil {
		return nil, err
	}
	u.client, u.clientCred = c, cred
	return c, nil
}

func (u *Uploader) newVODClient(cred credentials.Credential, sc *scrubber) (*vod.Client, error) {
	c, err := NewAPIClient(APIClientConfig{Credential: cred, Region: u.cfg.Region, Endpoint: u.cfg.Endpoint,
		Scheme: u.cfg.Scheme, Transport: u.cfg.Transport, Timeout: u.cfg.APITimeout})
	if err != nil {
		return nil, fmt.Errorf("vod client: %w", sc.classify("NewClient", err))
	}
	return c, nil
}

// APIClientConfig is what a VOD API client is made of.
type APIClientConfig struct {
	Credential               credentials.Credential
	Region, Endpoint, Scheme string
	Transport                http.RoundTripper
	Timeout                  time.Duration // each request's deadline
}

// NewAPIClient returns a tencentcloud-sdk-go VOD client as vodwatchd uses
// one: its retries and region breaker off (the caller retries, with
// backoff), and its timeout off for each request's own deadline
// (withDeadline) over the given transport.
func NewAPIClient(c APIClientConfig) (*vod.Client, error) {
	cp := profile.NewClientProfile()
	cp.HttpProfile.Endpoint = c.Endpoint
	cp.HttpProfile.Scheme = strings.ToUpper(c.Scheme)
	cp.HttpProfile.ReqTimeout = 0
	cp.DisableRegionBreaker = true
	cp.NetworkFailureMaxRetries = 0
	cp.RateLimitExceededMaxRetries = 0
	client, err := vod.NewClient(common.NewTokenCredential(c.Credential.SecretID, c.Credential.SecretKey, c.Credential.Token), c.Region, cp)
	if err != nil {
		return nil, err
	}
	client.WithHttpTransport(withDeadline(c.Transport, c.Timeout))
	return client, nil
}

// session is what ApplyUpload granted.
type session struct {
	Key, Bucket, Region, MediaPath, CoverPath string
	Cert                                      *Cert
	RequestID                                 string
}

// apply calls ApplyUpload, retrying transient failures.
func (u *Uploader) apply(ctx context.Context, sc *scrubber, req Request) (*session, error) {
	in := vod.NewApplyUploadRequest()
	in.MediaType = &req.MediaType
	in.MediaName = &req.MediaName
	in.CoverType = optString(req.CoverType)
	in.Procedure = optString(req.Procedure)
	in.ExpireTime = optString(req.ExpireTime)
	in.StorageRegion = optString(req.StorageRegion)
	in.SourceContext = optString(req.SourceContext)
	in.SessionContext = optString(req.SessionContext)
	if req.SubAppID != 0 {
		in.SubAppId = &req.SubAppID
	}
	if req.ClassID != 0 {
		in.ClassId = &req.ClassID
	}
	var out *vod.ApplyUploadResponse
	err := u.cfg.Retry.do(ctx, u.log, "ApplyUpload", func() error {
		c, err := u.vodClient(ctx, sc)
		if err != nil {
			return err
		}
		out, err = c.ApplyUploadWithContext(ctx, in)
		return sc.classify("ApplyUpload", err)
	})
	if err != nil {
		return nil, err
	}
	return u.sessionFrom(sc, out.Response)
}

func (u *Uploader) sessionFrom(sc *scrubber, r *vod.ApplyUploadResponseParams) (*session, error) {
	if r == nil || r.TempCertificate == nil || r.VodSessionKey == nil || r.StorageBucket == nil ||
		r.StorageRegion == nil || r.MediaStoragePath == nil {
		return nil, &Error{Op: "ApplyUpload", Code: "InvalidResponse", Message: "response lacks session fields"}
	}
	tc := r.TempCertificate
	cert := &Cert{SecretID: deref(tc.SecretId), SecretKey: deref(tc.SecretKey), Token: deref(tc.Token)}
	if tc.ExpiredTime != nil {
		cert.Expires = time.Unix(int64(*tc.ExpiredTime), 0)
	}
	sc.add(cert.SecretKey, cert.Token)
	return &session{
		Key: *r.VodSessionKey, Bucket: *r.StorageBucket, Region: *r.StorageRegion,
		MediaPath: *r.MediaStoragePath, CoverPath: deref(r.CoverStoragePath),
		Cert: cert, RequestID: deref(r.RequestId),
	}, nil
}

// commit calls CommitUpload. Retries happen only when the failure shows the
// call was not applied; any other transient failure is ErrCommitUnknown.
func (u *Uploader) commit(ctx context.Context, sc *scrubber, key string, subApp uint64) (Result, error) {
	in := vod.NewCommitUploadRequest()
	in.VodSessionKey = &key
	if subApp != 0 {
		in.SubAppId = &subApp
	}
	var out *vod.CommitUploadResponse
	err := u.cfg.Retry.do(ctx, u.log, "CommitUpload", func() error {
		c, err := u.vodClient(ctx, sc)
		if err != nil {
			return err
		}
		out, err = c.CommitUploadWithContext(ctx, in)
		err = sc.classify("CommitUpload", err)
		var e *Error
		if errors.As(err, &e) && e.Retryable && !commitNotApplied(e) {
			return &CommitUnknownError{SessionKey: key, Err: e}
		}
		return err
	})
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			// The request may have left before the cancellation.
			return Result{}, &CommitUnknownError{SessionKey: key, Err: err}
		}
		return Result{}, err
	}
	r := out.Response
	if r == nil || r.FileId == nil {
		return Result{}, &CommitUnknownError{SessionKey: key, Err: errors.New("response lacks FileId")}
	}
	return Result{FileID: *r.FileId, MediaURL: deref(r.MediaUrl), CoverURL: deref(r.CoverUrl), RequestID: deref(r.RequestId)}, nil
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
