package tc3

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// The example of Tencent Cloud's "Signature v3" document (CVM
// DescribeInstances in ap-guangzhou, SignedHeaders content-type;host).
const (
	docSecretID  = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
	docSecretKey = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
	docTimestamp = 1551113065
	docPayload   = `{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`
	docSignature = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
	docAuth      = "TC3-HMAC-SHA256 Credential=" + docSecretID + "/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=" + docSignature
)

func docInput() Input {
	return Input{
		Method: "POST", URI: "/",
		Headers: []Header{
			{"content-type", "application/json; charset=utf-8"},
			{"host", "cvm.tencentcloudapi.com"},
		},
		PayloadHash: HashPayload([]byte(docPayload)),
		Timestamp:   docTimestamp,
		Service:     "cvm",
	}
}

func TestPublishedVector(t *testing.T) {
	in := docInput()
	if got := in.Scope(); got != "2019-02-25/cvm/tc3_request" {
		t.Fatalf("scope %q", got)
	}
	// The document's intermediate value: the hashed canonical request.
	wantSTS := "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
	if got := in.StringToSign(); got != wantSTS {
		t.Fatalf("string to sign\n got %q\nwant %q", got, wantSTS)
	}
	if got := Signature(docSecretKey, in); got != docSignature {
		t.Fatalf("signature %s, want %s", got, docSignature)
	}
	if got := Sign(docSecretID, docSecretKey, in); got != docAuth {
		t.Fatalf("authorization\n got %s\nwant %s", got, docAuth)
	}
}

// TestVerifyPublishedRequest rebuilds the document's curl request as an
// http.Request and verifies its Authorization the way the emulator does.
func TestVerifyPublishedRequest(t *testing.T) {
	r, err := http.NewRequest("POST", "https://cvm.tencentcloudapi.com/", strings.NewReader(docPayload))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("X-TC-Action", "DescribeInstances")
	a, err := ParseAuthorization(docAuth)
	if err != nil {
		t.Fatal(err)
	}
	in := FromRequest(r, []byte(docPayload), a, docTimestamp)
	if !Equal(Signature(docSecretKey, in), a.Signature) {
		t.Fatal("published request does not verify")
	}
	tests := []struct {
		name   string
		mutate func(*http.Request, *[]byte)
	}{
		{"body changed", func(_ *http.Request, b *[]byte) { *b = []byte(strings.Replace(docPayload, "1", "2", 1)) }},
		{"host changed", func(r *http.Request, _ *[]byte) { r.Host = "vod.tencentcloudapi.com" }},
		{"content type changed", func(r *http.Request, _ *[]byte) { r.Header.Set("Content-Type", "application/json") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r2 := r.Clone(r.Context())
			body := []byte(docPayload)
			tc.mutate(r2, &body)
			if Equal(Signature(docSecretKey, FromRequest(r2, body, a, docTimestamp)), a.Signature) {
				t.Fatal("mutated request still verifies")
			}
		})
	}
}

func TestUnsignedPayload(t *testing.T) {
	r, _ := http.NewRequest("POST", "http://127.0.0.1:1/", nil)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-TC-Content-SHA256", UnsignedPayload)
	a := Authorization{SecretID: "id", Date: Date(docTimestamp), Service: "vod", SignedHeaders: []string{"content-type", "host"}}
	in := FromRequest(r, []byte("anything"), a, docTimestamp)
	if in.PayloadHash != HashPayload([]byte(UnsignedPayload)) {
		t.Fatalf("payload hash %s", in.PayloadHash)
	}
}

func TestParseAuthorization(t *testing.T) {
	good := docAuth
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"published", good, true},
		{"extra spaces", "TC3-HMAC-SHA256  Credential=" + docSecretID + "/2019-02-25/cvm/tc3_request ,  SignedHeaders=content-type;host,Signature=" + docSignature, true},
		{"empty", "", false},
		{"wrong algorithm", strings.Replace(good, "TC3-HMAC-SHA256", "HMAC-SHA1", 1), false},
		{"no credential", "TC3-HMAC-SHA256 SignedHeaders=content-type;host, Signature=" + docSignature, false},
		{"short credential", strings.Replace(good, "/cvm/tc3_request", "/cvm", 1), false},
		{"bad date", strings.Replace(good, "2019-02-25", "2019-13-45", 1), false},
		{"wrong terminator", strings.Replace(good, "tc3_request", "tc2_request", 1), false},
		{"host not signed", strings.Replace(good, "content-type;host", "content-type", 1), false},
		{"upper-case header", strings.Replace(good, "content-type;host", "Content-Type;host", 1), false},
		{"duplicate header", strings.Replace(good, "content-type;host", "content-type;host;host", 1), false},
		{"empty header entry", strings.Replace(good, "content-type;host", "content-type;;host", 1), false},
		{"short signature", strings.Replace(good, docSignature, docSignature[:10], 1), false},
		{"upper-case signature", strings.Replace(good, docSignature, strings.ToUpper(docSignature), 1), false},
		{"duplicate element", good + ", Signature=" + docSignature, false},
		{"unknown element", good + ", Foo=bar", false},
		{"element without =", good + ", junk", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAuthorization(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("ParseAuthorization(%q) err=%v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if tc.ok && (a.SecretID != docSecretID || a.Service != "cvm" || a.Date != "2019-02-25" || a.Signature != docSignature) {
				t.Fatalf("parsed %+v", a)
			}
		})
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add(docAuth)
	f.Add("TC3-HMAC-SHA256 Credential=a/2020-01-01/vod/tc3_request, SignedHeaders=content-type;host, Signature=" + strings.Repeat("0", 64))
	f.Add("TC3-HMAC-SHA256 ")
	f.Add("TC3-HMAC-SHA256 Credential=/////, SignedHeaders=;, Signature=")
	f.Add("TC3-HMAC-SHA256 ,,,==,=")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAuthorization(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// A parsed header formats back to something that parses the same.
		b, err := ParseAuthorization(a.String())
		if err != nil {
			t.Fatalf("round trip of %q: %v", s, err)
		}
		if b.String() != a.String() {
			t.Fatalf("round trip changed %q to %q", a.String(), b.String())
		}
	})
}
