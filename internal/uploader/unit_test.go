package uploader

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentyun/cos-go-sdk-v5"
)

func TestNormalize(t *testing.T) {
	cases := []struct {
		name              string
		in                Request
		wantType, wantNam string
		wantCover         string
		wantErr           string
	}{
		{name: "type and name from file", in: Request{MediaFilePath: "/x/Wild Life.MP4"}, wantType: "mp4", wantNam: "Wild Life"},
		{name: "explicit kept", in: Request{MediaFilePath: "/x/a.mp4", MediaType: "mov", MediaName: "N"}, wantType: "mov", wantNam: "N"},
		{name: "cover type", in: Request{MediaFilePath: "a.mp4", CoverFilePath: "c.JPEG"}, wantType: "mp4", wantNam: "a", wantCover: "jpeg"},
		{name: "hls", in: Request{MediaFilePath: "/b/index.m3u8"}, wantType: "m3u8", wantNam: "index"},
		{name: "no media", in: Request{}, wantErr: "MediaFilePath: required"},
		{name: "no extension", in: Request{MediaFilePath: "/x/movie"}, wantErr: "MediaType"},
		{name: "cover without extension", in: Request{MediaFilePath: "a.mp4", CoverFilePath: "cover"}, wantErr: "CoverType"},
		{name: "source context too long", in: Request{MediaFilePath: "a.mp4", SourceContext: strings.Repeat("é", 251)}, wantErr: "SourceContext: 251 characters"},
		{name: "source context at limit", in: Request{MediaFilePath: "a.mp4", SourceContext: strings.Repeat("é", 250)}, wantType: "mp4", wantNam: "a"},
		{name: "negative concurrency", in: Request{MediaFilePath: "a.mp4", ConcurrentUploadNumber: -1}, wantErr: "ConcurrentUploadNumber"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.in.normalize()
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.MediaType != c.wantType || got.MediaName != c.wantNam || got.CoverType != c.wantCover {
				t.Fatalf("got type %q name %q cover %q", got.MediaType, got.MediaName, got.CoverType)
			}
		})
	}
}

func TestPartSizeFor(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		size, configured, want int64
	}{
		{0, 8 * mib, 8 * mib},
		{100 * mib, 8 * mib, 8 * mib},
		{100 * mib, 0, mib},
		{10000 * 8 * mib, 8 * mib, 8 * mib},
		{10000*8*mib + 1, 8 * mib, 9 * mib},
		{1 << 40, 8 * mib, 105 * mib},
		{50000 << 30, 8 * mib, MaxPartSize},
	}
	for _, c := range cases {
		got := partSizeFor(c.size, c.configured)
		if got != c.want {
			t.Errorf("partSizeFor(%d, %d) = %d, want %d", c.size, c.configured, got, c.want)
		}
		if got < MinPartSize || got > MaxPartSize || got%mib != 0 && got != MaxPartSize {
			t.Errorf("partSizeFor(%d) = %d out of range", c.size, got)
		}
		if c.size <= int64(MaxParts)*MaxPartSize && (c.size+got-1)/got > MaxParts {
			t.Errorf("partSizeFor(%d) = %d gives more than %d parts", c.size, got, MaxParts)
		}
	}
}

func cosErr(status int, code, msg string) error {
	u, _ := url.Parse("http://127.0.0.1/key?uploadId=1")
	resp := &http.Response{StatusCode: status, Header: http.Header{"X-Cos-Request-Id": {"cos-req"}},
		Request: &http.Request{Method: "PUT", URL: u}}
	return &cos.ErrorResponse{Response: resp, Code: code, Message: msg}
}

