package hooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook request headers.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderEvent          = "X-Vodwatchd-Event"
	HeaderTimestamp      = "X-Vodwatchd-Timestamp" // Unix seconds
	HeaderSignature      = "X-Vodwatchd-Signature" // "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body)
)

// Sign is the signature header value of body sent at timestamp.
func Sign(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// post sends one webhook attempt; a 2xx answer is success.
func post(ctx context.Context, client *http.Client, h Hook, d Delivery, now time.Time) Attempt {
	a := Attempt{At: now}
	b, err := body(d)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(b))
	if err != nil {
		a.Error = fmt.Sprintf("webhook %s: bad request: %v", h.Name, err)
		return a
	}
	ts := now.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vodwatchd-hooks")
	req.Header.Set(HeaderIdempotencyKey, d.Key)
	req.Header.Set(HeaderEvent, d.Facts.Event)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	if h.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(h.Secret, ts, b))
	}
	start := time.Now()
	resp, err := client.Do(req)
	a.Duration = time.Since(start)
	if err != nil {
		a.Error = fmt.Sprintf("webhook %s: %v", h.Name, err)
		return a
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	a.HTTPStatus = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.Error = fmt.Sprintf("webhook %s: HTTP %d: %s", h.Name, resp.StatusCode, clip(strings.ToValidUTF8(string(snippet), "?"), 200))
	}
	return a
}

func (h Hook) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return 30 * time.Second
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
