package emulator_test

import (
	"bytes"
	"context"
	"errors"
	"hash/crc64"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
	cossdk "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
)

// vodClient is the official API client pointed at e by endpoint settings.
func vodClient(t testing.TB, e *emulator.Emulator, id, key, token string) *vod.Client {
	t.Helper()
	cred := common.NewTokenCredential(id, key, token)
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.Endpoint = e.Addr()
	cpf.HttpProfile.Scheme = "http"
	cpf.HttpProfile.ReqTimeout = 10
	c, err := vod.NewClient(cred, "ap-guangzhou", cpf)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func defaultClient(t testing.TB, e *emulator.Emulator) *vod.Client {
	return vodClient(t, e, e.SecretID(), e.SecretKey(), "")
}

// cosClient is the official COS client for an ApplyUpload reply.
func cosClient(t testing.TB, e *emulator.Emulator, r *vod.ApplyUploadResponseParams) *cossdk.Client {
	t.Helper()
	u, err := url.Parse(e.Scheme() + "://" + e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c := cossdk.NewClient(&cossdk.BaseURL{BucketURL: u}, &http.Client{
		Timeout: 30 * time.Second,
		Transport: &cossdk.AuthorizationTransport{
			SecretID: *r.TempCertificate.SecretId, SecretKey: *r.TempCertificate.SecretKey,
			SessionToken: *r.TempCertificate.Token,
		},
	})
	c.Host = *r.StorageBucket + ".cos." + *r.StorageRegion + ".myqcloud.com"
	if !c.Conf.EnableCRC {
		t.Fatal("cos client CRC check is off")
	}
	return c
}

func apply(t testing.TB, c *vod.Client, mutate func(*vod.ApplyUploadRequest)) *vod.ApplyUploadResponseParams {
	t.Helper()
	req := vod.NewApplyUploadRequest()
	req.MediaType = common.StringPtr("mp4")
	req.MediaName = common.StringPtr("clip")
	if mutate != nil {
		mutate(req)
	}
	resp, err := c.ApplyUpload(req)
	if err != nil {
		t.Fatalf("ApplyUpload: %v", err)
	}
	return resp.Response
}

func commit(t testing.TB, c *vod.Client, key string) *vod.CommitUploadResponseParams {
	t.Helper()
	req := vod.NewCommitUploadRequest()
	req.VodSessionKey = common.StringPtr(key)
	resp, err := c.CommitUpload(req)
	if err != nil {
		t.Fatalf("CommitUpload: %v", err)
	}
	return resp.Response
}

// codeOf is the API error code of err ("" when err is nil or not an API error).
func codeOf(err error) string {
	var se *sdkerrors.TencentCloudSDKError
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func crcOf(b []byte) string {
	return strconv.FormatUint(crc64.Checksum(b, crc64.MakeTable(crc64.ECMA)), 10)
}

func putObject(t testing.TB, c *cossdk.Client, key string, data []byte) *cossdk.Response {
	t.Helper()
	resp, err := c.Object.Put(context.Background(), key, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
	return resp
}

func fetch(t testing.TB, rawURL string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// clock is a settable time source shared by the emulator and a test.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func newClock() *clock { return &clock{} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func readCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