func TestClassify(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	cases := []struct {
		name      string
		err       error
		code      string
		retryable bool
		notApply  bool
	}{
		{"internal", tcerr.NewTencentCloudSDKError("InternalError", "boom", "r1"), "InternalError", true, false},
		{"throttled", tcerr.NewTencentCloudSDKError("RequestLimitExceeded", "slow", "r1"), "RequestLimitExceeded", true, true},
		{"throttled sub", tcerr.NewTencentCloudSDKError("RequestLimitExceeded.UinLimitExceeded", "slow", "r1"), "RequestLimitExceeded.UinLimitExceeded", true, true},
		{"bad expire", tcerr.NewTencentCloudSDKError("InvalidParameter.ExpireTime", "bad", "r1"), "InvalidParameter.ExpireTime", false, false},
		{"bad media", tcerr.NewTencentCloudSDKError("InvalidParameterValue.MediaType", "bad", "r1"), "InvalidParameterValue.MediaType", false, false},
		{"auth", tcerr.NewTencentCloudSDKError("AuthFailure.SignatureFailure", "bad", "r1"), "AuthFailure.SignatureFailure", false, false},
		{"not found", tcerr.NewTencentCloudSDKError("ResourceNotFound", "none", "r1"), "ResourceNotFound", false, false},
		{"missing", tcerr.NewTencentCloudSDKError("MissingParameter", "none", "r1"), "MissingParameter", false, false},
		{"http 502", tcerr.NewTencentCloudSDKError("ClientError.HttpStatusCodeError", "Request fail with http status code: 502 Bad Gateway, with body: x", ""), "ClientError.HttpStatusCodeError", true, false},
		{"http 400", tcerr.NewTencentCloudSDKError("ClientError.HttpStatusCodeError", "Request fail with http status code: 400 Bad Request, with body: x", ""), "ClientError.HttpStatusCodeError", false, false},
		{"sdk network", tcerr.NewTencentCloudSDKErrorWithCause("ClientError.NetworkError", "Fail", "", errors.New("reset")), "NetworkError", true, false},
		{"sdk dial", tcerr.NewTencentCloudSDKErrorWithCause("ClientError.NetworkError", "Fail", "", &url.Error{Op: "Post", URL: "http://x/", Err: dialErr}), "NetworkError", true, true},
		{"plain network", errors.New("read: connection reset"), "NetworkError", true, false},
		{"cos 503", cosErr(503, "ServiceUnavailable", "busy"), "ServiceUnavailable", true, false},
		{"cos 500 no code", cosErr(500, "", ""), "HTTP500", true, false},
		{"cos 403", cosErr(403, "AccessDenied", "no"), "AccessDenied", false, false},
		{"cos slowdown", cosErr(429, "SlowDown", "no"), "SlowDown", true, true},
		{"cos retry wrapper", &cos.RetryError{Errs: []error{errors.New("x"), cosErr(404, "NoSuchUpload", "gone")}}, "NoSuchUpload", false, false},
	}
	sc := &scrubber{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e *Error
			if !errors.As(sc.classify("Op", c.err), &e) {
				t.Fatalf("classify gave no *Error")
			}
			if e.Code != c.code || e.Retryable != c.retryable {
				t.Fatalf("got code %q retryable %v, want %q %v", e.Code, e.Retryable, c.code, c.retryable)
			}
			if got := commitNotApplied(e); got != c.notApply {
				t.Fatalf("commitNotApplied = %v, want %v", got, c.notApply)
			}
		})
	}
	if err := sc.classify("Op", fmt.Errorf("x: %w", context.Canceled)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancellation not kept: %v", err)
	}
}

func TestErrorMessageReadable(t *testing.T) {
	e := (&scrubber{}).classify("ApplyUpload", tcerr.NewTencentCloudSDKError("InvalidParameterValue.MediaType", "media type xyz not supported", "req-9"))
	want := "ApplyUpload: InvalidParameterValue.MediaType: media type xyz not supported (RequestId req-9)"
	if e.Error() != want {
		t.Fatalf("got %q\nwant %q", e.Error(), want)
	}
}

func TestScrub(t *testing.T) {
	sc := &scrubber{}
	sc.add("SECRETKEY123", "TOKENabc456", "")
	cases := []string{
		"key SECRETKEY123 here",
		`{"Token":"TOKENabc456"}`,
		"Authorization: q-sign-algorithm=sha1&q-signature=0123456789abcdef",
		"x-cos-security-token: somethingsecret",
		`"SecretKey": "zzz-unknown-secret"`,
		"TC3 Signature=deadbeef00",
	}
	for _, in := range cases {
		out := sc.scrub(in)
		for _, s := range []string{"SECRETKEY123", "TOKENabc456", "0123456789abcdef", "somethingsecret", "zzz-unknown-secret", "deadbeef00"} {
			if strings.Contains(out, s) {
				t.Errorf("scrub(%q) = %q still holds %q", in, out, s)
			}
		}
	}
	if got := sc.scrub("plain text stays"); got != "plain text stays" {
		t.Errorf("plain text changed: %q", got)
	}
}

func TestBackoff(t *testing.T) {
	p := RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Jitter: 0.5}.withDefaults()
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 30: time.Second} {
		for range 20 {
			got := p.backoff(n)
			if got > want || got < want/2 {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, got, want/2, want)
			}
		}
	}
}

func TestRetryDoBounded(t *testing.T) {
	retried := map[string]int{}
	p := RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		OnRetry: func(op string) { retried[op]++ }}.withDefaults()
	calls := 0
	err := p.do(context.Background(), discardLogger(), "X", func() error {
		calls++
		return &Error{Op: "X", Code: "InternalError", Retryable: true}
	})
	if calls != 3 || err == nil {
		t.Fatalf("calls = %d err = %v, want 3 attempts and an error", calls, err)
	}
	if retried["X"] != 2 || len(retried) != 1 {
		t.Fatalf("OnRetry saw %v, want X twice (3 attempts)", retried)
	}
	calls = 0
	_ = p.do(context.Background(), discardLogger(), "X", func() error {
		calls++
		return &Error{Op: "X", Code: "InvalidParameter", Retryable: false}
	})
	if calls != 1 {
		t.Fatalf("fatal error retried: %d calls", calls)
	}
	calls = 0
	_ = p.do(context.Background(), discardLogger(), "X", func() error {
		calls++
		return &CommitUnknownError{SessionKey: "s", Err: &Error{Retryable: true}}
	})
	if calls != 1 {
		t.Fatalf("unknown commit retried: %d calls", calls)
	}
}
