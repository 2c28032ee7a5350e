package config

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vodwatchd/vodwatchd/internal/hooks"
)

// Follow modes: how the daemon learns that a committed upload is playable.
const (
	FollowPoll = "poll" // DescribeTaskDetail of its own tasks; never takes the account's events
	FollowPull = "pull" // PullEvents/ConfirmEvents: vodwatchd is the account's event consumer
)

// Follow configures following uploads to playable (key follow).
type Follow struct {
	Mode           string        // poll (default) | pull
	Interval       time.Duration // poll: each processing job is checked this often
	ConfirmForeign bool          // pull: confirm events that match no job of ours
	SafetyPoll     time.Duration // pull: also poll processing jobs this often; 0 = never
	TaskWait       time.Duration // a procedure task not created this long after the commit fails the job; 0 = wait forever
}

// HookDelivery bounds hook retries (key hook_delivery).
type HookDelivery struct {
	MaxAttempts int
	Backoff     time.Duration // first retry delay, doubled each time
	MaxBackoff  time.Duration
}

// Hook is one webhook or exec hook of a watch or rule.
type Hook struct {
	Name    string // unique; default its field path, e.g. "watch[0].hooks[1]"
	On      []string
	URL     string
	Secret  Secret // HMAC key of a webhook (from env:NAME or file:PATH)
	Command []string
	Timeout time.Duration
	Pos     Pos
}

// After.When values: when the post-action runs.
const (
	AfterWhenDone  = "done"  // as soon as the upload is committed (default)
	AfterWhenReady = "ready" // once VOD's procedure made the media playable
)

func defaultFollow() Follow {
	return Follow{Mode: FollowPoll, Interval: 10 * time.Second, SafetyPoll: 10 * time.Minute, TaskWait: time.Hour}
}

func defaultHookDelivery() HookDelivery {
	return HookDelivery{MaxAttempts: 10, Backoff: 10 * time.Second, MaxBackoff: time.Hour}
}

func (d *decoder) decodeFollow(n *yaml.Node, field string, f *Follow) {
	if !d.mapping(n, field, map[string]handler{
		"mode":            set(d, &f.Mode, enum(FollowPoll, FollowPull)),
		"interval":        set(d, &f.Interval, cDuration),
		"confirm_foreign": set(d, &f.ConfirmForeign, cBool),
		"safety_poll":     set(d, &f.SafetyPoll, cDuration),
		"task_wait":       set(d, &f.TaskWait, cDuration),
	}) {
		return
	}
	if f.Interval < time.Second {
		d.errorf(d.resolve(n), join(field, "interval"), "must be at least 1s (each processing job costs a DescribeTaskDetail call per interval)")
	}
	if f.ConfirmForeign && f.Mode != FollowPull {
		d.errorf(d.resolve(n), join(field, "confirm_foreign"), "only applies to mode: pull")
	}
}

func (d *decoder) decodeHookDelivery(n *yaml.Node, field string, h *HookDelivery) {
	if !d.mapping(n, field, map[string]handler{
		"max_attempts": set(d, &h.MaxAttempts, cCount),
		"backoff":      set(d, &h.Backoff, cDuration),
		"max_backoff":  set(d, &h.MaxBackoff, cDuration),
	}) {
		return
	}
	switch {
	case h.MaxAttempts < 1:
		d.errorf(d.resolve(n), join(field, "max_attempts"), "must be at least 1")
	case h.Backoff <= 0 || h.MaxBackoff < h.Backoff:
		d.errorf(d.resolve(n), join(field, "max_backoff"), "must be at least backoff (%s), and backoff above 0", h.Backoff)
	}
}

// cHooks decodes a list of hooks.
func cHooks(d *decoder, n *yaml.Node, field string) ([]Hook, bool) {
	var out []Hook
	okAll := true
	isList := d.sequence(n, field, func(_ int, item *yaml.Node, f string) {
		h, ok := d.decodeHook(item, f)
		okAll = okAll && ok
		out = append(out, h)
	})
	return out, isList && okAll
}

