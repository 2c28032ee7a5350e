package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
)

// maxReply bounds a reply body (100,000 jobs of a few hundred bytes fit).
const maxReply = 512 << 20

// Client talks to a running daemon's control socket.
type Client struct {
	socket string
	hc     *http.Client
}

// Dial connects to the daemon at socketPath. When nobody listens there
// (no socket, or a stale one) the error wraps ErrNoDaemon.
func Dial(ctx context.Context, socketPath string) (*Client, error) {
	if _, err := os.Stat(socketPath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("control socket %s: %w", socketPath, ErrNoDaemon)
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socketPath)
		},
		MaxIdleConns: 1,
	}
	c := &Client{socket: socketPath, hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := c.do(pctx, http.MethodGet, "/v1/ping", nil, nil); err != nil {
		c.Close()
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("control socket %s: %w", socketPath, ErrNoDaemon)
		}
		return nil, err
	}
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// List returns the daemon's jobs matching f.
func (c *Client) List(ctx context.Context, f state.Filter) ([]*state.Job, error) {
	q := url.Values{}
	for _, s := range f.Stages {
		q.Add("stage", string(s))
	}
	for _, id := range f.IDs {
		q.Add("id", id)
	}
	if f.Root != "" {
		q.Set("root", f.Root)
	}
	if f.RelPrefix != "" {
		q.Set("prefix", f.RelPrefix)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var r jobsReply
	return r.Jobs, c.do(ctx, http.MethodGet, "/v1/jobs", q, &r)
}

// Get returns the job with id (or unique id prefix).
func (c *Client) Get(ctx context.Context, id string) (*state.Job, error) {
	var r jobReply
	return r.Job, c.do(ctx, http.MethodGet, "/v1/job", url.Values{"id": {id}}, &r)
}

// FindPath returns the latest jobs of a path (see state.Store.FindPath).
func (c *Client) FindPath(ctx context.Context, path string) ([]*state.Job, error) {
	var r jobsReply
	return r.Jobs, c.do(ctx, http.MethodGet, "/v1/find", url.Values{"path": {path}}, &r)
}

// Retry puts a failed or quarantined job back in the daemon's queue.
func (c *Client) Retry(ctx context.Context, id string) (*state.Job, error) {
	var r jobReply
	return r.Job, c.do(ctx, http.MethodPost, "/v1/retry", url.Values{"id": {id}}, &r)
}

// Forget drops a job record in the daemon's store.
func (c *Client) Forget(ctx context.Context, id string, force bool) error {
	q := url.Values{"id": {id}}
	if force {
		q.Set("force", "1")
	}
	return c.do(ctx, http.MethodPost, "/v1/forget", q, nil)
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, out any) error {
	u := "http://vodwatchd" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("control socket %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxReply)
	if resp.StatusCode != http.StatusOK {
		re := &RemoteError{}
		if err := json.NewDecoder(body).Decode(re); err != nil || re.Message == "" {
			return fmt.Errorf("control socket %s: %s %s: HTTP %d", c.socket, method, path, resp.StatusCode)
		}
		return re
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, body)
		return nil
	}
	if err := json.NewDecoder(body).Decode(out); err != nil {
		return fmt.Errorf("control socket %s: reading the reply to %s: %w", c.socket, path, err)
	}
	return nil
}
