package emulator_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
)

func TestApplyUploadValidation(t *testing.T) {
	e := emulatortest.Start(t)
	vc := defaultClient(t, e)
	s := common.StringPtr
	tests := []struct {
		name string
		set  func(*vod.ApplyUploadRequest)
		code string
	}{
		{"every field", func(r *vod.ApplyUploadRequest) {
			r.MediaType, r.MediaName, r.CoverType = s("MP4"), s("wildlife"), s("png")
			r.Procedure, r.ExpireTime, r.StorageRegion = s("news-transcode"), s(time.Now().Add(time.Hour).Format(time.RFC3339)), s("ap-chongqing")
			r.ClassId, r.SourceContext, r.SessionContext = common.Int64Ptr(12), s(strings.Repeat("x", 250)), s("session")
			r.ExtInfo, r.SubAppId, r.MediaStoragePath = s("ext"), common.Uint64Ptr(1500000001), s("/my/dir/wildlife.mp4")
		}, ""},
		{"primary app id as SubAppId", func(r *vod.ApplyUploadRequest) { r.SubAppId = common.Uint64Ptr(emulatortest.AppID) }, ""},
		{"every media type", nil, ""},
		{"unsupported media type", func(r *vod.ApplyUploadRequest) { r.MediaType = s("exe") }, "InvalidParameterValue.MediaType"},
		{"missing media type", func(r *vod.ApplyUploadRequest) { r.MediaType = nil }, "MissingParameter"},
		{"unsupported cover type", func(r *vod.ApplyUploadRequest) { r.CoverType = s("txt") }, "InvalidParameterValue.CoverType"},
		{"expire time not ISO 8601", func(r *vod.ApplyUploadRequest) { r.ExpireTime = s("tomorrow") }, "InvalidParameter.ExpireTime"},
		{"expire time in the past", func(r *vod.ApplyUploadRequest) { r.ExpireTime = s("2001-01-01T00:00:00Z") }, "InvalidParameterValue.ExpireTime"},
		{"unknown sub-application", func(r *vod.ApplyUploadRequest) { r.SubAppId = common.Uint64Ptr(42) }, "InvalidParameterValue.SubAppId"},
		{"source context too long", func(r *vod.ApplyUploadRequest) { r.SourceContext = s(strings.Repeat("é", 251)) }, "InvalidParameterValue.SourceContext"},
		{"session context too long", func(r *vod.ApplyUploadRequest) { r.SessionContext = s(strings.Repeat("x", 1001)) }, "InvalidParameterValue.SessionContextTooLong"},
		{"storage region not enabled", func(r *vod.ApplyUploadRequest) { r.StorageRegion = s("ap-mumbai") }, "InvalidParameterValue.StorageRegion"},
		{"unknown procedure", func(r *vod.ApplyUploadRequest) { r.Procedure = s("no-such-flow") }, "ResourceNotFound"},
		{"system preset procedure", func(r *vod.ApplyUploadRequest) { r.Procedure = s("QCVB_SimpleProcessFile") }, ""},
		{"system preset procedure with parameters", func(r *vod.ApplyUploadRequest) { r.Procedure = s("QCVB_SimpleProcessFile(1, 1)") }, ""},
		{"system preset procedure with list parameters", func(r *vod.ApplyUploadRequest) { r.Procedure = s("QCVB_ProcessUGCFile({10,20}, 1)") }, ""},
		{"system preset procedure with bad parameters", func(r *vod.ApplyUploadRequest) { r.Procedure = s("QCVB_SimpleProcessFile(rm -rf)") }, "ResourceNotFound"},
		{"system preset procedure unclosed", func(r *vod.ApplyUploadRequest) { r.Procedure = s("QCVB_SimpleProcessFile(1") }, "ResourceNotFound"},
		{"own procedure with parameters", func(r *vod.ApplyUploadRequest) { r.Procedure = s("news-transcode(1)") }, "ResourceNotFound"},
		{"unknown class", func(r *vod.ApplyUploadRequest) { r.ClassId = common.Int64Ptr(99) }, "ResourceNotFound"},
		{"relative storage path", func(r *vod.ApplyUploadRequest) { r.MediaStoragePath = s("a/../b.mp4") }, "InvalidParameterValue.MediaStoragePath"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := vod.NewApplyUploadRequest()
			req.MediaType = s("mp4")
			if tc.set != nil {
				tc.set(req)
			}
			_, err := vc.ApplyUpload(req)
			if got := codeOf(err); got != tc.code || (tc.code == "" && err != nil) {
				t.Fatalf("code %q (err %v), want %q", got, err, tc.code)
			}
		})
	}
	for _, mt := range []string{"mp4", "ts", "flv", "wmv", "asf", "rm", "rmvb", "mpg", "mpeg", "3gp", "mov", "webm", "mkv", "avi", "m3u8", "mpd", "mp3", "m4a", "flac", "ogg", "wav", "aac"} {
		if _, err := vc.ApplyUpload(&vod.ApplyUploadRequest{MediaType: s(mt)}); err != nil {
			t.Errorf("media type %s: %v", mt, err)
		}
	}
	for _, ct := range []string{"jpg", "jpeg", "png", "gif", "bmp", "tiff", "ai", "cdr", "eps"} {
		if _, err := vc.ApplyUpload(&vod.ApplyUploadRequest{MediaType: s("mp4"), CoverType: s(ct)}); err != nil {
			t.Errorf("cover type %s: %v", ct, err)
		}
	}
}

