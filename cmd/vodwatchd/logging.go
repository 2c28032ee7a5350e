package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/vodwatchd/vodwatchd/internal/config"
)

// newLogger builds the daemon's logger: text on a terminal, JSON under
// systemd or when piped, at the configured level. The level comes from
// --log-level, else $VODWATCHD_LOG_LEVEL (the unit's EnvironmentFile),
// else log.level. Durations are logged in seconds.
func newLogger(env *cmdEnv, c config.Log, format, level string) (*slog.Logger, error) {
	lvl := c.Level
	if v := env.getenv("VODWATCHD_LOG_LEVEL"); v != "" {
		if err := lvl.UnmarshalText([]byte(v)); err != nil {
			return nil, fmt.Errorf("VODWATCHD_LOG_LEVEL=%q: want debug, info, warn or error", v)
		}
	}
	if level != "" {
		if err := lvl.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
		}
	}
	if format == "" {
		format = c.Format
	}
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: durationSeconds}
	switch strings.ToLower(format) {
	case "", "auto":
		if isTerminal(env.stderr) && env.getenv("JOURNAL_STREAM") == "" && env.getenv("INVOCATION_ID") == "" {
			return slog.New(slog.NewTextHandler(env.stderr, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(env.stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(env.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text, json or auto", format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// durationSeconds logs a time.Duration as seconds (a float), the unit of
// every duration vodwatchd prints and of its metrics, instead of slog's
// nanoseconds (JSON) or Go's "1m30s" (text).
func durationSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key, a.Value.Duration().Seconds())
	}
	return a
}
