package cos

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAuthErrors(t *testing.T) {
	e := newEnv(t)
	base := e.grant
	other := base
	other.SecretID, other.Bucket = "AKIDother", "other-1250000000"
	e.grants.add(other)
	otherRegion := base
	otherRegion.SecretID, otherRegion.Region = "AKIDregion", "ap-beijing"
	e.grants.add(otherRegion)
	expired := base
	expired.SecretID, expired.Expires = "AKIDexpired", time.Now().Add(-time.Second)
	e.grants.add(expired)

	tests := []struct {
		name     string
		grant    Grant // what the client signs with
		host     string
		key      string
		wantCode string
	}{
		{name: "ok", grant: base, key: "session1/a"},
		{name: "bad signature", grant: withKey(base, "wrong"), key: "session1/a", wantCode: "SignatureDoesNotMatch"},
		{name: "unknown secret id", grant: withID(base, "AKIDnobody"), key: "session1/a", wantCode: "InvalidAccessKeyId"},
		{name: "wrong token", grant: withToken(base, "forged"), key: "session1/a", wantCode: "AccessDenied"},
		{name: "no token", grant: withToken(base, ""), key: "session1/a", wantCode: "AccessDenied"},
		{name: "expired grant", grant: expired, key: "session1/a", wantCode: "AccessDenied"},
		{name: "key outside prefix", grant: base, key: "session2/a", wantCode: "AccessDenied"},
		{name: "prefix look-alike", grant: base, key: "session1", wantCode: "AccessDenied"},
		{name: "other bucket", grant: other, host: testHost, key: "session1/a", wantCode: "AccessDenied"},
		{name: "other region", grant: otherRegion, host: testHost, key: "session1/a", wantCode: "AccessDenied"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key + strconv.Itoa(i)
			c := e.client(tt.grant)
			if tt.host != "" {
				c.Host = tt.host
			}
			_, err := c.Object.Put(context.Background(), key, strings.NewReader("x"), nil)
			if got := cosCode(err); got != tt.wantCode {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.wantCode)
			}
			_, err = e.srv.Stat(testBucket, key)
			if stored := err == nil; stored != (tt.wantCode == "") {
				t.Fatalf("stored = %v after answer %q", stored, tt.wantCode)
			}
		})
	}
}

func withKey(g Grant, k string) Grant   { g.SecretKey = k; return g }
func withID(g Grant, id string) Grant   { g.SecretID = id; return g }
func withToken(g Grant, t string) Grant { g.Token = t; return g }

// TestSignTime moves the server clock against the SDK's one-hour signature.
func TestSignTime(t *testing.T) {
	e := newEnv(t)
	e.grants.add(withExpiry(e.grant, time.Now().Add(10*time.Hour)))
	c := e.client(e.grant)
	tests := []struct {
		name     string
		shift    time.Duration
		wantCode string
	}{
		{"now", 0, ""},
		{"within skew", -10 * time.Minute, ""},
		{"signature expired", 2 * time.Hour, "AccessDenied"},
		{"signed in the future", -time.Hour, "RequestTimeTooSkewed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Set(time.Now().Add(tt.shift))
			_, err := c.Object.Put(context.Background(), "session1/t", strings.NewReader("x"), nil)
			if got := cosCode(err); got != tt.wantCode {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
}

func withExpiry(g Grant, t time.Time) Grant { g.Expires = t; return g }

func TestErrorBodyAndUnsigned(t *testing.T) {
	tests := []struct {
		name       string
		allow      bool
		method     string
		path       string
		wantStatus int
		wantCode   string
	}{
		{"unsigned put refused", false, "PUT", "/session1/u", 403, "AccessDenied"},
		{"unsigned put allowed", true, "PUT", "/session1/u", 200, ""},
		{"unsigned part allowed needs upload", true, "PUT", "/session1/u?partNumber=1&uploadId=" + strings.Repeat("a", 32), 404, "NoSuchUpload"},
		{"unsigned get refused even when allowed", true, "GET", "/session1/u", 403, "AccessDenied"},
		{"unsigned initiate refused even when allowed", true, "POST", "/session1/u?uploads", 403, "AccessDenied"},
		{"not implemented", false, "GET", "/", 501, "NotImplemented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.AllowUnsigned = tt.allow })
			resp, body := e.rawRequest(t, tt.method, tt.path, []byte("abc"), nil, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.wantStatus, body)
			}
			if resp.Header.Get("x-cos-request-id") == "" {
				t.Error("no x-cos-request-id")
			}
			if tt.wantCode == "" {
				return
			}
			eb := parseError(t, body)
			if eb.Code != tt.wantCode || resp.Header.Get("Content-Type") != "application/xml" {
				t.Fatalf("error = %+v", eb)
			}
			if !strings.Contains(eb.Resource, testHost) {
				t.Errorf("resource = %q", eb.Resource)
			}
		})
	}
}

func TestBadHost(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("GET", e.http.URL+"/k", nil)
	req.Host = "example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestParseHost(t *testing.T) {
	tests := []struct {
		host, bucket, region string
		ok                   bool
	}{
		{"media-1250000000.cos.ap-guangzhou.myqcloud.com", "media-1250000000", "ap-guangzhou", true},
		{"media-1250000000.cos.ap-guangzhou-2.myqcloud.com", "media-1250000000", "ap-guangzhou-2", true},
		{"Media-1250000000.COS.ap-shanghai-fsi.myqcloud.com:8080", "media-1250000000", "ap-shanghai-fsi", true},
		{"b-1.cos.na-siliconvalley.myqcloud.com", "b-1", "na-siliconvalley", true},
		{"cos.ap-guangzhou.myqcloud.com", "", "", false},
		{"b-1.cos.ap-guangzhou.myqcloud.com.evil.com", "", "", false},
		{"b_1.cos.ap-guangzhou.myqcloud.com", "", "", false},
		{"127.0.0.1:9000", "", "", false},
		{"", "", "", false},
		{"a..b.cos.ap-guangzhou.myqcloud.com", "", "", false},
	}
	for _, tt := range tests {
		b, r, ok := ParseHost(tt.host)
		if b != tt.bucket || r != tt.region || ok != tt.ok {
			t.Errorf("ParseHost(%q) = %q, %q, %v", tt.host, b, r, ok)
		}
	}
}

func TestOperation(t *testing.T) {
	tests := []struct{ method, target, want string }{
		{"PUT", "/k", "PutObject"},
		{"PUT", "/k?partNumber=1&uploadId=x", "UploadPart"},
		{"POST", "/k?uploads", "InitiateMultipartUpload"},
		{"POST", "/k?uploadId=x", "CompleteMultipartUpload"},
		{"DELETE", "/k?uploadId=x", "AbortMultipartUpload"},
		{"GET", "/k?uploadId=x", "ListParts"},
		{"GET", "/?uploads", "ListMultipartUploads"},
		{"GET", "/k", "GetObject"},
		{"HEAD", "/k", "HeadObject"},
		{"DELETE", "/k", "DeleteObject"},
		{"GET", "/", ""},
		{"PATCH", "/k", ""},
		{"POST", "/k", ""},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(tt.method, "http://x"+tt.target, nil)
		r.Host = testHost
		if got := Operation(r); got != tt.want {
			t.Errorf("Operation(%s %s) = %q, want %q", tt.method, tt.target, got, tt.want)
		}
	}
	r, _ := http.NewRequest("PUT", "http://127.0.0.1/k", nil)
	if got := Operation(r); got != "" {
		t.Errorf("non-COS host gave %q", got)
	}
}
