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
// systemd or when piped, at the configured level; flags override config.
func newLogger(env *cmdEnv, c config.Log, format, level string) (*slog.Logger, error) {
	lvl := c.Level
	if level != "" {
		if err := lvl.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
		}
	}
	if format == "" {
		format = c.Format
	}
	opts := &slog.HandlerOptions{Level: lvl}
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
