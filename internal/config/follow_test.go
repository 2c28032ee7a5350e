package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFollowAndHooksErrors(t *testing.T) {
	rule := func(extra string) string {
		return "watch:\n  - path: ./drop\n    rules:\n      - match: \"*.mp4\"\n" + extra
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"bad mode", "follow:\n  mode: push\n" + minimalWatch, `config.yaml:2:9: follow.mode: bad value "push" (one of: poll, pull)`},
		{"unknown follow key", "follow:\n  intervall: 5s\n" + minimalWatch, `config.yaml:2:3: follow.intervall: unknown key (did you mean "interval"?)`},
		{"interval too short", "follow:\n  interval: 10ms\n" + minimalWatch, `config.yaml:2:3: follow.interval: must be at least 1s`},
		{"negative task wait", "follow:\n  task_wait: -1m\n" + minimalWatch, `config.yaml:2:14: follow.task_wait: bad duration "-1m": must not be negative`},
		{"confirm foreign in poll", "follow:\n  confirm_foreign: true\n" + minimalWatch, `follow.confirm_foreign: only applies to mode: pull`},
		{"bad attempts", "hook_delivery:\n  max_attempts: 0\n" + minimalWatch, `hook_delivery.max_attempts: must be at least 1`},
		{"bad when", rule("        after: {action: delete, when: later}\n"), `config.yaml:5:39: watch[0].rules[0].after.when: bad value "later" (one of: done, ready)`},
		{"unknown event", rule("        hooks:\n          - {on: [playable], url: \"http://x\"}\n"), `config.yaml:6:19: watch[0].rules[0].hooks[0].on[0]: unknown event "playable"`},
		{"empty events", rule("        hooks:\n          - {on: [], url: \"http://x\"}\n"), `watch[0].rules[0].hooks[0].on: lists no event`},
		{"no events", rule("        hooks:\n          - url: \"http://x\"\n"), `watch[0].rules[0].hooks[0].on: missing: the events that fire the hook`},
		{"url and command", rule("        hooks:\n          - {on: [done], url: \"http://x\", command: [\"true\"]}\n"), `watch[0].rules[0].hooks[0]: set exactly one of url (webhook) and command (exec)`},
		{"bad url", rule("        hooks:\n          - {on: [done], url: \"ftp://x\"}\n"), `watch[0].rules[0].hooks[0].url: "ftp://x" is not an http(s) URL`},
		{"url with credentials", rule("        hooks:\n          - {on: [done], url: \"https://u:p@x\"}\n"), `credentials in the URL would be logged`},
		{"secret on exec", rule("        hooks:\n          - {on: [done], command: [\"true\"], secret: \"env:HOME\"}\n"), `hooks[0].secret: only webhooks (url) are signed`},
		{"missing env secret", rule("        hooks:\n          - {on: [done], url: \"http://x\", secret: \"env:VODWATCHD_TEST_NO_SUCH_VAR\"}\n"), `environment variable "VODWATCHD_TEST_NO_SUCH_VAR" is not set or empty`},
		{"unknown hook key", rule("        hooks:\n          - {on: [done], url: \"http://x\", retries: 3}\n"), `watch[0].rules[0].hooks[0].retries: unknown key`},
		{"secret not a file", rule("        hooks:\n          - {on: [done], url: \"http://x\", secret: \"file:/dev/zero\"}\n"), `cannot read a secret from /dev/zero: not a regular file`},
		{"duplicate name", "watch:\n  - path: ./drop\n    hooks:\n      - {name: cms, on: [done], url: \"http://x\"}\n    rules:\n      - match: \"*.mp4\"\n        hooks:\n          - {name: cms, on: [ready], url: \"http://y\"}\n",
			`hook name cms is already used at`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := load(t, tt.yaml)
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("want Errors, got %v (config %+v)", err, cfg)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error containing\n  %s\ngot\n  %s", tt.want, err)
			}
		})
	}
}

func TestFollowAndHooksDecoded(t *testing.T) {
	t.Setenv("VODWATCHD_TEST_HOOK_SECRET", "s3cret-value")
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "hook.key")
	os.WriteFile(secretFile, []byte("from-file\n"), 0o600)
	text := fmt.Sprintf(`
follow: {mode: pull, confirm_foreign: true}
hook_delivery: {max_attempts: 3, backoff: 1s, max_backoff: 1m}
defaults:
  hooks:
    - {name: audit, on: [failed, quarantined], command: ["/bin/true"]}
watch:
  - path: ./drop
    hooks:
      - {name: cms, on: [ready, processing_failed], url: "https://cms.example/hook", secret: "env:VODWATCHD_TEST_HOOK_SECRET", timeout: 5s}
    rules:
      - match: "news/**"
        procedure: news-transcode
        after: {action: delete, when: ready}
        hooks:
          - {on: [done], url: "http://127.0.0.1:9/x", secret: "file:%s"}
      - match: "**"
`, secretFile)
	p := filepath.Join(dir, "config.yaml")
	os.WriteFile(p, []byte(text), 0o600)
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Follow.Mode != FollowPull || !cfg.Follow.ConfirmForeign || cfg.Follow.Interval != 10*time.Second || cfg.Follow.TaskWait != time.Hour {
		t.Errorf("follow %+v", cfg.Follow)
	}
	if cfg.HookDelivery != (HookDelivery{MaxAttempts: 3, Backoff: time.Second, MaxBackoff: time.Minute}) {
		t.Errorf("hook_delivery %+v", cfg.HookDelivery)
	}
	news, rest := cfg.Watch[0].Rules[0], cfg.Watch[0].Rules[1]
	if news.After.When != AfterWhenReady || rest.After.When != AfterWhenDone {
		t.Errorf("after.when %q / %q", news.After.When, rest.After.When)
	}
	names := func(hs []Hook) (out []string) {
		for _, h := range hs {
			out = append(out, h.Name)
		}
		return out
	}
	if got := strings.Join(names(news.Hooks), ","); got != "audit,cms,watch[0].rules[0].hooks[0]" {
		t.Errorf("news hooks %s", got)
	}
	if got := strings.Join(names(rest.Hooks), ","); got != "audit,cms" {
		t.Errorf("other rule's hooks %s", got)
	}
	if got := len(cfg.Hooks()); got != 3 {
		t.Errorf("Hooks() = %d hooks, want 3", got)
	}
	cms, own := news.Hooks[1], news.Hooks[2]
	if cms.Secret.Reveal() != "s3cret-value" || own.Secret.Reveal() != "from-file" || cms.Timeout != 5*time.Second || own.Timeout != 30*time.Second {
		t.Errorf("secrets/timeouts: %v %v", cms.Timeout, own.Timeout)
	}
	if s := fmt.Sprintf("%v %+v", cfg.Watch[0].Rules, cms); strings.Contains(s, "s3cret-value") || strings.Contains(s, "from-file") {
		t.Error("a hook secret prints")
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}

func TestInlineHookSecretWarns(t *testing.T) {
	cfg, err := load(t, "watch:\n  - path: ./drop\n    hooks: [{on: [done], url: \"http://x\", secret: literal}]\n    rules:\n      - match: \"*\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "inline webhook secret") || strings.Contains(cfg.Warnings[0], "literal") {
		t.Fatalf("warnings %v", cfg.Warnings)
	}
}
