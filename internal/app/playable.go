package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/credentials"
	"github.com/vodwatchd/vodwatchd/internal/follow"
	"github.com/vodwatchd/vodwatchd/internal/playable"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// followTimeout bounds one follower API call: above PullEvents' 5 s long
// poll, as the service recommends (10 s).
const followTimeout = 15 * time.Second

// followClient builds the follower's VOD client with credentials read
// afresh each time (rotated keys) over the paced transport.
func followClient(conf func() *config.Config, getenv func(string) string, transport http.RoundTripper) func(context.Context) (follow.API, error) {
	return func(ctx context.Context) (follow.API, error) {
		cfg := conf()
		cred, err := credentials.ForConfig(cfg.VOD.Credentials, getenv).Credential(ctx)
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		c, err := uploader.NewAPIClient(uploader.APIClientConfig{Credential: cred, Region: cfg.VOD.Region,
			Endpoint: cfg.VOD.Endpoint, Scheme: cfg.VOD.Scheme, Transport: transport, Timeout: followTimeout})
		if err != nil {
			return nil, fmt.Errorf("vod client: %w", err)
		}
		return c, nil
	}
}

// newPlayable builds the follower and the hook dispatcher: after the
// daemon, so that a post-action waiting for ready can be released.
func (a *App) newPlayable(cfg *config.Config, transport http.RoundTripper) error {
	var play *playable.Runner
	play, err := playable.NewRunner(playable.RunnerOptions{
		Config: cfg, Store: a.store, Ready: a.d.PostReady, Logger: a.log,
		Client: followClient(func() *config.Config { return play.Config() }, a.opts.Getenv, transport),
	})
	if err != nil {
		return err
	}
	a.play = play
	a.playMetrics, err = a.metrics.Playable()
	return err
}

// refreshPlayable sets the follow and hook gauges.
func (a *App) refreshPlayable(ctx context.Context) error {
	following, err := a.store.Following(ctx)
	if err != nil {
		return err
	}
	st, err := a.store.Outbox().Stats(ctx)
	if err != nil {
		return err
	}
	a.playMetrics.Set(len(following), st.Pending, st.Dead)
	return nil
}
