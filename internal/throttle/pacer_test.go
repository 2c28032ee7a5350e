package throttle

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// apiServer answers API calls: the first `throttle` of them (all actions
// together) with RequestLimitExceeded, the rest with body. Non-API
// requests get "cos".
func apiServer(t *testing.T, throttle int64, body string) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-TC-Action") == "" {
			io.WriteString(w, "cos")
			return
		}
		b, _ := io.ReadAll(r.Body)
		if string(b) != `{"a":1}` {
			t.Errorf("API request body %q, want the original", b)
		}
		if calls.Add(1) <= throttle {
			io.WriteString(w, `{"Response":{"Error":{"Code":"RequestLimitExceeded","Message":"slow"},"RequestId":"r"}}`)
			return
		}
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func apiRequest(t *testing.T, url, action string) *http.Request {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-TC-Action", action)
	return req
}

func roundTrip(t *testing.T, rt http.RoundTripper, req *http.Request) string {
	t.Helper()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPacerPassesOtherRequests: COS requests (no X-TC-Action) and GETs are
// not paced: 50 of them at a pace of 1/s take no time.
func TestPacerPassesOtherRequests(t *testing.T) {
	srv, calls := apiServer(t, 0, `{"Response":{}}`)
	p := NewPacer(http.DefaultTransport, PacerOptions{Rate: 1})
	start := time.Now()
	for range 50 {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/obj", strings.NewReader("data"))
		req.Host = "b-1250000000.cos.ap-guangzhou.myqcloud.com"
		if got := roundTrip(t, p, req); got != "cos" {
			t.Fatalf("COS answer %q", got)
		}
		get := apiRequest(t, srv.URL, "ApplyUpload")
		get.Method = http.MethodGet
		roundTrip(t, p, get)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("100 unpaced requests took %v", d)
	}
	if calls.Load() != 50 || len(p.Stats()) != 0 {
		t.Errorf("API calls %d, pacer stats %v; want 50 GETs unpaced", calls.Load(), p.Stats())
	}
}

// TestPacerPaces: 11 calls of one action at 20/s take about half a
// second, while another action is paced separately.
func TestPacerPaces(t *testing.T) {
	srv, _ := apiServer(t, 0, `{"Response":{"RequestId":"x"}}`)
	p := NewPacer(http.DefaultTransport, PacerOptions{Rate: 20})
	start := time.Now()
	var wg sync.WaitGroup
	for range 11 {
		wg.Go(func() { roundTrip(t, p, apiRequest(t, srv.URL, "ApplyUpload")) })
	}
	roundTrip(t, p, apiRequest(t, srv.URL, "CommitUpload"))
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("CommitUpload waited %v behind ApplyUpload", d)
	}
	wg.Wait()
	if d := time.Since(start); d < 450*time.Millisecond || d > 2*time.Second {
		t.Errorf("11 calls at 20/s took %v, want about 0.5 s", d)
	}
}