func TestApplyUploadReplyIsUnique(t *testing.T) {
	e := emulatortest.Start(t)
	vc := defaultClient(t, e)
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		ap := apply(t, vc, nil)
		for _, v := range []string{*ap.VodSessionKey, *ap.MediaStoragePath, *ap.TempCertificate.SecretId, *ap.TempCertificate.Token} {
			if seen[v] || len(v) < 16 {
				t.Fatalf("value %q repeated or too short", v)
			}
			seen[v] = true
		}
		if left := time.Until(time.Unix(int64(*ap.TempCertificate.ExpiredTime), 0)); left < 59*time.Minute || left > 61*time.Minute {
			t.Fatalf("certificate lifetime %s, want 1h", left)
		}
	}
}

func TestProtocolErrors(t *testing.T) {
	e := emulatortest.Start(t, func(c *emulator.Config) { c.MaxAPIBodyBytes = 4096 })
	apply := `{"MediaType":"mp4"}`
	tests := []struct {
		name string
		req  rawReq
		code string
	}{
		{"valid", rawReq{action: "ApplyUpload", body: apply}, ""},
		{"empty body means no parameters", rawReq{action: "ApplyUpload", body: ""}, "MissingParameter"},
		{"unknown parameter", rawReq{action: "ApplyUpload", body: `{"MediaType":"mp4","Colour":"red"}`}, "UnknownParameter"},
		{"parameter with the wrong case", rawReq{action: "ApplyUpload", body: `{"mediatype":"mp4"}`}, "UnknownParameter"},
		{"parameter with the wrong type", rawReq{action: "ApplyUpload", body: `{"MediaType":5}`}, "InvalidParameter"},
		{"malformed JSON", rawReq{action: "ApplyUpload", body: `{"MediaType":`}, "InvalidParameter"},
		{"JSON array", rawReq{action: "ApplyUpload", body: `[1]`}, "InvalidParameter"},
		{"unknown action", rawReq{action: "DescribeInstances", body: `{}`}, "InvalidAction"},
		{"missing action", rawReq{action: "-", body: `{}`}, "MissingParameter"},
		{"wrong version", rawReq{action: "ApplyUpload", version: "2017-03-12", body: apply}, "NoSuchVersion"},
		{"PUT", rawReq{method: "PUT", action: "ApplyUpload"}, "UnsupportedOperation"},
		{"body over the cap", rawReq{action: "ApplyUpload", body: `{"MediaName":"` + strings.Repeat("x", 5000) + `"}`}, "RequestSizeLimitExceeded"},
		{"wrong signature", rawReq{action: "ApplyUpload", body: apply, secretID: e.SecretID(), secretKey: "wrong"}, "AuthFailure.SignatureFailure"},
		{"body changed after signing", rawReq{action: "ApplyUpload", body: apply, after: func(r *http.Request) {
			r.Body, r.ContentLength = readCloser(`{"MediaType":"mov"}`), 19
		}}, "AuthFailure.SignatureFailure"},
		{"unknown secret id", rawReq{action: "ApplyUpload", body: apply, secretID: "AKIDunknown", secretKey: "k"}, "AuthFailure.SecretIdNotFound"},
		{"timestamp 6 minutes old", rawReq{action: "ApplyUpload", body: apply, ts: time.Now().Add(-6 * time.Minute)}, "AuthFailure.SignatureExpire"},
		{"timestamp 6 minutes ahead", rawReq{action: "ApplyUpload", body: apply, ts: time.Now().Add(6 * time.Minute)}, "AuthFailure.SignatureExpire"},
		{"scope names another service", rawReq{action: "ApplyUpload", body: apply, service: "cvm"}, "AuthFailure.SignatureFailure"},
		{"scope date is not the timestamp's", rawReq{action: "ApplyUpload", body: apply, after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/"+time.Now().UTC().Format("2006-01-02")+"/", "/2001-01-01/", 1))
		}}, "AuthFailure.SignatureFailure"},
		{"host changed after signing", rawReq{action: "ApplyUpload", body: apply, after: func(r *http.Request) { r.Host = "vod.tencentcloudapi.com" }}, "AuthFailure.SignatureFailure"},
		{"no authorization", rawReq{action: "ApplyUpload", body: apply, after: func(r *http.Request) { r.Header.Del("Authorization") }}, "AuthFailure.InvalidAuthorization"},
		{"garbage authorization", rawReq{action: "ApplyUpload", body: apply, after: func(r *http.Request) { r.Header.Set("Authorization", "Basic Zm9v") }}, "AuthFailure.InvalidAuthorization"},
		{"missing timestamp", rawReq{action: "ApplyUpload", body: apply, after: func(r *http.Request) { r.Header.Del("X-TC-Timestamp") }}, "MissingParameter"},
		{"token with a permanent key", rawReq{action: "ApplyUpload", body: apply, after: func(r *http.Request) { r.Header.Set("X-TC-Token", "t") }}, "AuthFailure.TokenFailure"},
		{"bad region", rawReq{action: "ApplyUpload", body: apply, after: func(r *http.Request) { r.Header.Set("X-TC-Region", "Guangzhou") }}, "UnsupportedRegion"},
		{"bad language", rawReq{action: "ApplyUpload", body: apply, after: func(r *http.Request) { r.Header.Set("X-TC-Language", "fr") }}, "InvalidParameterValue"},
		{"not JSON content type", rawReq{action: "ApplyUpload", body: apply, after: func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }}, "InvalidParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := tc.req.do(t, e)
			if code != tc.code {
				t.Fatalf("code %q (%s), want %q", code, msg, tc.code)
			}
			if strings.Contains(msg, e.SecretKey()) {
				t.Fatal("error message contains the secret key")
			}
		})
	}
}

