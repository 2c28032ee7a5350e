package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/app"
	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// checkOnline makes one harmless, read-only API call (SearchMedia for media
// created from now on) with the configured credentials and endpoint, so a
// wrong key, region or endpoint shows before the daemon runs.
func checkOnline(ctx context.Context, env *cmdEnv, cfg *config.Config) error {
	up, err := uploader.New(app.UploaderConfig(cfg, env.getenv, slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, _, err := up.FindMedia(ctx, "vodwatchd:check-online", time.Now()); err != nil {
		return fmt.Errorf("the VOD API at %s refused the request: %w", endpointOf(cfg), err)
	}
	fmt.Fprintf(env.stdout, "%-5s online: the VOD API at %s accepted the credentials\n", "ok", endpointOf(cfg))
	return nil
}

func endpointOf(cfg *config.Config) string {
	if cfg.VOD.Endpoint != "" {
		return cfg.VOD.Endpoint
	}
	return "vod.tencentcloudapi.com"
}
