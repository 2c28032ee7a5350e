package legacysign

import (
	"errors"
	"strings"
	"testing"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// The example of Tencent Cloud's "Signature" (API 3.0 signature v1)
// document: CVM DescribeInstances in ap-guangzhou, signed with HmacSHA1.
const (
	docSecretID  = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
	docSecretKey = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
	docToSign    = "GETcvm.tencentcloudapi.com/?Action=DescribeInstances&InstanceIds.0=ins-09dx96dg&Limit=20&Nonce=11886&Offset=0&Region=ap-guangzhou&SecretId=" + docSecretID + "&Timestamp=1465185768&Version=2017-03-12"
	docSignature = "EliP9YW3pW28FpsEdkXt/+WcGeI="
	// The document's final request URL's query.
	docQuery = "Action=DescribeInstances&InstanceIds.0=ins-09dx96dg&Limit=20&Nonce=11886&Offset=0&Region=ap-guangzhou&SecretId=" + docSecretID + "&Signature=EliP9YW3pW28FpsEdkXt%2F%2BWcGeI%3D&Timestamp=1465185768&Version=2017-03-12"
)

func docParams() map[string]string {
	return map[string]string{
		"Action": "DescribeInstances", "SecretId": docSecretID, "Timestamp": "1465185768", "Nonce": "11886",
		"Region": "ap-guangzhou", "InstanceIds.0": "ins-09dx96dg", "Offset": "0", "Limit": "20", "Version": "2017-03-12",
	}
}

func TestPublishedVector(t *testing.T) {
	if got := StringToSign("GET", "cvm.tencentcloudapi.com", "/", docParams()); got != docToSign {
		t.Fatalf("string to sign\n got %s\nwant %s", got, docToSign)
	}
	if got := Signature(docSecretKey, HmacSHA1, docToSign); got != docSignature {
		t.Fatalf("signature %s, want %s", got, docSignature)
	}
	// SignatureMethod absent or unknown: the service verifies with HmacSHA1.
	if got := Signature(docSecretKey, "", docToSign); got != docSignature {
		t.Fatalf("signature without a method %s, want the HmacSHA1 one", got)
	}
}

// TestVerifyPublishedQuery parses the document's request URL and checks its
// Signature the way the emulator does.
func TestVerifyPublishedQuery(t *testing.T) {
	p, err := ParseParams(docQuery, 100)
	if err != nil {
		t.Fatal(err)
	}
	if p[ParamSignature] != docSignature {
		t.Fatalf("decoded signature %q", p[ParamSignature])
	}
	if !Equal(Signature(docSecretKey, p[ParamSignatureMethod], StringToSign("GET", "cvm.tencentcloudapi.com", "/", p)), p[ParamSignature]) {
		t.Fatal("the published request does not verify")
	}
	p["Limit"] = "21"
	if Equal(Signature(docSecretKey, p[ParamSignatureMethod], StringToSign("GET", "cvm.tencentcloudapi.com", "/", p)), p[ParamSignature]) {
		t.Fatal("a changed parameter still verifies")
	}
}

// TestMatchesTheGoSDK compares with tencentcloud-sdk-go's own HMAC code for
// both methods (its string to sign is private; the emulator tests drive the
// whole client with both methods, GET and POST).
func TestMatchesTheGoSDK(t *testing.T) {
	for _, m := range []string{HmacSHA1, HmacSHA256} {
		s := StringToSign("POST", "vod.tencentcloudapi.com", "/", map[string]string{"Action": "ApplyUpload", "MediaType": "mp4", "MediaName": "a b&c=d/中"})
		if got, want := Signature(docSecretKey, m, s), common.Sign(s, docSecretKey, m); got != want {
			t.Errorf("%s: %s, SDK %s", m, got, want)
		}
	}
	if Signature("k", HmacSHA256, "x") == Signature("k", HmacSHA1, "x") {
		t.Fatal("methods give the same signature")
	}
}

func TestSignRoundTrip(t *testing.T) {
	p := map[string]string{"Action": "ApplyUpload", "MediaName": "a+b c&d=é", "Signature": "stale"}
	Sign(p, "POST", "vod.tencentcloudapi.com", "/", "AKIDx", "key", "tok", HmacSHA256)
	if p[ParamToken] != "tok" || p[ParamSignatureMethod] != HmacSHA256 || p[ParamSecretID] != "AKIDx" {
		t.Fatalf("params %v", p)
	}
	back, err := ParseParams(Encode(p), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(p) || back["MediaName"] != p["MediaName"] {
		t.Fatalf("round trip %v", back)
	}
	if !Equal(Signature("key", back[ParamSignatureMethod], StringToSign("POST", "vod.tencentcloudapi.com", "/", back)), back[ParamSignature]) {
		t.Fatal("signed params do not verify")
	}
}

func TestParseParams(t *testing.T) {
	tests := []struct {
		raw  string
		want map[string]string
		bad  string // substring of the error
	}{
		{raw: "", want: map[string]string{}},
		{raw: "a=1&&b=x+y%21&c", want: map[string]string{"a": "1", "b": "x y!", "c": ""}},
		{raw: "a.0=%E4%B8%AD", want: map[string]string{"a.0": "中"}},
		{raw: "a=1&a=2", bad: "given twice"},
		{raw: "=1", bad: "no name"},
		{raw: "a=%zz", bad: "bad %-escape"},
		{raw: "%zz=1", bad: "bad %-escape"},
		{raw: "a=%ff", bad: "not UTF-8"},
		{raw: "a%0a=1", bad: "control character"},
		{raw: "a=1&b=1&c=1&d=1", bad: "more than 3"},
	}
	for _, tc := range tests {
		got, err := ParseParams(tc.raw, 3)
		if tc.bad != "" {
			if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%q: error %v, want %q", tc.raw, err, tc.bad)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%q: %v, %v", tc.raw, got, err)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q: %s=%q, want %q", tc.raw, k, got[k], v)
			}
		}
	}
}

// FuzzParseParams: any text gives parameters or ErrMalformed, never a
// panic; what it gives encodes back to the same parameters.
func FuzzParseParams(f *testing.F) {
	for _, s := range []string{docQuery, "", "a=1&a=2", "a=%zz", "&&=", "a.0.b=1&a.1=%E4%B8%AD", "x=%ff", "a+b=c+d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := ParseParams(raw, 64)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(p) > 64 {
			t.Fatalf("%d params", len(p))
		}
		back, err := ParseParams(Encode(p), 64)
		if err != nil || len(back) != len(p) {
			t.Fatalf("re-encoded %v: %v %v", p, back, err)
		}
		for k, v := range p {
			if back[k] != v {
				t.Fatalf("%q: %q -> %q", k, v, back[k])
			}
		}
	})
}