func TestTemporaryCredentials(t *testing.T) {
	dir := t.TempDir()
	accounts := filepath.Join(dir, "accounts.yaml")
	yaml := fmt.Sprintf(`defaults:
  storage_regions: [ap-chongqing, ap-guangzhou]
accounts:
  - secret_id: AKIDsecond
    secret_key: second-key
    app_id: 1250000009
    sub_apps: [1600000001]
    procedures: [only-this]
    classes: [7]
    temporary:
      - {secret_id: AKIDtmpgood, secret_key: tmp-key, token: good-token, expires: %s}
      - {secret_id: AKIDtmpold, secret_key: tmp-key, token: old-token, expires: 2001-01-01T00:00:00Z}
`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if err := os.WriteFile(accounts, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e := emulatortest.Start(t, func(c *emulator.Config) { c.AccountsFile = accounts })
	ok := vodClient(t, e, "AKIDtmpgood", "tmp-key", "good-token")
	ap := apply(t, ok, func(r *vod.ApplyUploadRequest) {
		r.SubAppId, r.Procedure, r.ClassId = common.Uint64Ptr(1600000001), common.StringPtr("only-this"), common.Int64Ptr(7)
	})
	if *ap.StorageRegion != "ap-chongqing" || !strings.HasSuffix(*ap.StorageBucket, "-1250000009") {
		t.Fatalf("region %s bucket %s", *ap.StorageRegion, *ap.StorageBucket)
	}
	// The default account still has the built-in procedures but the file's regions.
	if ap := apply(t, defaultClient(t, e), nil); *ap.StorageRegion != "ap-chongqing" {
		t.Fatalf("default account region %s", *ap.StorageRegion)
	}
	for _, tc := range []struct{ name, id, token string }{
		{"wrong token", "AKIDtmpgood", "bad-token"},
		{"missing token", "AKIDtmpgood", ""},
		{"expired token", "AKIDtmpold", "old-token"},
	} {
		_, err := vodClient(t, e, tc.id, "tmp-key", tc.token).ApplyUpload(&vod.ApplyUploadRequest{MediaType: common.StringPtr("mp4")})
		if codeOf(err) != "AuthFailure.TokenFailure" {
			t.Errorf("%s: %v, want AuthFailure.TokenFailure", tc.name, err)
		}
	}
	// Another account's sub-application and procedure are not ours.
	_, err := defaultClient(t, e).ApplyUpload(&vod.ApplyUploadRequest{MediaType: common.StringPtr("mp4"), SubAppId: common.Uint64Ptr(1600000001)})
	if codeOf(err) != "InvalidParameterValue.SubAppId" {
		t.Fatalf("foreign sub-app: %v", err)
	}
}

func TestAccountsFileErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "acounts: []\n", "line 1"},
		{"missing key", "accounts:\n  - secret_id: a\n", "secret_key"},
		{"duplicate id", "accounts:\n  - {secret_id: a, secret_key: b}\n  - {secret_id: a, secret_key: c}\n", "used twice"},
		{"bad region", "defaults:\n  storage_regions: [Guangzhou]\n", "Guangzhou"},
		{"temporary without token", "accounts:\n  - secret_id: a\n    secret_key: b\n    temporary: [{secret_id: t, secret_key: k}]\n", "temporary[0]"},
		{"bad duration", "faults:\n  latency: {ApplyUpload: soon}\n", "line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "a.yaml")
			os.WriteFile(p, []byte(tc.yaml), 0o600)
			_, err := emulator.Start(t.Context(), emulator.Config{DataDir: t.TempDir(), AccountsFile: p})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestCommitUploadErrors(t *testing.T) {
	clock := newClock()
	e := emulatortest.Start(t, func(c *emulator.Config) {
		c.Now, c.SessionLifetime = clock.Now, 2*time.Minute
	})
	vc := defaultClient(t, e)
	commitCode := func(key string) string {
		_, err := vc.CommitUpload(&vod.CommitUploadRequest{VodSessionKey: common.StringPtr(key)})
		return codeOf(err)
	}
	if c := commitCode("no-such-session"); c != "InvalidParameterValue.VodSessionKey" {
		t.Fatalf("unknown session: %s", c)
	}
	if _, err := vc.CommitUpload(vod.NewCommitUploadRequest()); codeOf(err) != "MissingParameter" {
		t.Fatalf("no key: %v", err)
	}
	ap := apply(t, vc, func(r *vod.ApplyUploadRequest) { r.CoverType = common.StringPtr("jpg") })
	if c := commitCode(*ap.VodSessionKey); c != "ResourceNotFound" {
		t.Fatalf("nothing uploaded: %s", c)
	}
	cc := cosClient(t, e, ap)
	putObject(t, cc, (*ap.MediaStoragePath)[1:], []byte("media"))
	if c := commitCode(*ap.VodSessionKey); c != "ResourceNotFound" {
		t.Fatalf("cover not uploaded: %s", c)
	}
	// A key the session does not cover is refused by COS.
	if _, err := cc.Object.Put(t.Context(), "elsewhere/x.mp4", strings.NewReader("x"), nil); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("put outside the session's paths: %v", err)
	}
	stale := apply(t, vc, nil)
	putObject(t, cosClient(t, e, stale), (*stale.MediaStoragePath)[1:], []byte("m"))
	clock.Add(3 * time.Minute)
	if c := commitCode(*stale.VodSessionKey); c != "InvalidParameterValue.VodSessionKey" {
		t.Fatalf("expired session: %s", c)
	}
}

func TestRepeatCommit(t *testing.T) {
	for _, mode := range []string{"same", "error"} {
		t.Run(mode, func(t *testing.T) {
			e := emulatortest.Start(t, func(c *emulator.Config) { c.RepeatCommit = mode })
			vc := defaultClient(t, e)
			ap := apply(t, vc, nil)
			putObject(t, cosClient(t, e, ap), (*ap.MediaStoragePath)[1:], []byte("media"))
			first := commit(t, vc, *ap.VodSessionKey)
			resp, err := vc.CommitUpload(&vod.CommitUploadRequest{VodSessionKey: ap.VodSessionKey})
			switch mode {
			case "same":
				if err != nil || *resp.Response.FileId != *first.FileId {
					t.Fatalf("repeat: %v", err)
				}
			case "error":
				if codeOf(err) != "InvalidParameterValue.VodSessionKey" {
					t.Fatalf("repeat: %v", err)
				}
			}
			if n := len(e.Media()); n != 1 {
				t.Fatalf("%d media after a repeated commit", n)
			}
		})
	}
	if _, err := emulator.Start(t.Context(), emulator.Config{DataDir: t.TempDir(), RepeatCommit: "twice"}); err == nil {
		t.Fatal("bad RepeatCommit accepted")
	}
}

func TestRateLimit(t *testing.T) {
	e := emulatortest.Start(t, func(c *emulator.Config) { c.APIRateLimit = 3 })
	vc := defaultClient(t, e)
	codes := map[string]int{}
	for i := 0; i < 5; i++ {
		_, err := vc.ApplyUpload(&vod.ApplyUploadRequest{MediaType: common.StringPtr("mp4")})
		codes[codeOf(err)]++
	}
	if codes[""] != 3 || codes["RequestLimitExceeded"] != 2 {
		t.Fatalf("codes %v, want 3 ok and 2 RequestLimitExceeded", codes)
	}
	// Another action has its own budget.
	if _, err := vc.SearchMedia(vod.NewSearchMediaRequest()); err != nil {
		t.Fatalf("SearchMedia: %v", err)
	}
}

func TestListenRefusesNonLoopback(t *testing.T) {
	_, err := emulator.Start(t.Context(), emulator.Config{DataDir: t.TempDir(), Listen: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Fatalf("err %v", err)
	}
	e := emulatortest.Start(t, func(c *emulator.Config) { c.Listen = "localhost:0" })
	if host, _, _ := net.SplitHostPort(e.Addr()); !net.ParseIP(host).IsLoopback() {
		t.Fatalf("addr %s", e.Addr())
	}
	if _, err := emulator.Start(t.Context(), emulator.Config{}); err == nil {
		t.Fatal("started without a DataDir")
	}
}
