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

// TestLazyHandlerSameOutput logs the same calls through the text and JSON
// handlers with and without deferAttrs: the lines are identical.
func TestLazyHandlerSameOutput(t *testing.T) {
	cases := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"plain", func(l *slog.Logger) { l.Warn("hello", "n", 1) }},
		{"with", func(l *slog.Logger) { l.With("job", "j1", "path", "a b.mp4").Warn("failed", "err", "boom") }},
		{"with twice", func(l *slog.Logger) { l.With("job", "j1").With("rule", "news").Error("x", "d", 3*time.Second) }},
		{"group", func(l *slog.Logger) { l.WithGroup("upload").With("part", 3).Warn("slow", "rate", 1.5) }},
		{"with then group", func(l *slog.Logger) {
			l.With("job", "j2").WithGroup("g").With("a", 1).WithGroup("h").Warn("deep", "b", 2)
		}},
		{"empty with and group", func(l *slog.Logger) { l.With().WithGroup("").Warn("same") }},
		{"below level", func(l *slog.Logger) { l.With("job", "j3").Info("not written"); l.Warn("written") }},
		{"shared parent", func(l *slog.Logger) {
			p := l.With("job", "j4")
			p.With("a", 1).Warn("one")
			p.With("b", 2).Warn("two")
			p.Warn("three")
		}},
	}
	for _, format := range []string{"text", "json"} {
		for _, tc := range cases {
			t.Run(format+"/"+tc.name, func(t *testing.T) {
				var want, got bytes.Buffer
				mk := func(w *bytes.Buffer) slog.Handler {
					opts := &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: func(g []string, a slog.Attr) slog.Attr {
						if len(g) == 0 && a.Key == slog.TimeKey {
							return slog.Attr{}
						}
						return durationSeconds(g, a)
					}}
					if format == "json" {
						return slog.NewJSONHandler(w, opts)
					}
					return slog.NewTextHandler(w, opts)
				}
				tc.log(slog.New(mk(&want)))
				tc.log(slog.New(deferAttrs(mk(&got))))
				if want.Len() == 0 {
					t.Fatal("nothing logged")
				}
				if got.String() != want.String() {
					t.Fatalf("deferred:\n%s\nwant:\n%s", got.String(), want.String())
				}
			})
		}
	}
}

// countingHandler counts the WithAttrs calls that reach it.
type countingHandler struct {
	slog.Handler
	withs *int
}

func (h countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	*h.withs++
	return countingHandler{h.Handler.WithAttrs(as), h.withs}
}

// TestLazyHandlerDefersWith: a logger made with attributes that never
// logs a record costs its handler nothing; one that does is built once.
func TestLazyHandlerDefersWith(t *testing.T) {
	var buf bytes.Buffer
	withs := 0
	l := slog.New(deferAttrs(countingHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}), &withs}))
	for i := range 100 {
		l.With("job", i).Info("below the level")
	}
	if withs != 0 || buf.Len() != 0 {
		t.Fatalf("%d WithAttrs reached the handler, %d bytes written; want none", withs, buf.Len())
	}
	j := l.With("job", "j1")
	j.Warn("a")
	j.Warn("b")
	if withs != 1 {
		t.Fatalf("%d WithAttrs for one logger used twice, want 1", withs)
	}
	if n := strings.Count(buf.String(), "job=j1"); n != 2 {
		t.Fatalf("job=j1 in %d lines, want 2:\n%s", n, buf.String())
	}
}