func (d *decoder) decodeHook(n *yaml.Node, field string) (Hook, bool) {
	h := Hook{Name: field, Timeout: 30 * time.Second, Pos: d.pos(n)}
	var secret *string
	var secretNode *yaml.Node
	onSet := false
	errs := len(d.errs)
	if !d.mapping(n, field, map[string]handler{
		"name":    set(d, &h.Name, cString),
		"on":      func(n *yaml.Node, f string) { onSet = true; set(d, &h.On, cHookEvents)(n, f) },
		"url":     set(d, &h.URL, cHookURL),
		"secret":  func(n *yaml.Node, f string) { secretNode = n; setPtr(d, &secret, cString)(n, f) },
		"command": set(d, &h.Command, cStrings),
		"timeout": set(d, &h.Timeout, cDuration),
	}) {
		if isNull(n) {
			d.errorf(n, field, "empty hook")
		}
		return h, false
	}
	switch {
	case len(h.On) == 0 && !onSet:
		d.errorf(n, join(field, "on"), "missing: the events that fire the hook (%s)", strings.Join(hooks.Events, ", "))
	case len(h.On) == 0 && len(d.errs) == errs:
		d.errorf(n, join(field, "on"), "lists no event (%s)", strings.Join(hooks.Events, ", "))
	case (h.URL == "") == (len(h.Command) == 0):
		d.errorf(n, field, "set exactly one of url (webhook) and command (exec)")
	case len(h.Command) > 0 && h.Command[0] == "":
		d.errorf(n, join(field, "command"), "the program (first item) is empty")
	case secret != nil && h.URL == "":
		d.errorf(d.resolve(secretNode), join(field, "secret"), "only webhooks (url) are signed")
	case h.Timeout <= 0:
		d.errorf(n, join(field, "timeout"), "must be above 0")
	}
	if secret != nil {
		h.Secret = d.hookSecret(secretNode, join(field, "secret"), *secret)
	}
	return h, len(d.errs) == errs
}

// hookSecret reads env:NAME or file:PATH; a literal works but is warned
// about (the config file is often world-readable).
func (d *decoder) hookSecret(n *yaml.Node, field, v string) Secret {
	n = d.resolve(n)
	switch {
	case strings.HasPrefix(v, "env:"):
		name := strings.TrimPrefix(v, "env:")
		s := os.Getenv(name)
		if name == "" || s == "" {
			d.errorf(n, field, "environment variable %q is not set or empty", name)
		}
		return Secret(s)
	case strings.HasPrefix(v, "file:"):
		p := d.abs(strings.TrimPrefix(v, "file:"))
		s, err := readSecretFile(p)
		if err != nil || s == "" {
			d.errorf(n, field, "cannot read a secret from %s: %v", p, errOrEmpty(err))
		}
		return Secret(s)
	case v == "":
		d.errorf(n, field, "empty secret")
	default:
		d.warnf(n, field, "an inline webhook secret in the config file is discouraged; prefer env:NAME or file:PATH")
	}
	return Secret(v)
}

// maxSecretFile bounds a secret file.
const maxSecretFile = 64 << 10

// readSecretFile reads a small regular file, without its final newline.
func readSecretFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxSecretFile {
		return "", fmt.Errorf("not a regular file of at most %d bytes", maxSecretFile)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile))
	return strings.TrimRight(string(b), "\r\n"), err
}

func errOrEmpty(err error) any {
	if err != nil {
		return err
	}
	return "the file is empty"
}

func cHookEvents(d *decoder, n *yaml.Node, field string) ([]string, bool) {
	list, ok := cStrings(d, n, field)
	if !ok {
		return nil, false
	}
	for i, e := range list {
		if !hooks.ValidEvent(e) {
			d.errorf(d.resolve(d.resolve(n).Content[i]), index(field, i), "unknown event %q (one of: %s)", e, strings.Join(hooks.Events, ", "))
			return nil, false
		}
	}
	return list, true
}

func cHookURL(d *decoder, n *yaml.Node, field string) (string, bool) {
	s, ok := cString(d, n, field)
	if !ok {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		d.errorf(d.resolve(n), field, "%q is not an http(s) URL", s)
		return "", false
	}
	if u.User != nil {
		d.errorf(d.resolve(n), field, "credentials in the URL would be logged; use secret: for signing")
		return "", false
	}
	return s, true
}

// Hooks returns every hook of the configuration once, by name.
func (c *Config) Hooks() []Hook {
	var out []Hook
	seen := map[string]bool{}
	for _, w := range c.Watch {
		for _, r := range w.Rules {
			for _, h := range r.Hooks {
				if !seen[h.Name] {
					seen[h.Name] = true
					out = append(out, h)
				}
			}
		}
	}
	return out
}

// checkHookNames refuses two different hooks with one name.
func (d *decoder) checkHookNames(cfg *Config) {
	byName := map[string]Pos{}
	for _, w := range cfg.Watch {
		for _, r := range w.Rules {
			for _, h := range r.Hooks {
				if p, ok := byName[h.Name]; ok && p != h.Pos {
					d.errs = append(d.errs, &FieldError{Pos: h.Pos, Field: "hooks", Msg: "hook name " + h.Name + " is already used at " + p.String()})
					continue
				}
				byName[h.Name] = h.Pos
			}
		}
	}
}

// addHooks appends the hooks of a hooks: key to a settings layer.
func (d *decoder) addHooks(n *yaml.Node, field string, s *ruleSpec) {
	if hs, ok := cHooks(d, n, field); ok {
		s.hooks = append(s.hooks, hs...)
	}
}
