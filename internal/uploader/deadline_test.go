package uploader

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
)

// TestAPITimeout: a VOD call that gets no answer fails after APITimeout,
// named and as a deadline (the SDK client's own timeout is off: the
// deadline comes from withDeadline alone).
func TestAPITimeout(t *testing.T) {
	for _, op := range []string{"ApplyUpload", "CommitUpload"} {
		t.Run(op, func(t *testing.T) {
			env := newEnv(t, []func(*emulator.Config){func(c *emulator.Config) {
				c.Faults = emulator.FaultConfig{Latency: map[string]time.Duration{op: 10 * time.Second}}
			}}, func(c *Config) { c.APITimeout = 300 * time.Millisecond })
			p := writeFile(t, t.TempDir(), "a.mp4", 1000)
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			defer cancel()
			t0 := time.Now()
			_, err := env.u.Upload(ctx, Request{MediaFilePath: p}, nil, nil)
			took := time.Since(t0)
			if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), op) {
				t.Fatalf("Upload = %v; want %s failing on its deadline", err, op)
			}
			if ctx.Err() != nil || took > 5*time.Second {
				t.Fatalf("took %v: the call's own deadline did not end it", took)
			}
		})
	}
}

// ctxTransport answers with body and remembers the request's context.
type ctxTransport struct {
	body io.ReadCloser
	ctx  context.Context
}

func (c *ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.ctx = req.Context()
	return &http.Response{StatusCode: 200, Body: c.body, Header: http.Header{}}, nil
}

// stallingBody yields its text, then blocks until its context ends.
type stallingBody struct {
	text string
	ctx  func() context.Context
}

func (s *stallingBody) Read(p []byte) (int, error) {
	if s.text != "" {
		n := copy(p, s.text)
		s.text = s.text[n:]
		return n, nil
	}
	<-s.ctx().Done()
	return 0, s.ctx().Err()
}

func (s *stallingBody) Close() error { return nil }

func TestWithDeadlineBody(t *testing.T) {
	t.Run("read to the end releases the deadline", func(t *testing.T) {
		rt := &ctxTransport{body: io.NopCloser(strings.NewReader(`{"Response":{}}`))}
		resp, err := withDeadline(rt, time.Hour).RoundTrip(httptest.NewRequest("POST", "http://127.0.0.1/", nil))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(resp.Body); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(rt.ctx.Err(), context.Canceled) {
			t.Fatalf("after EOF the request's context is %v, want cancelled (its timer stopped)", rt.ctx.Err())
		}
	})
	t.Run("close releases the deadline", func(t *testing.T) {
		rt := &ctxTransport{body: io.NopCloser(strings.NewReader("partial"))}
		resp, err := withDeadline(rt, time.Hour).RoundTrip(httptest.NewRequest("POST", "http://127.0.0.1/", nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !errors.Is(rt.ctx.Err(), context.Canceled) {
			t.Fatalf("after Close the request's context is %v, want cancelled", rt.ctx.Err())
		}
	})
	t.Run("a body that stalls ends on the deadline", func(t *testing.T) {
		rt := &ctxTransport{}
		rt.body = &stallingBody{text: "{", ctx: func() context.Context { return rt.ctx }}
		resp, err := withDeadline(rt, 100*time.Millisecond).RoundTrip(httptest.NewRequest("POST", "http://127.0.0.1/", nil))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(resp.Body)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "reading the response") {
			t.Fatalf("ReadAll = %v, want the deadline named", err)
		}
	})
}
