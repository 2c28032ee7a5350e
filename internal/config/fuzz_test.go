package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func FuzzLoad(f *testing.F) {
	if b, err := os.ReadFile("../../config.example.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(minimalWatch))
	f.Add([]byte("cluster: {endpoints: [\"127.0.0.1:2379\"], node: n, lease_ttl: 5s, password: env:P, username: u}\n" + minimalWatch))
	f.Add([]byte("follow: {mode: pull, confirm_foreign: true}\nhook_delivery: {max_attempts: 2}\nwatch:\n  - path: x\n    hooks: [{name: a, on: [ready], url: 'http://h/x', secret: 'env:HOME'}]\n    rules: [{match: '*', hooks: [{on: [done, failed], command: [x]}], after: {action: delete, when: ready}}]\n"))
	f.Add([]byte("vod:\n  secret_id: a\n  secret_key: b\nupload:\n  schedule: [\"22:00-06:00 Sat,Sun 1MiB/s\"]\n" + minimalWatch))
	f.Add([]byte("defaults: &d {media_name: '{{.Parent}}-{{.Stem | upper}}'}\nwatch:\n  - path: x\n    rules: [{<<: *d, match: '**/*.{mp4,mov}'}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("/fuzz/config.yaml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not Errors: %v", err)
			}
			for _, e := range es {
				if e.Pos.Line < 1 || e.Msg == "" || !strings.HasPrefix(e.Error(), "/fuzz/config.yaml:") {
					t.Fatalf("error without position or message: %#v", e)
				}
			}
			return
		}
		if len(cfg.Watch) == 0 {
			t.Fatal("loaded without watches")
		}
		for _, w := range cfg.Watch {
			for _, r := range w.Rules {
				if r.MediaName == nil || r.SourceContext == nil || r.Match == "" {
					t.Fatalf("rule %s incomplete", r.Field)
				}
				if _, err := r.MediaName.Execute(sampleData()); err != nil {
					t.Fatalf("validated media_name fails on sample data: %v", err)
				}
			}
		}
	})
}
