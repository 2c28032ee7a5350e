package cos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	cossdk "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/vodwatchd/vodwatchd/internal/emulator/cossign"
)

const (
	testBucket = "media-1250000000"
	testRegion = "ap-guangzhou-2"
	testHost   = testBucket + ".cos." + testRegion + ".myqcloud.com"
)

// grants is the test Authorizer.
type grants struct {
	mu sync.Mutex
	m  map[string]Grant
}

func (g *grants) Grant(id string) (Grant, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.m[id]
	return gr, ok
}

func (g *grants) add(gr Grant) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.m[gr.SecretID] = gr
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type env struct {
	t      testing.TB
	dir    string
	srv    *Server
	http   *httptest.Server
	grants *grants
	clock  *clock
	grant  Grant
}

func newEnv(t testing.TB, mod ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), grants: &grants{m: map[string]Grant{}}, clock: &clock{t: time.Now()}}
	e.grant = Grant{SecretID: "AKIDtmp" + randomHex(4), SecretKey: "sk-" + randomHex(8), Token: "tok-" + randomHex(8),
		Bucket: testBucket, Region: testRegion, Prefixes: []string{"session1/"}, Expires: time.Now().Add(time.Hour)}
	e.grants.add(e.grant)
	e.start(mod...)
	return e
}

// start (re)creates the Server on e.dir behind a new httptest server.
func (e *env) start(mod ...func(*Options)) {
	e.t.Helper()
	opts := Options{Now: e.clock.Now}
	for _, m := range mod {
		m(&opts)
	}
	srv, err := New(e.dir, e.grants, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
	e.http = httptest.NewServer(srv)
	e.t.Cleanup(e.http.Close)
}

// client returns a cos-go-sdk-v5 client for grant g with CRC checks on.
func (e *env) client(g Grant) *cossdk.Client {
	u, _ := url.Parse(e.http.URL)
	c := cossdk.NewClient(&cossdk.BaseURL{BucketURL: u}, &http.Client{
		Timeout: 30 * time.Second,
		Transport: &cossdk.AuthorizationTransport{SecretID: g.SecretID, SecretKey: g.SecretKey,
			SessionToken: g.Token},
	})
	c.Host = g.Bucket + ".cos." + g.Region + ".myqcloud.com"
	c.Conf.EnableCRC = true
	c.Conf.RetryOpt.Count = 1
	return c
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func putBytes(t *testing.T, c *cossdk.Client, key string, b []byte) *cossdk.Response {
	t.Helper()
	resp, err := c.Object.Put(context.Background(), key, bytes.NewReader(b), nil)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return resp
}

// cosCode extracts the COS error code from an SDK error.
func cosCode(err error) string {
	if e, ok := err.(*cossdk.ErrorResponse); ok {
		return e.Code
	}
	return ""
}

// rawRequest sends a request built by hand, signed with g when g is not nil.
func (e *env) rawRequest(t *testing.T, method, path string, body []byte, hdr map[string]string, g *Grant) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = testHost
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if g != nil {
		now := e.clock.Now()
		cossign.SignRequest(req, g.SecretID, g.SecretKey, g.Token, now, now.Add(time.Hour))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// parseError decodes a COS XML error body and checks its required fields.
func parseError(t *testing.T, b []byte) errorBody {
	t.Helper()
	var eb errorBody
	if err := xml.Unmarshal(b, &eb); err != nil {
		t.Fatalf("error body %q: %v", b, err)
	}
	if eb.Code == "" || eb.Message == "" || eb.Resource == "" || eb.RequestID == "" {
		t.Fatalf("error body misses a field: %+v", eb)
	}
	return eb
}

func signRequestForTest(req *http.Request, g Grant, now time.Time) {
	cossign.SignRequest(req, g.SecretID, g.SecretKey, g.Token, now, now.Add(time.Hour))
}
