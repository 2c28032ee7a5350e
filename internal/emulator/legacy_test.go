package emulator_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
	"github.com/vodwatchd/vodwatchd/internal/emulator/legacysign"
)

// legacyClient is tencentcloud-sdk-go signing with signature v1.
func legacyClient(t *testing.T, e *emulator.Emulator, signMethod, httpMethod, id, key, token string) *vod.Client {
	t.Helper()
	cpf := profile.NewClientProfile()
	cpf.SignMethod = signMethod
	cpf.HttpProfile.ReqMethod = httpMethod
	cpf.HttpProfile.Endpoint = e.Addr()
	cpf.HttpProfile.Scheme = "http"
	cpf.HttpProfile.ReqTimeout = 10
	c, err := vod.NewClient(common.NewTokenCredential(id, key, token), "ap-guangzhou", cpf)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLegacySignatureWithTheGoSDK drives the whole upload flow through
// tencentcloud-sdk-go's own v1 signing: both methods, GET and POST, with
// integer, list and nested (dotted) parameters.
func TestLegacySignatureWithTheGoSDK(t *testing.T) {
	e := emulatortest.Start(t)
	for _, sm := range []string{legacysign.HmacSHA1, legacysign.HmacSHA256} {
		for _, hm := range []string{"GET", "POST"} {
			t.Run(sm+"/"+hm, func(t *testing.T) {
				vc := legacyClient(t, e, sm, hm, e.SecretID(), e.SecretKey(), "")
				ap := apply(t, vc, func(r *vod.ApplyUploadRequest) {
					r.MediaName = common.StringPtr("a b&c=d/中+%")
					r.SubAppId, r.ClassId = common.Uint64Ptr(emulator.DefaultSubAppIDs[0]), common.Int64Ptr(12)
					r.Procedure = common.StringPtr("QCVB_SimpleProcessFile(1, 1)")
				})
				media := randomBytes(3000, 7)
				putObject(t, cosClient(t, e, ap), (*ap.MediaStoragePath)[1:], media)
				cr, err := vc.CommitUpload(&vod.CommitUploadRequest{VodSessionKey: ap.VodSessionKey, SubAppId: common.Uint64Ptr(emulator.DefaultSubAppIDs[0])})
				if err != nil {
					t.Fatal(err)
				}
				if _, body := fetch(t, *cr.Response.MediaUrl, nil); string(body) != string(media) {
					t.Fatal("media bytes differ at MediaUrl")
				}
				d, err := vc.DescribeMediaInfos(&vod.DescribeMediaInfosRequest{
					FileIds: common.StringPtrs([]string{*cr.Response.FileId, "nope"}), SubAppId: common.Uint64Ptr(emulator.DefaultSubAppIDs[0]),
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(d.Response.MediaInfoSet) != 1 || *d.Response.MediaInfoSet[0].BasicInfo.Name != "a b&c=d/中+%" || len(d.Response.NotExistFileIdSet) != 1 {
					t.Fatalf("describe %s", d.ToJsonString())
				}
				s, err := vc.SearchMedia(&vod.SearchMediaRequest{
					Names: common.StringPtrs([]string{"a b&c=d/中+%"}), SubAppId: common.Uint64Ptr(emulator.DefaultSubAppIDs[0]),
					Sort: &vod.SortBy{Field: common.StringPtr("CreateTime"), Order: common.StringPtr("Desc")},
				})
				if err != nil {
					t.Fatal(err)
				}
				if *s.Response.TotalCount < 1 {
					t.Fatalf("search %s", s.ToJsonString())
				}
			})
		}
	}
	if _, err := legacyClient(t, e, legacysign.HmacSHA256, "POST", e.SecretID(), "wrong", "").ApplyUpload(&vod.ApplyUploadRequest{MediaType: common.StringPtr("mp4")}); codeOf(err) != "AuthFailure.SignatureFailure" {
		t.Fatalf("wrong key: %v", err)
	}
}

// legacyReq is a signature v1 request signed by hand, with knobs to break it.
type legacyReq struct {
	method string            // GET or POST (default)
	params map[string]string // action parameters; common ones are added
	sigm   string            // SignatureMethod (default HmacSHA256)
	id     string
	key    string
	token  string
	ts     time.Time
	edit   func(p map[string]string) // runs on the parameters before signing
	after  func(p map[string]string) // runs on the signed parameters
}

func (lr legacyReq) do(t *testing.T, e *emulator.Emulator) (code, message string, resp map[string]any) {
	t.Helper()
	p := map[string]string{"Action": "ApplyUpload", "Version": emulator.APIVersion, "Region": "ap-guangzhou", "Nonce": "11886", "Language": "en-US", "RequestClient": "test"}
	for k, v := range lr.params {
		p[k] = v
	}
	if lr.ts.IsZero() {
		lr.ts = time.Now()
	}
	p["Timestamp"] = strconv.FormatInt(lr.ts.Unix(), 10)
	if lr.id == "" {
		lr.id, lr.key = e.SecretID(), e.SecretKey()
	}
	if lr.sigm == "" {
		lr.sigm = legacysign.HmacSHA256
	}
	if lr.method == "" {
		lr.method = "POST"
	}
	if lr.edit != nil {
		lr.edit(p)
	}
	legacysign.Sign(p, lr.method, e.Addr(), "/", lr.id, lr.key, lr.token, lr.sigm)
	if lr.after != nil {
		lr.after(p)
	}
	var req *http.Request
	var err error
	if lr.method == "GET" {
		req, err = http.NewRequest("GET", "http://"+e.Addr()+"/?"+legacysign.Encode(p), nil)
	} else {
		req, err = http.NewRequest("POST", "http://"+e.Addr()+"/", strings.NewReader(legacysign.Encode(p)))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	var rep struct {
		Response map[string]any
	}
	if r.StatusCode != 200 || json.Unmarshal(b, &rep) != nil || rep.Response["RequestId"] == nil {
		t.Fatalf("HTTP %d: %s", r.StatusCode, b)
	}
	if er, ok := rep.Response["Error"].(map[string]any); ok {
		return er["Code"].(string), er["Message"].(string), nil
	}
	return "", "", rep.Response
}

func TestLegacyProtocolErrors(t *testing.T) {
	dir := t.TempDir()
	e := emulatortest.Start(t, func(c *emulator.Config) { c.AccountsFile = temporaryAccounts(t, dir) })
	mp4 := map[string]string{"MediaType": "mp4"}
	set := func(k, v string) func(map[string]string) { return func(p map[string]string) { p[k] = v } }
	del := func(k string) func(map[string]string) { return func(p map[string]string) { delete(p, k) } }
	tests := []struct {
		name string
		req  legacyReq
		code string
	}{
		{"POST HmacSHA256", legacyReq{params: mp4}, ""},
		{"GET HmacSHA1", legacyReq{method: "GET", sigm: legacysign.HmacSHA1, params: mp4}, ""},
		{"no SignatureMethod means HmacSHA1", legacyReq{params: mp4, sigm: ""} /* set below */, ""},
		{"temporary credentials with their token", legacyReq{params: mp4, id: "AKIDtmpgood", key: "tmp-key", token: "good-token"}, ""},
		{"wrong token", legacyReq{params: mp4, id: "AKIDtmpgood", key: "tmp-key", token: "bad-token"}, "AuthFailure.TokenFailure"},
		{"missing token", legacyReq{params: mp4, id: "AKIDtmpgood", key: "tmp-key"}, "AuthFailure.TokenFailure"},
		{"expired temporary credentials", legacyReq{params: mp4, id: "AKIDtmpold", key: "tmp-key", token: "old-token"}, "AuthFailure.TokenFailure"},
		{"token with a permanent key", legacyReq{params: mp4, token: "t"}, "AuthFailure.TokenFailure"},
		{"wrong key", legacyReq{params: mp4, key: "wrong", id: "-"}, "AuthFailure.SignatureFailure"},
		{"parameter changed after signing", legacyReq{params: mp4, after: set("MediaType", "mov")}, "AuthFailure.SignatureFailure"},
		{"method changed after signing", legacyReq{params: mp4, after: set("SignatureMethod", legacysign.HmacSHA1)}, "AuthFailure.SignatureFailure"},
		{"unknown secret id", legacyReq{params: mp4, id: "AKIDunknown", key: "k"}, "AuthFailure.SecretIdNotFound"},
		{"timestamp 6 minutes old", legacyReq{params: mp4, ts: time.Now().Add(-6 * time.Minute)}, "AuthFailure.SignatureExpire"},
		{"timestamp 6 minutes ahead", legacyReq{params: mp4, ts: time.Now().Add(6 * time.Minute)}, "AuthFailure.SignatureExpire"},
		{"missing signature", legacyReq{params: mp4, after: del("Signature")}, "AuthFailure.InvalidAuthorization"},
		{"missing secret id", legacyReq{params: mp4, after: del("SecretId")}, "AuthFailure.InvalidAuthorization"},
		{"missing timestamp", legacyReq{params: mp4, edit: del("Timestamp")}, "MissingParameter"},
		{"missing nonce", legacyReq{params: mp4, edit: del("Nonce")}, "MissingParameter"},
		{"bad nonce", legacyReq{params: mp4, edit: set("Nonce", "-1")}, "InvalidParameter"},
		{"zero nonce", legacyReq{params: mp4, edit: set("Nonce", "0")}, ""},
		{"missing action", legacyReq{params: mp4, edit: del("Action")}, "MissingParameter"},
		{"missing version", legacyReq{params: mp4, edit: del("Version")}, "MissingParameter"},
		{"wrong version", legacyReq{params: mp4, edit: set("Version", "2017-03-12")}, "NoSuchVersion"},
		{"unknown action", legacyReq{params: mp4, edit: set("Action", "DescribeInstances")}, "InvalidAction"},
		{"bad language", legacyReq{params: mp4, edit: set("Language", "fr")}, "InvalidParameterValue"},
		{"bad region", legacyReq{params: mp4, edit: set("Region", "Guangzhou")}, "UnsupportedRegion"},
		{"no region", legacyReq{params: mp4, edit: del("Region")}, ""},
		{"unknown parameter", legacyReq{params: map[string]string{"MediaType": "mp4", "Colour": "red"}}, "UnknownParameter"},
		{"wrong case", legacyReq{params: map[string]string{"mediatype": "mp4"}}, "UnknownParameter"},
		{"integer that is not", legacyReq{params: map[string]string{"MediaType": "mp4", "ClassId": "twelve"}}, "InvalidParameter"},
		{"negative unsigned", legacyReq{params: map[string]string{"MediaType": "mp4", "SubAppId": "-1"}}, "InvalidParameter"},
		{"scalar with a field", legacyReq{params: map[string]string{"MediaType.X": "mp4"}}, "UnknownParameter"},
		{"bad media type message", legacyReq{params: map[string]string{"MediaType": "test"}}, "InvalidParameterValue.MediaType"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.id == "-" {
				tc.req.id = e.SecretID()
			}
			if tc.name == "no SignatureMethod means HmacSHA1" {
				tc.req.sigm = legacysign.HmacSHA1
				tc.req.after = func(p map[string]string) {
					delete(p, "SignatureMethod")
					p["Signature"] = legacysign.Signature(e.SecretKey(), "", legacysign.StringToSign("POST", e.Addr(), "/", p))
				}
			}
			code, msg, resp := tc.req.do(t, e)
			if code != tc.code {
				t.Fatalf("code %q (%s), want %q", code, msg, tc.code)
			}
			if code == "" && resp["VodSessionKey"] == "" {
				t.Fatalf("no session: %v", resp)
			}
			if strings.Contains(msg, e.SecretKey()) || strings.Contains(msg, "tmp-key") {
				t.Fatal("error message contains a secret key")
			}
		})
	}
}

// TestLegacyListsAndObjects maps dotted form names onto the request model.
func TestLegacyListsAndObjects(t *testing.T) {
	e := emulatortest.Start(t)
	search := func(params map[string]string) (string, string, map[string]any) {
		return legacyReq{params: params, edit: func(p map[string]string) { p["Action"] = "SearchMedia" }}.do(t, e)
	}
	for _, tc := range []struct {
		name   string
		params map[string]string
		code   string
	}{
		{"list and object", map[string]string{"Names.0": "a", "Names.1": "b", "Sort.Field": "CreateTime", "Sort.Order": "Asc", "Limit": "5"}, ""},
		{"list with a gap", map[string]string{"Names.0": "a", "Names.2": "b"}, "InvalidParameter"},
		{"list index with a leading zero", map[string]string{"Names.01": "a"}, "InvalidParameter"},
		{"list without an index", map[string]string{"Names": "a"}, "InvalidParameter"},
		{"object without a field", map[string]string{"Sort": "x"}, "InvalidParameter"},
		{"unknown object field", map[string]string{"Sort.Colour": "x"}, "UnknownParameter"},
		{"huge list index", map[string]string{"Names.99999999": "a"}, "InvalidParameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, msg, _ := search(tc.params); code != tc.code {
				t.Fatalf("code %q (%s), want %q", code, msg, tc.code)
			}
		})
	}
}

// TestTC3GET: TC3 also signs GET requests whose parameters are in the query.
func TestTC3GET(t *testing.T) {
	e := emulatortest.Start(t)
	cpf := profile.NewClientProfile()
	cpf.HttpProfile.ReqMethod = "GET"
	cpf.HttpProfile.Endpoint, cpf.HttpProfile.Scheme = e.Addr(), "http"
	vc, err := vod.NewClient(common.NewCredential(e.SecretID(), e.SecretKey()), "ap-guangzhou", cpf)
	if err != nil {
		t.Fatal(err)
	}
	ap := apply(t, vc, func(r *vod.ApplyUploadRequest) { r.ClassId = common.Int64Ptr(12) })
	if _, err := url.Parse(*ap.MediaStoragePath); err != nil || *ap.VodSessionKey == "" {
		t.Fatalf("apply %v", ap)
	}
}

// temporaryAccounts writes an accounts file with a good and an expired
// temporary credential of the default account's settings.
func temporaryAccounts(t *testing.T, dir string) string {
	t.Helper()
	p := dir + "/accounts.yaml"
	y := "accounts:\n  - secret_id: AKIDsecond\n    secret_key: second-key\n    temporary:\n" +
		"      - {secret_id: AKIDtmpgood, secret_key: tmp-key, token: good-token, expires: " + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + "}\n" +
		"      - {secret_id: AKIDtmpold, secret_key: tmp-key, token: old-token, expires: 2001-01-01T00:00:00Z}\n"
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServiceMessagesAndCoverUrl: the messages the SDKs' own tests expect,
// and CoverUrl present (empty) on a commit without a cover.
func TestServiceMessagesAndCoverUrl(t *testing.T) {
	e := emulatortest.Start(t)
	vc := defaultClient(t, e)
	for _, tc := range []struct{ media, cover, code, msg string }{
		{"test", "", "InvalidParameterValue.MediaType", "invalid media type"},
		{"mp4", "test", "InvalidParameterValue.CoverType", "invalid cover type"},
	} {
		req := &vod.ApplyUploadRequest{MediaType: common.StringPtr(tc.media)}
		if tc.cover != "" {
			req.CoverType = common.StringPtr(tc.cover)
		}
		_, err := vc.ApplyUpload(req)
		var se *sdkerrors.TencentCloudSDKError
		if !errors.As(err, &se) || se.Code != tc.code || se.Message != tc.msg {
			t.Fatalf("%s/%s: %v, want %s %q", tc.media, tc.cover, err, tc.code, tc.msg)
		}
	}
	ap := apply(t, vc, nil)
	putObject(t, cosClient(t, e, ap), (*ap.MediaStoragePath)[1:], []byte("x"))
	cm := commit(t, vc, *ap.VodSessionKey)
	if cm.CoverUrl == nil || *cm.CoverUrl != "" {
		t.Fatalf("CoverUrl %v, want present and empty", cm.CoverUrl)
	}
}

// TestLegacyActionNamesFaultsAndStats: faults and counters keyed by action
// apply to legacy requests, whose action is in the query or the form body.
func TestLegacyActionNamesFaultsAndStats(t *testing.T) {
	e := emulatortest.Start(t)
	e.SetFaults(emulator.FaultConfig{ErrorRate: map[string]float64{"ApplyUpload": 1}})
	for _, m := range []string{"GET", "POST"} {
		if code, msg, _ := (legacyReq{method: m, params: map[string]string{"MediaType": "mp4"}}).do(t, e); code != "InternalError" {
			t.Fatalf("%s: %s %s, want the injected InternalError", m, code, msg)
		}
	}
	e.SetFaults(emulator.FaultConfig{})
	if code, msg, _ := (legacyReq{params: map[string]string{"MediaType": "mp4"}}).do(t, e); code != "" {
		t.Fatalf("after the fault: %s %s", code, msg)
	}
	st := e.Stats()
	if st.Requests["ApplyUpload"] != 3 || st.Faults["error"] != 2 || st.Signatures["HmacSHA256"] != 1 {
		t.Fatalf("requests %v faults %v signatures %v", st.Requests, st.Faults, st.Signatures)
	}
}
