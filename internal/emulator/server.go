package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator/cos"
)

// handler routes one request: COS by virtual host, committed media under
// /media/, and the VOD API at POST /.
func (e *Emulator) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				e.logger.Error("emulator handler panic", "panic", fmt.Sprint(v), "path", r.URL.Path)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		if r.Body != nil {
			r.Body = &idleBody{rc: r.Body, ctl: http.NewResponseController(w), idle: e.cfg.BodyIdleTimeout}
		}
		kind, op := e.classify(r)
		e.counters.request(op)
		if !e.delay(r.Context(), op) {
			return
		}
		if !e.inject(w, r, kind, op) {
			return
		}
		if d := e.faults.answerLatency(op); d > 0 {
			w = &lateAnswer{ResponseWriter: w, ctx: r.Context(), delay: d}
		}
		switch kind {
		case routeCOS:
			e.cos.ServeHTTP(w, r)
		case routeMedia:
			e.serveMedia(w, r)
		default:
			e.serveAPI(w, r)
		}
	})
}

type route int

const (
	routeAPI route = iota
	routeCOS
	routeMedia
)

// classify names the route and the operation (for stats and faults).
func (e *Emulator) classify(r *http.Request) (route, string) {
	if _, _, ok := cos.ParseHost(r.Host); ok {
		op := cos.Operation(r)
		if op == "" {
			op = "COSUnknown"
		}
		return routeCOS, op
	}
	if strings.HasPrefix(r.URL.Path, "/media/") {
		return routeMedia, "GetMedia"
	}
	a := r.Header.Get("X-TC-Action")
	if a == "" {
		a = e.legacyAction(r)
	}
	if a != "" && len(a) <= 64 {
		return routeAPI, a
	}
	return routeAPI, "API"
}

// lateAnswer holds back a response until delay has passed after the
// handler's first write (the operation has taken effect by then); a
// client that went away meanwhile never gets the answer.
type lateAnswer struct {
	http.ResponseWriter
	ctx     context.Context
	delay   time.Duration
	waited  bool
	dropped bool
}

func (l *lateAnswer) wait() {
	if l.waited {
		return
	}
	l.waited = true
	t := time.NewTimer(l.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.ctx.Done():
		l.dropped = true
	}
}

func (l *lateAnswer) WriteHeader(code int) {
	if l.wait(); !l.dropped {
		l.ResponseWriter.WriteHeader(code)
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (l *lateAnswer) Unwrap() http.ResponseWriter { return l.ResponseWriter }

func (l *lateAnswer) Write(b []byte) (int, error) {
	if l.wait(); l.dropped {
		return 0, http.ErrAbortHandler
	}
	return l.ResponseWriter.Write(b)
}

// delay sleeps the configured latency; false when the client went away.
func (e *Emulator) delay(ctx context.Context, op string) bool {
	d := e.cfg.Latency + e.faults.latency(op)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// inject applies the fault drawn for this request; false when it answered.
func (e *Emulator) inject(w http.ResponseWriter, r *http.Request, kind route, op string) bool {
	f := e.faults.decide(op)
	if f == faultNone {
		return true
	}
	e.counters.fault(f.String())
	e.logger.Info("injected fault", "op", op, "fault", f.String())
	switch f {
	case faultReset:
		e.resetMidBody(w, r)
		return false
	case faultThrottle:
		drain(r)
		switch kind {
		case routeCOS:
			writeCOSError(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate (injected)")
		case routeMedia:
			http.Error(w, "slow down (injected)", http.StatusServiceUnavailable)
		default:
			e.writeError(w, newAPIError("RequestLimitExceeded", "The request rate limit was exceeded (injected fault)."))
		}
	default:
		drain(r)
		switch kind {
		case routeCOS:
			writeCOSError(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again (injected).")
		case routeMedia:
			http.Error(w, "internal error (injected)", http.StatusInternalServerError)
		default:
			e.writeError(w, newAPIError("InternalError", "Internal error (injected fault)."))
		}
	}
	return false
}

// resetMidBody reads part of the body, then drops the TCP connection with
// a reset (SO_LINGER 0) without answering.
func (e *Emulator) resetMidBody(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil {
		io.CopyN(io.Discard, r.Body, e.faults.resetAfter())
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// drain reads what is left of a (capped) body so that the answer reaches
// a client that is still sending.
func drain(r *http.Request) {
	if r.Body != nil {
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
	}
}

// writeCOSError answers in COS's XML error format.
func writeCOSError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-cos-request-id", newRequestID())
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId></Error>", code, msg, w.Header().Get("x-cos-request-id"))
}

// idleBody cuts a request body that stalls for longer than idle (for
// example one shorter than its Content-Length on a connection kept open).
type idleBody struct {
	rc   io.ReadCloser
	ctl  *http.ResponseController
	idle time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.ctl.SetReadDeadline(time.Now().Add(b.idle))
	n, err := b.rc.Read(p)
	if err == io.EOF {
		// Clear the deadline so it cannot fire in the server's background
		// read while the handler is still answering.
		b.ctl.SetReadDeadline(time.Time{})
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		err = fmt.Errorf("request body stalled for %s: %w", b.idle, err)
	}
	return n, err
}

func (b *idleBody) Close() error { return b.rc.Close() }
