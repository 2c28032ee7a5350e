package uploader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// withDeadline returns rt giving each request a deadline of its own,
// timeout from when it is sent, through its context, for an SDK client
// whose own timeout (http.Client.Timeout) is off. It is that timeout
// without its cost: for a RoundTripper it does not know (the API pacer
// in front of the transport), net/http enforces Client.Timeout with a
// goroutine and a timer per request, and the transport starts a second
// goroutine for the request's Cancel channel; on a drop of small files,
// four goroutines to start and wake per file. The deadline ends when the
// response body is read to its end or closed, as Client.Timeout's does.
func withDeadline(rt http.RoundTripper, timeout time.Duration) http.RoundTripper {
	return deadlineTransport{rt: rt, timeout: timeout}
}

type deadlineTransport struct {
	rt      http.RoundTripper
	timeout time.Duration
}

func (t deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &deadlineBody{rc: resp.Body, ctx: ctx, cancel: cancel}
	return resp, nil
}

// deadlineBody ends its request's deadline at its end or when closed, and
// names the deadline when it was what cut the body short.
type deadlineBody struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelFunc
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.cancel()
	case err != nil && errors.Is(b.ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("reading the response: %w", context.DeadlineExceeded)
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}