// TestPacerBacksOffAndRecovers: a RequestLimitExceeded halves the pace
// once per second at most, is retried here, and the pace then climbs back
// by Recover per second; after Retries the answer reaches the caller.
func TestPacerBacksOffAndRecovers(t *testing.T) {
	srv, calls := apiServer(t, 2, `{"Response":{"RequestId":"ok"}}`)
	now := time.Unix(1e9, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	step := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	p := NewPacer(http.DefaultTransport, PacerOptions{Rate: 40, Recover: 5, Now: clock})
	if got := roundTrip(t, p, apiRequest(t, srv.URL, "ApplyUpload")); !strings.Contains(got, `"ok"`) {
		t.Fatalf("answer %q, want the success after two retried throttles", got)
	}
	st := p.Stats()["ApplyUpload"]
	if calls.Load() != 3 || st.Throttled != 2 || st.Returned != 0 || st.Rate != 20 {
		t.Errorf("calls %d, stats %+v; want 3 calls, 2 throttled, none returned, pace 20 (halved once: same second)", calls.Load(), st)
	}
	step(1500 * time.Millisecond)
	roundTrip(t, p, apiRequest(t, srv.URL, "ApplyUpload"))
	if got := p.Stats()["ApplyUpload"].Rate; got != 25 {
		t.Errorf("pace after 1.5 s quiet: %v, want 25", got)
	}
	step(10 * time.Second)
	roundTrip(t, p, apiRequest(t, srv.URL, "ApplyUpload"))
	if got := p.Stats()["ApplyUpload"].Rate; got != 40 {
		t.Errorf("pace after 10 s quiet: %v, want back at 40", got)
	}

	always, _ := apiServer(t, 1<<40, "")
	q := NewPacer(http.DefaultTransport, PacerOptions{Rate: 1000, Retries: 2, MinRate: 500})
	if got := roundTrip(t, q, apiRequest(t, always.URL, "CommitUpload")); !strings.Contains(got, "RequestLimitExceeded") {
		t.Errorf("after retries the caller got %q, want the RequestLimitExceeded answer", got)
	}
	if st := q.Stats()["CommitUpload"]; st.Requests != 3 || st.Returned != 1 || st.Rate != 500 {
		t.Errorf("stats %+v, want 3 requests (2 retries), 1 returned, pace at the 500 floor", st)
	}
}

// TestPacerBodies: answers the pacer cannot or need not parse reach the
// caller byte for byte, including one larger than MaxBody.
func TestPacerBodies(t *testing.T) {
	big := `{"Response":{"Error":{"Code":"RequestLimitExceeded"}},"pad":"` + strings.Repeat("x", 3000) + `"}`
	for name, body := range map[string]string{
		"not JSON": "<html>bad gateway</html>", "empty": "", "no error": `{"Response":{"FileId":"1"}}`,
		"error code other": `{"Response":{"Error":{"Code":"InternalError"}}}`, "larger than MaxBody": big,
		"Response not an object": `{"Response":[1,2]}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv, calls := apiServer(t, 0, body)
			p := NewPacer(http.DefaultTransport, PacerOptions{MaxBody: 1024})
			if got := roundTrip(t, p, apiRequest(t, srv.URL, "ApplyUpload")); got != body {
				t.Errorf("caller got %d bytes %.40q, want the %d sent", len(got), got, len(body))
			}
			if calls.Load() != 1 {
				t.Errorf("%d calls, want 1 (no retry)", calls.Load())
			}
		})
	}
}

// FuzzInspect: whatever an API answers, inspect never fails on a readable
// body and hands the same bytes on.
func FuzzInspect(f *testing.F) {
	for _, s := range []string{"", "{}", `{"Response":{"Error":{"Code":"RequestLimitExceeded"}}}`,
		`{"Response":{"Error":null}}`, `{"Response":{"Error":{"Code":5}}}`, "\x00\xff", `{"Response":`} {
		f.Add([]byte(s))
	}
	p := NewPacer(http.DefaultTransport, PacerOptions{MaxBody: 64})
	f.Fuzz(func(t *testing.T, body []byte) {
		resp := &http.Response{Body: io.NopCloser(bytes.NewReader(body)), ContentLength: -1}
		code, err := p.inspect(resp)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		if !bytes.Equal(got, body) {
			t.Fatalf("body changed: %q -> %q", body, got)
		}
		if code != "" && len(body) > 64 {
			t.Fatalf("code %q read from a body over MaxBody", code)
		}
	})
}

// closeRecorder notes that it was closed.
type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

// TestPacerCancelledWait: a request whose context ends while it waits for
// its pace fails at once with the context's error and its body closed.
func TestPacerCancelledWait(t *testing.T) {
	srv, calls := apiServer(t, 0, `{"Response":{}}`)
	p := NewPacer(http.DefaultTransport, PacerOptions{Rate: 1})
	roundTrip(t, p, apiRequest(t, srv.URL, "ApplyUpload")) // takes the one token
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	body := &closeRecorder{Reader: strings.NewReader(`{"a":1}`)}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, body)
	req.Header.Set("X-TC-Action", "ApplyUpload")
	start := time.Now()
	_, err := p.RoundTrip(req)
	if err == nil || !strings.Contains(err.Error(), "pacing ApplyUpload") {
		t.Errorf("error %v, want a pacing error", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("returned after %v, want at the 50 ms deadline", d)
	}
	if !body.closed.Load() || calls.Load() != 1 {
		t.Errorf("body closed %v, calls %d; want closed and not sent", body.closed.Load(), calls.Load())
	}
}
