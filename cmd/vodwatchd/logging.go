package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

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
			return slog.New(deferAttrs(slog.NewTextHandler(env.stderr, opts))), nil
		}
		return slog.New(deferAttrs(slog.NewJSONHandler(env.stderr, opts))), nil
	case "text":
		return slog.New(deferAttrs(slog.NewTextHandler(env.stderr, opts))), nil
	case "json":
		return slog.New(deferAttrs(slog.NewJSONHandler(env.stderr, opts))), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text, json or auto", format)
}

// lazyHandler defers a logger's With and WithGroup to its first record.
// slog's text and JSON handlers format the attributes of With at once,
// and the daemon makes a logger with the job's attributes for every job
// it runs, most of which never log a line at warn or error: at thousands
// of small files that formatting was a measurable share of the daemon's
// CPU. The output is the same as the handler's own.
type lazyHandler struct {
	base  slog.Handler // the handler with no attributes or groups
	steps []lazyStep   // With and WithGroup calls, in order

	once  sync.Once
	built slog.Handler // base with steps applied, made by the first record
}

// lazyStep is one With (attrs) or WithGroup (group) call.
type lazyStep struct {
	attrs []slog.Attr
	group string
}

func deferAttrs(h slog.Handler) slog.Handler { return &lazyHandler{base: h} }

func (h *lazyHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.base.Enabled(ctx, l)
}

func (h *lazyHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.handler().Handle(ctx, r)
}

func (h *lazyHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.with(lazyStep{attrs: attrs})
}

func (h *lazyHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(lazyStep{group: name})
}

func (h *lazyHandler) with(s lazyStep) *lazyHandler {
	return &lazyHandler{base: h.base, steps: append(h.steps[:len(h.steps):len(h.steps)], s)}
}

// handler is base with every step applied, built once.
func (h *lazyHandler) handler() slog.Handler {
	h.once.Do(func() {
		b := h.base
		for _, s := range h.steps {
			if s.group != "" {
				b = b.WithGroup(s.group)
			} else {
				b = b.WithAttrs(s.attrs)
			}
		}
		h.built = b
	})
	return h.built
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
