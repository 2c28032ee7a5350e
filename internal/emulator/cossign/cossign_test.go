package cossign

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"
)

// Published example inputs from COS's "Request Signature" document (436/7778).
const (
	docSecretID  = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
	docSecretKey = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
	docHost      = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
)

func TestPublishedVectors(t *testing.T) {
	tests := []struct {
		name, keyTime, signKey, httpSHA1, signature string
		c                                           Canonical
		headerList, paramList                       string
	}{
		{
			name:     "doc example 1: PUT object",
			keyTime:  "1557989151;1557996351",
			signKey:  "eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f",
			httpSHA1: "8b2751e77f43a0995d6e9eb9477f4b685cca4172",
			c: Canonical{Method: "PUT", Path: "/exampleobject(腾讯云)", Headers: []Pair{
				{"Date", "Thu, 16 May 2019 06:45:51 GMT"},
				{"Host", docHost},
				{"Content-Type", "text/plain"},
				{"Content-Length", "13"},
				{"Content-MD5", "mQ/fVh815F3k6TAUm8m0eg=="},
				{"x-cos-acl", "private"},
				{"x-cos-grant-read", `uin="100000000011"`},
			}},
			headerList: "content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read",
			signature:  "3b8851a11a569213c17ba8fa7dcf2abec6935172",
		},
		{
			name:     "doc example 2: GET object with response-* params",
			keyTime:  "1557989753;1557996953",
			httpSHA1: "54ecfe22f59d3514fdc764b87a32d8133ea611e6",
			c: Canonical{Method: "GET", Path: "/exampleobject(腾讯云)",
				Params: []Pair{
					{"response-content-type", "application/octet-stream"},
					{"response-cache-control", "max-age=600"},
				},
				Headers: []Pair{
					{"Date", "Thu, 16 May 2019 06:55:53 GMT"},
					{"Host", docHost},
				}},
			headerList: "date;host",
			paramList:  "response-cache-control;response-content-type",
			signature:  "01681b8c9d798a678e43b685a9f1bba0f6c0e012",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.signKey != "" {
				if got := SignKey(docSecretKey, tt.keyTime); got != tt.signKey {
					t.Errorf("SignKey = %s, want %s", got, tt.signKey)
				}
			}
			sts := StringToSign(tt.keyTime, HTTPString(tt.c))
			if want := "sha1\n" + tt.keyTime + "\n" + tt.httpSHA1 + "\n"; sts != want {
				t.Errorf("StringToSign = %q, want %q", sts, want)
			}
			start, end, err := ParseTimeRange(tt.keyTime)
			if err != nil {
				t.Fatal(err)
			}
			a := Sign(docSecretID, docSecretKey, start, end, tt.c)
			if a.Signature != tt.signature {
				t.Errorf("signature = %s, want %s", a.Signature, tt.signature)
			}
			want := "q-sign-algorithm=sha1&q-ak=" + docSecretID + "&q-sign-time=" + tt.keyTime +
				"&q-key-time=" + tt.keyTime + "&q-header-list=" + tt.headerList +
				"&q-url-param-list=" + tt.paramList + "&q-signature=" + tt.signature
			if a.String() != want {
				t.Errorf("Authorization =\n%s\nwant\n%s", a, want)
			}
			parsed, err := ParseAuthorization(want)
			if err != nil {
				t.Fatalf("ParseAuthorization: %v", err)
			}
			if parsed.String() != want {
				t.Errorf("round trip = %s", parsed)
			}
		})
	}
}

// The vector in cos-go-sdk-v5's own auth_test.go.
func TestSDKUnitVector(t *testing.T) {
	c := Canonical{Method: "PUT", Path: "/testfile2", Headers: []Pair{
		{"host", "testbucket-125000000.cos.ap-guangzhou.myqcloud.com"},
		{"x-cos-content-sha1", "db8ac1c259eb89d4a131b253bacfca5f319d54f2"},
		{"x-cos-stroage-class", "nearline"},
	}}
	a := Sign("QmFzZTY0IGlzIGEgZ2VuZXJp", "AKIDZfbOA78asKUYBcXFrJD0a1ICvR98JM",
		time.Unix(1480932292, 0), time.Unix(1481012292, 0), c)
	if a.Signature != "ce4ac0ecbcdb30538b3fee0a97cc6389694ce53a" {
		t.Fatalf("signature = %s", a.Signature)
	}
}

