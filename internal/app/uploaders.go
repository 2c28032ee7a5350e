package app

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/throttle"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// watchUploaders gives each watch an uploader whose request bodies are
// charged to the global bandwidth limit and to the watch's own; all of them
// share one paced API transport. It implements what the daemon needs of an
// uploader (daemon.Uploader and daemon.MediaFinder).
type watchUploaders struct {
	group     *throttle.Group
	transport http.RoundTripper
	getenv    func(string) string
	retry     *uploader.RetryPolicy // tests: replaces the default policy
	onRetry   func(op string)       // counts retries (vodwatchd_retries_total)
	log       *slog.Logger

	mu       sync.Mutex
	byRoot   map[string]*uploader.Uploader
	fallback *uploader.Uploader // global limit only (quarantined files, unknown roots)
}

// configure builds the uploaders for cfg (at start and on reload).
func (w *watchUploaders) configure(cfg *config.Config) error {
	fallback, err := w.build(cfg, "")
	if err != nil {
		return err
	}
	byRoot := map[string]*uploader.Uploader{}
	for _, wc := range cfg.Watch {
		if byRoot[wc.Path], err = w.build(cfg, wc.Path); err != nil {
			return err
		}
	}
	w.mu.Lock()
	w.byRoot, w.fallback = byRoot, fallback
	w.mu.Unlock()
	return nil
}

func (w *watchUploaders) build(cfg *config.Config, watchPath string) (*uploader.Uploader, error) {
	c := UploaderConfig(cfg, w.getenv, w.log)
	c.Transport, c.BodyWrapper = w.transport, w.group.BodyWrapper(watchPath)
	if w.retry != nil {
		c.Retry = *w.retry
	}
	c.Retry.OnRetry = w.onRetry
	return uploader.New(c)
}

// forPath picks the uploader of the watch the file is under.
func (w *watchUploaders) forPath(p string) *uploader.Uploader {
	w.mu.Lock()
	defer w.mu.Unlock()
	for root, u := range w.byRoot {
		if p == root || strings.HasPrefix(p, root+string(filepath.Separator)) {
			return u
		}
	}
	return w.fallback
}

func (w *watchUploaders) any() *uploader.Uploader {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fallback
}

// Upload implements daemon.Uploader.
func (w *watchUploaders) Upload(ctx context.Context, req uploader.Request, cp *uploader.Checkpoint, p uploader.Progress) (uploader.Result, error) {
	return w.forPath(req.MediaFilePath).Upload(ctx, req, cp, p)
}

// Commit implements daemon.Uploader.
func (w *watchUploaders) Commit(ctx context.Context, cp *uploader.Checkpoint, p uploader.Progress) (uploader.Result, error) {
	return w.any().Commit(ctx, cp, p)
}

// FindMediaIn implements daemon.MediaFinder.
func (w *watchUploaders) FindMediaIn(ctx context.Context, subAppID uint64, sourceContext string, since time.Time) (uploader.Result, bool, error) {
	return w.any().FindMediaIn(ctx, subAppID, sourceContext, since)
}
