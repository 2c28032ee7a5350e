package uploader

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// RetryPolicy bounds the retries of transient failures (network errors,
// 5xx, InternalError, RequestLimitExceeded*).
type RetryPolicy struct {
	MaxAttempts    int           // total attempts per call, default 5
	InitialBackoff time.Duration // first wait, default 500ms
	MaxBackoff     time.Duration // cap, default 20s
	Jitter         float64       // 0..1: each wait is reduced by up to this fraction, default 0.5
	// OnRetry, if set, is told of every retry by operation (ApplyUpload,
	// PutObject, UploadPart, ...): vodwatchd_retries_total counts them.
	OnRetry func(op string)
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = 500 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 20 * time.Second
	}
	if p.MaxBackoff < p.InitialBackoff {
		p.MaxBackoff = p.InitialBackoff
	}
	if p.Jitter < 0 || p.Jitter > 1 {
		p.Jitter = 0.5
	}
	return p
}

// backoff returns the wait before attempt n+1 (n >= 1).
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.InitialBackoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	if p.Jitter > 0 {
		d -= time.Duration(rand.Float64() * p.Jitter * float64(d))
	}
	return d
}

// do runs fn until it succeeds, fails with an error that is not retryable,
// runs out of attempts, or ctx ends. fn's errors must be classified.
func (p RetryPolicy) do(ctx context.Context, log *slog.Logger, op string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		var e *Error
		if errors.Is(err, ErrCommitUnknown) || !errors.As(err, &e) || !e.Retryable || attempt >= p.MaxAttempts {
			return err
		}
		wait := p.backoff(attempt)
		if p.OnRetry != nil {
			p.OnRetry(op)
		}
		log.Warn("retrying", "op", op, "attempt", attempt, "code", e.Code, "message", e.Message,
			"request_id", e.RequestID, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}