// TestVerifySDKRequests sends requests signed by cos-go-sdk-v5's own signer to
// a real server and verifies them there, including tampered variants.
func TestVerifySDKRequests(t *testing.T) {
	const id, key = "AKIDtest", "secret-key-for-tests"
	var got error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := ParseAuthorization(r.Header.Get("Authorization"))
		if err == nil {
			err = Verify(r, a, key)
		}
		if err == nil {
			err = CheckTime(a, time.Now(), time.Minute)
		}
		got = err
	}))
	defer srv.Close()
	vhost := "bucket-1250000000.cos.ap-guangzhou-2.myqcloud.com"
	tests := []struct {
		name    string
		method  string
		path    string
		header  map[string]string
		tamper  func(r *http.Request)
		signKey string
		wantErr error
	}{
		{name: "put with meta", method: "PUT", path: "/a/b%20c(1)!.mp4",
			header: map[string]string{"Content-Type": "video/mp4", "x-cos-meta-x": "y;z=1", "Content-Length": "0"}},
		{name: "part query", method: "PUT", path: "/k?partNumber=3&uploadId=abc",
			header: map[string]string{"Content-Length": "0"}},
		{name: "empty query value", method: "POST", path: "/k?uploads", header: map[string]string{"Content-Length": "0"}},
		{name: "get range", method: "GET", path: "/%E8%85%BE%E8%AE%AF%E4%BA%91.ts", header: map[string]string{"Range": "bytes=0-9"}},
		{name: "wrong key", method: "GET", path: "/k", signKey: "other", wantErr: ErrSignature},
		{name: "tampered query", method: "PUT", path: "/k?partNumber=3&uploadId=abc", header: map[string]string{"Content-Length": "0"},
			tamper: func(r *http.Request) { r.URL.RawQuery = "partNumber=4&uploadId=abc" }, wantErr: ErrSignature},
		{name: "tampered header", method: "PUT", path: "/k", header: map[string]string{"x-cos-meta-a": "1", "Content-Length": "0"},
			tamper: func(r *http.Request) { r.Header.Set("x-cos-meta-a", "2") }, wantErr: ErrSignature},
		{name: "tampered path", method: "GET", path: "/k",
			tamper: func(r *http.Request) { r.URL.Path = "/k2" }, wantErr: ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = vhost
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			sk := key
			if tt.signKey != "" {
				sk = tt.signKey
			}
			cossdk.AddAuthorizationHeader(id, sk, "token", req, cossdk.NewAuthTime(time.Hour))
			req.Header.Del("Host") // the transport sends req.Host
			if tt.tamper != nil {
				tt.tamper(req)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !errors.Is(got, tt.wantErr) && got != tt.wantErr {
				t.Fatalf("verify: %v, want %v", got, tt.wantErr)
			}
		})
	}
}

// TestSignRequestVerifies checks our signer against our verifier over a real
// server round trip.
func TestSignRequestVerifies(t *testing.T) {
	var got error = errors.New("not called")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := ParseAuthorization(r.Header.Get("Authorization"))
		if err == nil {
			err = Verify(r, a, "k")
		}
		got = err
	}))
	defer srv.Close()
	req, _ := http.NewRequest("PUT", srv.URL+"/x/y.ts?partNumber=1&uploadId=u", strings.NewReader("abc"))
	req.Host = "b-1.cos.ap-guangzhou.myqcloud.com"
	req.Header.Set("Content-Type", "video/mp2t")
	now := time.Now()
	SignRequest(req, "id", "k", "tok", now, now.Add(time.Minute))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != nil {
		t.Fatalf("verify: %v", got)
	}
}

func TestParseAuthorizationErrors(t *testing.T) {
	good := "q-sign-algorithm=sha1&q-ak=id&q-sign-time=1;2&q-key-time=1;2&q-header-list=host&q-url-param-list=&q-signature=ab"
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"no equals", "q-sign-algorithm"},
		{"wrong algorithm", strings.Replace(good, "sha1", "md5", 1)},
		{"no ak", strings.Replace(good, "q-ak=id", "q-ak=", 1)},
		{"bad sign time", strings.Replace(good, "q-sign-time=1;2", "q-sign-time=2;1", 1)},
		{"bad key time", strings.Replace(good, "q-key-time=1;2", "q-key-time=x", 1)},
		{"no signature", strings.Replace(good, "q-signature=ab", "q-signature=", 1)},
		{"unknown field", good + "&q-other=1"},
		{"duplicate", good + "&q-ak=id2"},
	}
	if _, err := ParseAuthorization(good); err != nil {
		t.Fatalf("good: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseAuthorization(tt.in); err == nil {
				t.Fatalf("ParseAuthorization(%q) succeeded", tt.in)
			}
		})
	}
}

func TestCheckTime(t *testing.T) {
	base := time.Unix(1000, 0)
	a := Auth{SignTime: "1000;2000", KeyTime: "1000;2000"}
	tests := []struct {
		now  time.Time
		want error
	}{
		{base, nil},
		{time.Unix(2000, 0), nil},
		{time.Unix(2001, 0), ErrExpired},
		{time.Unix(950, 0), nil}, // within a 60s skew
		{time.Unix(900, 0), ErrNotYetValid},
	}
	for _, tt := range tests {
		if err := CheckTime(a, tt.now, time.Minute); !errors.Is(err, tt.want) && err != tt.want {
			t.Errorf("CheckTime at %d = %v, want %v", tt.now.Unix(), err, tt.want)
		}
	}
}

func TestEscape(t *testing.T) {
	tests := map[string]string{
		"a-_.~Z9":         "a-_.~Z9",
		"a b":             "a%20b",
		"!'()*":           "%21%27%28%29%2A",
		"/=&;":            "%2F%3D%26%3B",
		"腾":               "%E8%85%BE",
		"mQ/fVh8==":       "mQ%2FfVh8%3D%3D",
		`uin="100000000"`: "uin%3D%22100000000%22",
	}
	for in, want := range tests {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("q-sign-algorithm=sha1&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q&q-sign-time=1557989151;1557996351&q-key-time=1557989151;1557996351&q-header-list=content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read&q-url-param-list=&q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172")
	f.Add("q-sign-algorithm=sha1&q-ak=a&q-sign-time=1;2&q-key-time=1;2&q-header-list=&q-url-param-list=a;b&q-signature=x")
	f.Add("&&==;;")
	f.Add("q-ak==&q-ak")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAuthorization(s)
		if err != nil {
			return
		}
		// A value that parses must survive a format/parse round trip.
		b, err := ParseAuthorization(a.String())
		if err != nil {
			t.Fatalf("reparse of %q: %v", a.String(), err)
		}
		if b.String() != a.String() {
			t.Fatalf("round trip changed %q to %q", a.String(), b.String())
		}
	})
}
