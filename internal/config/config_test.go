package config

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimalWatch = `
watch:
  - path: ./drop
    rules:
      - match: "**/*.mp4"
`

// load writes text to config.yaml in a temp folder and loads it.
func load(t *testing.T, text string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

func TestLoadErrors(t *testing.T) {
	long := strings.Repeat("x", 251)
	tests := []struct {
		name string
		yaml string
		want []string // each must be a substring of one error, "config.yaml:L:C: field: msg"
	}{
		{"unknown key", "vod:\n  regoin: ap-guangzhou\n" + minimalWatch,
			[]string{`config.yaml:2:3: vod.regoin: unknown key (did you mean "region"?)`}},
		{"unknown top-level key", "watches: []\n" + minimalWatch,
			[]string{`config.yaml:1:1: watches: unknown key (did you mean "watch"?)`}},
		{"wrong type integer", "upload:\n  workers: many\n" + minimalWatch,
			[]string{`config.yaml:2:12: upload.workers: bad integer "many"`}},
		{"wrong type mapping", "upload: 5\n" + minimalWatch,
			[]string{`config.yaml:1:9: upload: expected a mapping, got "5"`}},
		{"wrong type list", "watch:\n  path: ./drop\n",
			[]string{`config.yaml:2:3: watch: expected a list, got a mapping`}},
		{"bad duration", "watch:\n  - path: ./drop\n    rules:\n      - match: \"**/*.mp4\"\n        expire_after: 3x\n",
			[]string{`config.yaml:5:23: watch[0].rules[0].expire_after: bad duration "3x"`}},
		{"bad duration settle", "watch:\n  - path: ./drop\n    settle: soon\n    rules:\n      - match: \"*\"\n",
			[]string{`config.yaml:3:13: watch[0].settle: bad duration "soon"`}},
		{"bad size", "upload:\n  part_size: 8XB\n" + minimalWatch,
			[]string{`config.yaml:2:14: upload.part_size: bad size "8XB": unknown unit "xb"`}},
		{"part size too small", "upload:\n  part_size: 512KiB\n" + minimalWatch,
			[]string{`config.yaml:2:14: upload.part_size: must be between 1MiB and 5GiB`}},
		{"bad rate", "upload:\n  bandwidth: 50Mbirds/s\n" + minimalWatch,
			[]string{`config.yaml:2:14: upload.bandwidth: bad rate "50Mbirds/s"`}},
		{"bad schedule", "upload:\n  schedule: [\"25:00-20:00 Mon-Fri 20MiB/s\"]\n" + minimalWatch,
			[]string{`config.yaml:2:14: upload.schedule[0]: bad schedule entry "25:00-20:00 Mon-Fri 20MiB/s": bad time "25:00"`}},
		{"bad schedule day", "upload:\n  schedule:\n    - \"08:00-20:00 Mon-Fry 1MiB/s\"\n" + minimalWatch,
			[]string{`config.yaml:3:7: upload.schedule[0]: bad schedule entry "08:00-20:00 Mon-Fry 1MiB/s": bad day "fry"`}},
		{"bad time zone", "upload:\n  timezone: Mars/Olympus\n" + minimalWatch,
			[]string{`config.yaml:2:13: upload.timezone: unknown time zone "Mars/Olympus"`}},
		{"bad glob", "watch:\n  - path: ./drop\n    rules:\n      - match: \"news/[a-\"\n",
			[]string{`config.yaml:4:16: watch[0].rules[0].match: bad glob "news/[a-"`}},
		{"bad ignore glob", "watch:\n  - path: ./drop\n    ignore: [\"{a,b\"]\n    rules:\n      - match: \"*\"\n",
			[]string{`config.yaml:3:14: watch[0].ignore[0]: bad glob "{a,b"`}},
		{"template unknown field", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        media_name: \"{{.Nope}}\"\n",
			[]string{`config.yaml:5:21: watch[0].rules[0].media_name: bad template "{{.Nope}}"`, `can't evaluate field Nope`}},
		{"template syntax", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        source_context: \"{{.Stem\"\n",
			[]string{`config.yaml:5:25: watch[0].rules[0].source_context: bad template "{{.Stem"`}},
		{"template range refused", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        media_name: \"{{range 1000000000}}{{end}}\"\n",
			[]string{`watch[0].rules[0].media_name: bad template`, `range is not allowed`}},
		{"template huge printf refused", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        media_name: '{{printf \"%999999999d\" 1}}'\n",
			[]string{`config.yaml:5:21: watch[0].rules[0].media_name: bad template`, `widths and precisions above 256`}},
		{"unknown storage region", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        storage_region: ap-mars\n",
			[]string{`config.yaml:5:25: watch[0].rules[0].storage_region: unknown region "ap-mars" (known: `}},
		{"unknown API region", "vod:\n  region: ap-atlantis\n" + minimalWatch,
			[]string{`config.yaml:2:11: vod.region: unknown region "ap-atlantis"`}},
		{"bad mode", "watch:\n  - path: ./drop\n    mode: sometimes\n    rules:\n      - match: \"*\"\n",
			[]string{`config.yaml:3:11: watch[0].mode: bad value "sometimes" (one of: auto, notify, poll)`}},
		{"bad after action", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        after: { action: archive }\n",
			[]string{`config.yaml:5:26: watch[0].rules[0].after.action: bad value "archive" (one of: keep, move, delete)`}},
		{"move without to", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        after: { action: move }\n",
			[]string{`config.yaml:5:16: watch[0].rules[0].after.to: action move needs a destination folder`}},
		{"keep with to", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        after: { action: keep, to: ./done }\n",
			[]string{`config.yaml:5:16: watch[0].rules[0].after.to: to is only used with action: move`}},
		{"keep with prune_empty", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        after: { action: keep, prune_empty: true }\n",
			[]string{`config.yaml:5:16: watch[0].rules[0].after.prune_empty: prune_empty is only used with action: move or delete`}},
		{"bad prune_empty", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        after: { action: delete, prune_empty: sometimes }\n",
			[]string{`config.yaml:5:47: watch[0].rules[0].after.prune_empty: expected true or false, got "sometimes"`}},
		{"bad allow_empty", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        allow_empty: 0\n",
			[]string{`config.yaml:5:22: watch[0].rules[0].allow_empty: expected true or false, got "0"`}},
		{"bad group_readable", "group_readable: [yes]\n" + minimalWatch,
			[]string{`config.yaml:1:17: group_readable: `}},
		{"misspelt allow_empty", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        allow_emtpy: true\n",
			[]string{`config.yaml:5:9: watch[0].rules[0].allow_emtpy: unknown key (did you mean "allow_empty"?)`}},
		{"region typo", "vod:\n  region: ap-guangzhuo\n" + minimalWatch,
			[]string{`config.yaml:2:11: vod.region: unknown region "ap-guangzhuo" (did you mean "ap-guangzhou"?)`}},
		{"storage region typo", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        storage_region: ap-chongqng\n",
			[]string{`config.yaml:5:25: watch[0].rules[0].storage_region: unknown region "ap-chongqng" (did you mean "ap-chongqing"?)`}},
		{"expire_time in the past", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        expire_time: 2001-01-01T00:00:00Z\n",
			[]string{`config.yaml:4:9: watch[0].rules[0].expire_time: 2001-01-01T00:00:00Z is in the past: VOD would refuse every upload`}},
		{"bad credentials", "vod:\n  credentials: vault\n" + minimalWatch,
			[]string{`config.yaml:2:16: vod.credentials: bad value "vault" (one of: env, file:PATH, systemd:DIR, cvm-role, profile, profile:NAME)`}},
		{"credentials file without path", "vod:\n  credentials: \"file:\"\n" + minimalWatch,
			[]string{`config.yaml:2:16: vod.credentials: bad value "file:": file needs a path`}},
		{"secret id without key", "vod:\n  secret_id: AKIDexample\n" + minimalWatch,
			[]string{`config.yaml:2:3: vod: secret_id and secret_key go together`}},
		{"bad expire_time", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        expire_time: next year\n",
			[]string{`config.yaml:5:22: watch[0].rules[0].expire_time: bad time "next year": use ISO 8601`}},
		{"expire_time and expire_after", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        expire_time: 2099-01-01T00:00:00Z\n        expire_after: 1h\n",
			[]string{`config.yaml:4:9: watch[0].rules[0]: set expire_time or expire_after, not both`}},
		{"source_context too long", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        source_context: " + long + "\n",
			[]string{`config.yaml:5:25: watch[0].rules[0].source_context: renders to 251 characters, VOD allows 250`}},
		{"negative class_id", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        class_id: -1\n",
			[]string{`config.yaml:5:19: watch[0].rules[0].class_id: must not be negative, got -1`}},
		{"negative workers", "upload:\n  workers: -2\n" + minimalWatch,
			[]string{`config.yaml:2:12: upload.workers: must not be negative, got -2`}},
		{"negative sub_app_id", "vod:\n  sub_app_id: -5\n" + minimalWatch,
			[]string{`config.yaml:2:15: vod.sub_app_id: must not be negative, got -5`}},
		{"negative duration", "watch:\n  - path: ./drop\n    settle: -5s\n    rules:\n      - match: \"*\"\n",
			[]string{`config.yaml:3:13: watch[0].settle: bad duration "-5s": must not be negative`}},
		{"duplicate watch paths", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n  - path: drop/\n    rules:\n      - match: \"*\"\n",
			[]string{`config.yaml:5:5: watch[1].path: duplicate watch path`}},
		{"nested watch paths", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n  - path: ./drop/inner\n    rules:\n      - match: \"*\"\n",
			[]string{`config.yaml:5:5: watch[1].path: `, `is inside watch[0].path`}},
		{"done folder inside watch root", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        after: { action: move, to: ./drop/done }\n",
			[]string{`config.yaml:5:36: watch[0].rules[0].after.to: done folder `, `is inside watch[0].path`}},
		{"watch root inside done folder", "watch:\n  - path: ./out/drop\n    rules:\n      - match: \"*\"\n        after: { action: move, to: ./out }\n",
			[]string{`config.yaml:5:36: watch[0].rules[0].after.to: watch[0].path `, `is inside the done folder`}},
		{"watch root inside quarantine folder", "watch:\n  - path: ./q/drop\n    rules:\n      - match: \"*\"\n        quarantine: { to: ./q }\n",
			[]string{`config.yaml:5:27: watch[0].rules[0].quarantine.to: watch[0].path `, `is inside the quarantine folder`}},
		{"state inside watch root", "state: ./drop/state.db\n" + minimalWatch,
			[]string{`config.yaml:4:5: watch[0].path: the state file `}},
		{"missing match", "watch:\n  - path: ./drop\n    rules:\n      - procedure: x\n",
			[]string{`config.yaml:4:9: watch[0].rules[0].match: missing`}},
		{"missing rules", "watch:\n  - path: ./drop\n",
			[]string{`config.yaml:2:5: watch[0].rules: at least one rule is required`}},
		{"missing path", "watch:\n  - rules:\n      - match: \"*\"\n",
			[]string{`config.yaml:2:5: watch[0].path: missing`}},
		{"missing watch", "state: ./s.db\n",
			[]string{`config.yaml:1:1: watch: at least one watch folder is required`}},
		{"duplicate key", "state: ./a.db\nstate: ./b.db\n" + minimalWatch,
			[]string{`config.yaml:2:1: state: duplicate key`}},
		{"match in defaults refused", "defaults:\n  match: \"*\"\n" + minimalWatch,
			[]string{`config.yaml:2:3: defaults.match: unknown key`}},
		{"ready marker with slash", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        ready_marker: \"../{{.Name}}.done\"\n",
			[]string{`config.yaml:5:23: watch[0].rules[0].ready_marker: ready marker "../{{.Name}}.done" must render to a file name`}},
		{"bad cover suffix", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        cover: [\".jpg\", \"covers/x.jpg\"]\n",
			[]string{`config.yaml:5:25: watch[0].rules[0].cover[1]: bad cover suffix "covers/x.jpg"`}},
		{"bad listen", "listen: 9180\n" + minimalWatch,
			[]string{`config.yaml:1:9: listen: bad address "9180": need host:port`}},
		{"bad endpoint", "vod:\n  endpoint: https://vod.example.com/\n" + minimalWatch,
			[]string{`config.yaml:2:13: vod.endpoint: bad endpoint "https://vod.example.com/"`}},
		{"zero small files in flight", "upload:\n  small_files_in_flight: 0\n" + minimalWatch,
			[]string{`config.yaml:2:26: upload.small_files_in_flight: `}},
		{"small workers", "upload:\n  workers: 2\n  small_workers: 2\n" + minimalWatch,
			[]string{`config.yaml:2:3: upload.small_workers: (2) must be less than workers (2)`}},
		{"bad bool", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        dedupe: sometimes\n",
			[]string{`config.yaml:5:17: watch[0].rules[0].dedupe: expected true or false, got "sometimes"`}},
		{"bad media type", "watch:\n  - path: ./drop\n    rules:\n      - match: \"*\"\n        media_type: \"mp4; rm -rf\"\n",
			[]string{`config.yaml:5:21: watch[0].rules[0].media_type: bad media type`}},
		{"yaml syntax", "state: x\nwatch:\n\t- path: ./drop\n",
			[]string{`config.yaml:3:1: YAML syntax: found character that cannot start any token`}},
		{"empty file", "", []string{`config.yaml:1:1: empty configuration`}},
		{"two documents", minimalWatch + "---\nstate: x\n", []string{`more than one YAML document`}},
		{"alias expansion bounded", aliasBomb(), []string{`document too large (aliases expand too far)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := load(t, tt.yaml)
			if err == nil {
				t.Fatalf("loaded without error: %+v", cfg)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, not Errors: %v", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("want an error containing\n  %s\ngot\n  %s", w, strings.ReplaceAll(err.Error(), "\n", "\n  "))
				}
			}
		})
	}
}

func TestLoadCollectsAllErrors(t *testing.T) {
	_, err := load(t, `vod:
  region: ap-nowhere
upload:
  workers: lots
  part_size: 3 apples
watch:
  - path: ./drop
    settle: 5 mins
    rules:
      - match: "[oops"
      - match: "**/*.mp4"
        expire_after: forever
        after: { action: shred }
`)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []string{
		"config.yaml:2:11: vod.region:",
		"config.yaml:4:12: upload.workers:",
		"config.yaml:5:14: upload.part_size:",
		"config.yaml:8:13: watch[0].settle:",
		"config.yaml:10:16: watch[0].rules[0].match:",
		"config.yaml:12:23: watch[0].rules[1].expire_after:",
		"config.yaml:13:26: watch[0].rules[1].after.action:",
	}
	if len(es) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(es), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(es[i].Error(), w) {
			t.Errorf("error %d = %q, want it to contain %q", i, es[i].Error(), w)
		}
	}
}

func TestInheritance(t *testing.T) {
	cfg, err := load(t, `vod:
  sub_app_id: 7
defaults:
  procedure: global-proc
  class_id: 1
  expire_after: 24h
  cover: [".jpg"]
  after: { action: move, to: ./done }
  quarantine: { to: ./quarantine }
watch:
  - path: ./drop
    defaults:
      class_id: 2
      priority: 5
      expire_time: 2099-01-02T03:04:05+08:00
    rules:
      - match: "a/**"
      - match: "b/**"
        name: bee
        class_id: 3
        sub_app_id: 9
        expire_after: 1h
        after: { action: delete }
        quarantine: { after_attempts: 2 }
        concurrency: 3
`)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(cfg.File)
	a, b := cfg.Watch[0].Rules[0], cfg.Watch[0].Rules[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"a.procedure from global", a.Procedure, "global-proc"},
		{"a.class_id from watch", a.ClassID, int64(2)},
		{"a.priority from watch", a.Priority, 5},
		{"a.sub_app_id from vod", a.SubAppID, uint64(7)},
		{"a.expire_time from watch replaces global expire_after", a.ExpireTime.Equal(time.Date(2099, 1, 1, 19, 4, 5, 0, time.UTC)), true},
		{"a.expire_after cleared", a.ExpireAfter, time.Duration(0)},
		{"a.cover from global", strings.Join(a.Cover, ","), ".jpg"},
		{"a.after from global", a.After.Action, AfterMove},
		{"a.after.to resolved", a.After.To, filepath.Join(dir, "done")},
		{"a.quarantine.to resolved", a.Quarantine.To, filepath.Join(dir, "quarantine")},
		{"a.quarantine attempts default", a.Quarantine.AfterAttempts, 5},
		{"a.name default", a.Name, "watch[0].rules[0]"},
		{"a.concurrency default", a.Concurrency, 32},
		{"a.media_name default", a.MediaName.Src, "{{.Stem}}"},
		{"a.source_context default", a.SourceContext.Src, "vodwatchd:{{.JobID}}"},
		{"b.name", b.Name, "bee"},
		{"b.class_id own", b.ClassID, int64(3)},
		{"b.sub_app_id own", b.SubAppID, uint64(9)},
		{"b.priority from watch", b.Priority, 5},
		{"b.expire_after own", b.ExpireAfter, time.Hour},
		{"b.expire_time cleared", b.ExpireTime.IsZero(), true},
		{"b.after replaced whole", b.After, After{Action: AfterDelete, When: AfterWhenDone}},
		{"b.quarantine.to inherited", b.Quarantine.To, filepath.Join(dir, "quarantine")},
		{"b.quarantine attempts own", b.Quarantine.AfterAttempts, 2},
		{"b.concurrency", b.Concurrency, 3},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestDefaultsAndPaths(t *testing.T) {
	cfg, err := load(t, minimalWatch)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(cfg.File)
	w := cfg.Watch[0]
	if w.Path != filepath.Join(dir, "drop") {
		t.Errorf("watch path %q not resolved against %q", w.Path, dir)
	}
	if cfg.State != DefaultState || cfg.Listen != "" || cfg.VOD.Region != DefaultRegion || cfg.VOD.Credentials.Kind != CredEnv {
		t.Errorf("top-level defaults: state %q listen %q region %q cred %q", cfg.State, cfg.Listen, cfg.VOD.Region, cfg.VOD.Credentials.Kind)
	}
	u := cfg.Upload
	if u.Workers != 4 || u.PartsInFlight != 32 || u.ObjectsInFlight != 128 || u.PartSize != 8<<20 || u.APIRate != 50 || u.SmallWorkers != 1 || u.SmallFilesInFlight != 32 || u.Retries.MaxAttempts != 5 {
		t.Errorf("upload defaults: %+v", u)
	}
	if w.Mode != ModeAuto || w.Settle != 5*time.Second || w.RescanInterval != 5*time.Minute {
		t.Errorf("watch defaults: %+v", w)
	}
	if cfg.Log.Level != slog.LevelInfo || cfg.Log.Format != "auto" {
		t.Errorf("log defaults: %+v", cfg.Log)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("unexpected warnings: %v", cfg.Warnings)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := Load("../../config.example.yaml")
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("config.example.yaml warnings: %v", cfg.Warnings)
	}
	abs, _ := filepath.Abs("../..")
	w := cfg.Watch[0]
	switch {
	case w.Path != filepath.Join(abs, "drop") || !w.Create:
		t.Errorf("example must watch ./drop (created): %q create=%v", w.Path, w.Create)
	case cfg.State != filepath.Join(abs, "var", "state.db"):
		t.Errorf("example state %q", cfg.State)
	case cfg.Listen != "127.0.0.1:9180":
		t.Errorf("example listen %q", cfg.Listen)
	}
	for _, r := range w.Rules {
		if r.After.Action != AfterKeep {
			t.Errorf("example rule %s: after %s, want keep", r.Name, r.After.Action)
		}
	}
}

func TestInlineSecretWarning(t *testing.T) {
	text := "vod:\n  secret_id: AKIDtest\n  secret_key: sEcReTvAlUe\n" + minimalWatch
	dir := t.TempDir()
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(cfg.Warnings, "\n")
	if !strings.Contains(all, "readable by group/others") {
		t.Errorf("no permission warning in %q", all)
	}
	if strings.Contains(all, "sEcReTvAlUe") {
		t.Errorf("warning reveals the secret: %q", all)
	}
	if cfg.VOD.Credentials.Kind != CredInline || cfg.VOD.Credentials.SecretKey.Reveal() != "sEcReTvAlUe" {
		t.Errorf("inline credentials not kept: %+v", cfg.VOD.Credentials)
	}
	for _, s := range []string{cfg.VOD.Credentials.SecretKey.String(), fmtAll(cfg.VOD.Credentials)} {
		if strings.Contains(s, "sEcReTvAlUe") {
			t.Errorf("secret printed: %q", s)
		}
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(cfg.Warnings, "\n"), "readable by group/others") {
		t.Errorf("0600 file still warned: %v", cfg.Warnings)
	}
}

func TestValueParsers(t *testing.T) {
	sizes := map[string]int64{"8MiB": 8 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30, "1048576": 1 << 20, "10MB": 10e6, "1.5KiB": 1536}
	for s, want := range sizes {
		if got, err := ParseSize(s); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	rates := map[string]int64{"50MiB/s": 50 << 20, "400Mbit/s": 50e6, "0": 0, "unlimited": 0, "1Gbit/s": 125e6, "1000": 1000, "10MB/s": 10e6}
	for s, want := range rates {
		if got, err := ParseRate(s); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	durs := map[string]time.Duration{"30d": 720 * time.Hour, "1d12h": 36 * time.Hour, "90s": 90 * time.Second, "0": 0}
	for s, want := range durs {
		if got, err := ParseDuration(s); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, bad := range []string{"-1MiB", "MiB", "1.0000001B", "99999999999TiB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"-5MiB/s", "fast", "0.01bit/s"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}

func TestScheduleLimitAt(t *testing.T) {
	u := Upload{Bandwidth: 100, Location: time.UTC}
	for _, s := range []string{"08:00-20:00 Mon-Fri 20MiB/s", "22:00-06:00 Sat 1MiB/s", "00:00-24:00 Sun 0"} {
		w, err := ParseWindow(s)
		if err != nil {
			t.Fatal(err)
		}
		u.Schedule = append(u.Schedule, w)
	}
	at := func(day, hh, mm int) time.Time { return time.Date(2024, 6, day, hh, mm, 0, 0, time.UTC) } // 2024-06-03 is a Monday
	tests := []struct {
		t    time.Time
		want int64
	}{
		{at(3, 7, 59), 100},
		{at(3, 8, 0), 20 << 20},
		{at(7, 19, 59), 20 << 20}, // Friday
		{at(7, 20, 0), 100},
		{at(8, 23, 0), 1 << 20}, // Saturday night
		{at(9, 5, 59), 1 << 20}, // Sunday early: window started Saturday
		{at(9, 6, 0), 0},        // Sunday: unlimited
		{at(10, 1, 0), 100},     // Monday 01:00: the Sunday window ended
	}
	for _, tt := range tests {
		if got := u.LimitAt(tt.t); got != tt.want {
			t.Errorf("LimitAt(%s) = %d, want %d", tt.t.Format("Mon 15:04"), got, tt.want)
		}
	}
}

func TestIgnored(t *testing.T) {
	cfg, err := load(t, "watch:\n  - path: ./drop\n    ignore: [\"*.bak\", \"tmp/**\"]\n    rules:\n      - match: \"**\"\n")
	if err != nil {
		t.Fatal(err)
	}
	w := &cfg.Watch[0]
	for rel, want := range map[string]bool{
		"clip.mp4": false, ".clip.mp4.Ab12Cd": true, "a/.hidden/clip.mp4": true, "clip.mp4.part": true,
		"x.crdownload": true, "x.filepart": true, "x.tmp": true, "old.bak": true, "tmp/a/b.mp4": true, "news/tmp.mp4": false,
		"x.partial": true, "x.mp4~": true, ".DS_Store": true, "news/clip.tmp.mp4": false, "part": false,
	} {
		if got := w.Ignored(rel); got != want {
			t.Errorf("Ignored(%q) = %v, want %v", rel, got, want)
		}
	}
	patterns := w.Ignore
	w.Ignore = nil // ignore_defaults: false and no patterns
	if !w.Ignored(".vodwatchd.lock") || w.Ignored("a/.vodwatchd.lock") {
		t.Errorf("the daemon's own lock file in the root must be ignored whatever the patterns, and only there")
	}
	w.Ignore = patterns
	ignore := w.IgnoreFunc()
	if ignore("", true) || !ignore(".git", true) || !ignore("a/.cache", true) || ignore("news", true) {
		t.Errorf("IgnoreFunc: root or folders wrong")
	}
}

// FuzzIgnoreFunc: with the default list, a dot name is always ignored and
// the root never is, whatever the path.
func FuzzIgnoreFunc(f *testing.F) {
	for _, s := range []string{"a.mp4", ".x.abcdef", "a/b.part", "\xff.tmp", "", ".", "a/.b/c", "a//b", "../x"} {
		f.Add(s, false)
	}
	ignore := (&Watch{Ignore: DefaultIgnore}).IgnoreFunc()
	f.Fuzz(func(t *testing.T, rel string, isDir bool) {
		got := ignore(rel, isDir)
		base := rel[strings.LastIndex(rel, "/")+1:]
		if strings.HasPrefix(base, ".") && base != "." && base != ".." && !got {
			t.Fatalf("dot name %q not ignored", rel)
		}
		if rel == "" && got {
			t.Fatal("root ignored")
		}
	})
}

func TestCredentialsSystemdParsed(t *testing.T) {
	cfg, err := load(t, "vod:\n  credentials: systemd:/etc/vodwatchd\n"+minimalWatch)
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.VOD.Credentials; c.Kind != CredSystemd || c.Path != "/etc/vodwatchd" {
		t.Fatalf("parsed %+v, want systemd:/etc/vodwatchd", c)
	}
	if _, err := load(t, "vod:\n  credentials: \"systemd:\"\n"+minimalWatch); err == nil || !strings.Contains(err.Error(), "systemd needs the folder") {
		t.Fatalf("systemd without a folder: %v", err)
	}
}

func fmtAll(v any) string {
	return strings.Join([]string{sprint("%v", v), sprint("%+v", v), sprint("%#v", v), sprint("%s", v)}, "|")
}

// aliasBomb is a small file whose aliases expand to a million rules.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("defaults: &r {procedure: p}\nwatch:\n  - &w\n    path: ./drop\n    rules: [")
	for i := 0; i < 1000; i++ {
		b.WriteString("{match: '*', <<: *r},")
	}
	b.WriteString("]\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("  - *w\n")
	}
	return b.String()
}

// TestForEmulatorRun: run --emulator keeps its own state file and leaves
// files in place unless the config says for_emulator: true.
func TestForEmulatorRun(t *testing.T) {
	const rules = `
state: ./var/state.db
watch:
  - path: ./drop
    rules:
      - match: "**/*.mp4"
        after: { action: move, to: ./done, sidecar: true }
        quarantine: { to: ./bad }
`
	for _, tc := range []struct {
		name      string
		extra     string
		wantState string
		wantAfter AfterAction
	}{
		{"production config", "", "state.emulator.db", AfterKeep},
		{"for_emulator: true", "for_emulator: true\n", "state.db", AfterMove},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := load(t, tc.extra+rules)
			if err != nil {
				t.Fatal(err)
			}
			cfg.ForEmulatorRun()
			r := cfg.Watch[0].Rules[0]
			if filepath.Base(cfg.State) != tc.wantState || r.After.Action != tc.wantAfter {
				t.Fatalf("state %s, after %+v; want %s, %s", cfg.State, r.After, tc.wantState, tc.wantAfter)
			}
			if tc.wantAfter == AfterKeep && (r.After.Sidecar || r.Quarantine.To != "") {
				t.Fatalf("an emulator run keeps a sidecar or a quarantine folder: %+v %+v", r.After, r.Quarantine)
			}
		})
	}
	if _, err := load(t, "for_emulator: maybe\n"+minimalWatch); err == nil || !strings.Contains(err.Error(), "for_emulator") {
		t.Fatalf("for_emulator: maybe: %v", err)
	}
}

func TestPollWatchWithoutMarkerWarns(t *testing.T) {
	for _, tc := range []struct {
		name, watch string
		warn        bool
	}{
		{"poll, no marker", "watch:\n  - path: ./drop\n    mode: poll\n    rules:\n      - match: \"**/*.mp4\"\n", true},
		{"poll, marker", "watch:\n  - path: ./drop\n    mode: poll\n    rules:\n      - match: \"**/*.mp4\"\n        ready_marker: \"{{ .Name }}.done\"\n", false},
		{"notify, no marker", "watch:\n  - path: ./drop\n    mode: notify\n    max_open_wait: 1h\n    rules:\n      - match: \"**/*.mp4\"\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := load(t, tc.watch)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Contains(strings.Join(cfg.Warnings, "\n"), "ready_marker is the only safe choice")
			if got != tc.warn {
				t.Fatalf("warnings %q, want the ready_marker warning: %v", cfg.Warnings, tc.warn)
			}
		})
	}
}

func TestOutputOptions(t *testing.T) {
	cfg, err := load(t, `group_readable: true
defaults:
  allow_empty: true
  after: { action: move, to: ./done, prune_empty: true }
watch:
  - path: ./drop
    rules:
      - match: "a/**"
      - match: "**"
        allow_empty: false
        after: { action: delete }
`)
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Watch[0].Rules[0], cfg.Watch[0].Rules[1]
	if !cfg.GroupReadable || !a.AllowEmpty || !a.After.PruneEmpty || b.AllowEmpty || b.After.PruneEmpty {
		t.Errorf("group_readable %v; rule a allow_empty %v prune_empty %v; rule b allow_empty %v prune_empty %v",
			cfg.GroupReadable, a.AllowEmpty, a.After.PruneEmpty, b.AllowEmpty, b.After.PruneEmpty)
	}
	def, err := load(t, minimalWatch)
	if err != nil {
		t.Fatal(err)
	}
	if r := def.Watch[0].Rules[0]; def.GroupReadable || r.AllowEmpty || r.After.PruneEmpty {
		t.Errorf("defaults: group_readable %v allow_empty %v prune_empty %v, want all false", def.GroupReadable, r.AllowEmpty, r.After.PruneEmpty)
	}
}

func TestPathExpansion(t *testing.T) {
	t.Setenv("HOME", "/home/media")
	t.Setenv("VODWATCHD_TEST_ROOT", "/srv/x")
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	os.Unsetenv("CREDENTIALS_DIRECTORY")
	cfg, err := load(t, `state: ~/var/state.db
vod:
  credentials: file:${CREDENTIALS_DIRECTORY}/vod
watch:
  - path: $VODWATCHD_TEST_ROOT/drop
    rules:
      - match: "*"
        after: { action: move, to: "${VODWATCHD_TEST_ROOT}/done$$1" }
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ what, got, want string }{
		{"state", cfg.State, "/home/media/var/state.db"},
		{"watch", cfg.Watch[0].Path, "/srv/x/drop"},
		{"after.to", cfg.Watch[0].Rules[0].After.To, "/srv/x/done$1"},
		{"credentials (left as written)", filepath.Base(filepath.Dir(cfg.VOD.Credentials.Path)), "${CREDENTIALS_DIRECTORY}"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	if w := strings.Join(cfg.Warnings, "\n"); !strings.Contains(w, "vod.credentials: $CREDENTIALS_DIRECTORY is set by systemd for the service only") {
		t.Errorf("no warning about $CREDENTIALS_DIRECTORY: %q", w)
	}

	t.Setenv("CREDENTIALS_DIRECTORY", "/run/credentials/vodwatchd.service")
	cfg, err = load(t, "vod:\n  credentials: file:${CREDENTIALS_DIRECTORY}/vod\n"+minimalWatch)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.VOD.Credentials.Path != "/run/credentials/vodwatchd.service/vod" || len(cfg.Warnings) != 0 {
		t.Errorf("under the unit: credentials %q, warnings %v", cfg.VOD.Credentials.Path, cfg.Warnings)
	}
}
