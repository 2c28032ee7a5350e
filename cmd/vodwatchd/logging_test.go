package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/config"
)

func TestLoggerLevelSources(t *testing.T) {
	tests := []struct {
		name    string
		cfg     slog.Level
		env     string
		flag    string
		want    slog.Level
		wantErr string
	}{
		{"config", slog.LevelWarn, "", "", slog.LevelWarn, ""},
		{"environment over config", slog.LevelWarn, "debug", "", slog.LevelDebug, ""},
		{"flag over environment", slog.LevelWarn, "debug", "error", slog.LevelError, ""},
		{"bad environment", slog.LevelInfo, "loud", "", 0, `VODWATCHD_LOG_LEVEL="loud"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			env := &cmdEnv{stderr: &b, getenv: func(k string) string {
				if k == "VODWATCHD_LOG_LEVEL" {
					return tt.env
				}
				return ""
			}}
			log, err := newLogger(env, config.Log{Level: tt.cfg}, "json", tt.flag)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if !log.Enabled(ctx, tt.want) || log.Enabled(ctx, tt.want-1) {
				t.Errorf("logger level is not %v", tt.want)
			}
		})
	}
}

func TestLoggerDurationsInSeconds(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var b bytes.Buffer
		env := &cmdEnv{stderr: &b, getenv: func(string) string { return "" }}
		log, err := newLogger(env, config.Log{}, format, "")
		if err != nil {
			t.Fatal(err)
		}
		log.Info("settled", "waited", 1500*time.Millisecond, slog.Group("g", "took", 90*time.Second))
		out := b.String()
		if format == "json" {
			var v struct {
				Waited float64 `json:"waited"`
				G      struct {
					Took float64 `json:"took"`
				} `json:"g"`
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil || v.Waited != 1.5 || v.G.Took != 90 {
				t.Errorf("json: %q (%v), want waited 1.5 and g.took 90", out, err)
			}
			continue
		}
		if !strings.Contains(out, "waited=1.5 ") || !strings.Contains(out, "g.took=90") {
			t.Errorf("text: %q, want waited=1.5 and g.took=90", out)
		}
	}
}
