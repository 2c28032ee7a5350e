package throttle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// PacerOptions configure a Pacer. Zero values take the defaults.
type PacerOptions struct {
	Rate         float64       // requests/s per action at most (config upload.api_rate), default 50
	MinRate      float64       // floor of the backed-off pace, default 1
	Backoff      float64       // factor applied on RequestLimitExceeded, default 0.5
	Recover      float64       // requests/s added back per RecoverEvery without throttling, default Rate/20 (at least 1)
	RecoverEvery time.Duration // default 1s
	Retries      int           // RequestLimitExceeded answers retried here before the caller sees one, default 3; <0 = none
	MaxBody      int64         // API response bytes inspected, default 1 MiB (larger ones pass unread)
	Logger       *slog.Logger  // default: discard
	Now          func() time.Time
}

func (o PacerOptions) withDefaults() PacerOptions {
	if o.Rate <= 0 {
		o.Rate = 50
	}
	if o.MinRate <= 0 {
		o.MinRate = 1
	}
	o.MinRate = min(o.MinRate, o.Rate)
	if o.Backoff <= 0 || o.Backoff >= 1 {
		o.Backoff = 0.5
	}
	if o.Recover <= 0 {
		o.Recover = max(o.Rate/20, 1)
	}
	if o.RecoverEvery <= 0 {
		o.RecoverEvery = time.Second
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Pacer is an http.RoundTripper that paces VOD API calls (POST requests
// with an X-TC-Action header) per action, below the service's limit of
// 100 requests/s per action. A RequestLimitExceeded answer slows that
// action's pace multiplicatively (at most once per RecoverEvery); each
// RecoverEvery without one speeds it up additively, back to Rate. Such an
// answer is retried here (the request had no effect) up to Retries times.
// Other requests (COS) pass through untouched.
type Pacer struct {
	next    http.RoundTripper
	opts    PacerOptions
	mu      sync.Mutex
	actions map[string]*pace
}

// pace is one action's state.
type pace struct {
	tb        *rate.Limiter
	cur       float64
	changed   time.Time // last backoff or recovery step
	backedOff time.Time // last backoff
	throttled int64     // RequestLimitExceeded answers seen
	returned  int64     // of which handed back to the caller
	requests  int64
}

// NewPacer wraps next (e.g. uploader.DefaultTransport()).
func NewPacer(next http.RoundTripper, opts PacerOptions) *Pacer {
	return &Pacer{next: next, opts: opts.withDefaults(), actions: map[string]*pace{}}
}

// ActionStats is one action's pacing state.
type ActionStats struct {
	Rate      float64 // current pace, requests/s
	Requests  int64   // requests sent (retries included)
	Throttled int64   // RequestLimitExceeded answers received
	Returned  int64   // of which handed back to the caller (retries exhausted)
}

// Stats returns the pacing state per action.
func (p *Pacer) Stats() map[string]ActionStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]ActionStats, len(p.actions))
	for a, s := range p.actions {
		out[a] = ActionStats{Rate: s.cur, Requests: s.requests, Throttled: s.throttled, Returned: s.returned}
	}
	return out
}

// RoundTrip sends req, waiting for its action's pace first when it is an
// API call.
func (p *Pacer) RoundTrip(req *http.Request) (*http.Response, error) {
	action := req.Header.Get("X-TC-Action")
	if req.Method != http.MethodPost || action == "" {
		return p.next.RoundTrip(req)
	}
	for attempt := 0; ; attempt++ {
		if err := p.wait(req, action); err != nil {
			if req.Body != nil {
				req.Body.Close() // a RoundTripper closes the body, even on errors
			}
			return nil, err
		}
		resp, err := p.next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		code, err := p.inspect(resp)
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(code, "RequestLimitExceeded") {
			return resp, nil
		}
		p.backoff(action, code)
		retry := p.rewind(req, attempt)
		if retry == nil {
			p.returned(action)
			return resp, nil
		}
		resp.Body.Close()
		req = retry
	}
}

// wait takes one token of the action's pace, recovering it first.
func (p *Pacer) wait(req *http.Request, action string) error {
	p.mu.Lock()
	s := p.actions[action]
	now := p.opts.Now()
	if s == nil {
		s = &pace{tb: rate.NewLimiter(rate.Limit(p.opts.Rate), 1), cur: p.opts.Rate, changed: now}
		p.actions[action] = s
	}
	if steps := now.Sub(s.changed) / p.opts.RecoverEvery; s.cur < p.opts.Rate && steps > 0 {
		s.cur = min(p.opts.Rate, s.cur+float64(steps)*p.opts.Recover)
		s.changed = now
		s.tb.SetLimit(rate.Limit(s.cur))
	}
	s.requests++
	tb := s.tb
	p.mu.Unlock()
	if err := tb.Wait(req.Context()); err != nil {
		return fmt.Errorf("pacing %s: %w", action, err)
	}
	return nil
}

// backoff slows the action after a RequestLimitExceeded answer.
func (p *Pacer) backoff(action, code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.actions[action]
	s.throttled++
	now := p.opts.Now()
	if now.Sub(s.backedOff) < p.opts.RecoverEvery {
		return // answers to requests sent at the old pace: one cut is enough
	}
	old := s.cur
	s.cur = max(p.opts.MinRate, s.cur*p.opts.Backoff)
	s.changed, s.backedOff = now, now
	s.tb.SetLimit(rate.Limit(s.cur))
	p.opts.Logger.Info("API pace lowered", "action", action, "code", code, "from", old, "to", s.cur)
}

func (p *Pacer) returned(action string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.actions[action].returned++
}

// rewind returns a copy of req to send again, or nil when it may not be
// (retries used up, or a body that cannot be read again).
func (p *Pacer) rewind(req *http.Request, attempt int) *http.Request {
	if attempt >= p.opts.Retries || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return nil
	}
	r := req.Clone(req.Context())
	if req.GetBody != nil {
		b, err := req.GetBody()
		if err != nil {
			return nil
		}
		r.Body = b
	}
	return r
}

// inspect reads an API response's body (up to MaxBody), puts it back and
// returns its error code, if any.
func (p *Pacer) inspect(resp *http.Response) (string, error) {
	if resp.Body == nil || resp.ContentLength > p.opts.MaxBody {
		return "", nil
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, p.opts.MaxBody+1))
	if err != nil {
		resp.Body.Close()
		return "", fmt.Errorf("read API response: %w", err)
	}
	if int64(len(head)) > p.opts.MaxBody { // too large to inspect: hand it on whole
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
		return "", nil
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(head))
	if !bytes.Contains(head, []byte(`"Error"`)) {
		return "", nil // a success: no need to decode it here
	}
	var v struct {
		Response struct {
			Error *struct{ Code string }
		}
	}
	if json.Unmarshal(head, &v) != nil || v.Response.Error == nil {
		return "", nil
	}
	return v.Response.Error.Code, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
