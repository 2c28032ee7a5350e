package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/daemon"
	"github.com/vodwatchd/vodwatchd/internal/follow"
	"github.com/vodwatchd/vodwatchd/internal/playable"
	"github.com/vodwatchd/vodwatchd/internal/state"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// followTimeout bounds one follower API call: above PullEvents' 5 s long
// poll, as the service recommends (10 s).
const followTimeout = 15

// followClient builds the follower's VOD client, with credentials read
// afresh each time (rotated keys) and the paced transport.
func followClient(conf func() *config.Config, creds func(*config.Config) uploader.Credentials, transport http.RoundTripper) func(context.Context) (follow.API, error) {
	return func(ctx context.Context) (follow.API, error) {
		cfg := conf()
		cred, err := creds(cfg).Credential(ctx)
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		cp := profile.NewClientProfile()
		cp.HttpProfile.Endpoint = cfg.VOD.Endpoint
		cp.HttpProfile.Scheme = strings.ToUpper(cfg.VOD.Scheme)
		cp.HttpProfile.ReqTimeout = followTimeout
		cp.DisableRegionBreaker = true
		cp.NetworkFailureMaxRetries = 0
		cp.RateLimitExceededMaxRetries = 0
		c, err := vod.NewClient(common.NewTokenCredential(cred.SecretID, cred.SecretKey, cred.Token), cfg.VOD.Region, cp)
		if err != nil {
			return nil, fmt.Errorf("vod client: %w", err)
		}
		c.WithHttpTransport(transport)
		return c, nil
	}
}

// newPlayable builds the follower and the hook dispatcher of a run.
func newPlayable(cfg *config.Config, store *state.Store, transport http.RoundTripper, d *daemon.Daemon, getenv func(string) string, log *slog.Logger) (*playable.Runner, error) {
	var play *playable.Runner
	creds := func(c *config.Config) uploader.Credentials { return uploaderCredentials(c.VOD.Credentials, getenv) }
	play, err := playable.NewRunner(playable.RunnerOptions{
		Config: cfg, Store: store, Ready: d.PostReady, Logger: log,
		Client: followClient(func() *config.Config { return play.Config() }, creds, transport),
	})
	return play, err
}

// refreshPlayable sets the follow and hook gauges.
func (r *runner) refreshPlayable(ctx context.Context) {
	if r.playMetrics == nil {
		pm, err := r.metrics.Playable()
		if err != nil {
			return
		}
		r.playMetrics = pm
	}
	following, err := r.store.Following(ctx)
	if err != nil {
		return
	}
	st, err := r.store.Outbox().Stats(ctx)
	if err != nil {
		return
	}
	r.playMetrics.Set(len(following), st.Pending, st.Dead)
}
