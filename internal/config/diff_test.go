package config

import (
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	base := `vod:
  secret_id: AKIDold
  secret_key: oldsecret
upload: { bandwidth: 10MiB/s }
watch:
  - path: ./drop
    settle: 5s
    rules:
      - name: news
        match: "news/**"
        procedure: p1
        media_name: "{{.Stem}}"
  - path: ./gone
    rules: [{ match: "*" }]
`
	changed := `vod:
  secret_id: AKIDold
  secret_key: newsecret
upload: { bandwidth: 20MiB/s }
compact_after: 30d
watch:
  - path: ./drop
    settle: 10s
    rules:
      - name: news
        match: "news/**"
        procedure: p2
        media_name: "{{.Name}}"
  - path: ./new
    rules: [{ match: "*" }]
`
	a, err := load(t, base)
	if err != nil {
		t.Fatal(err)
	}
	b, err := load(t, changed)
	if err != nil {
		t.Fatal(err)
	}
	// Both files live in different temp folders: align the paths that
	// follow from them so only the text differences remain.
	b.State = a.State
	for i := range b.Watch {
		b.Watch[i].Path = strings.Replace(b.Watch[i].Path, b.Dir, a.Dir, 1)
	}
	got := strings.Join(Diff(a, b), "\n")
	drop := "watch[" + a.Watch[0].Path + "]"
	for _, want := range []string{
		"vod.credentials.secret_key",
		"upload.bandwidth",
		"compact_after",
		drop + ".settle",
		drop + ".rules[news].procedure",
		drop + ".rules[news].media_name",
		"watch[" + strings.Replace(a.Watch[1].Path, "gone", "new", 1) + "] added",
		"watch[" + a.Watch[1].Path + "] removed",
	} {
		if !strings.Contains(got+"\n", want+"\n") {
			t.Errorf("Diff lacks %q:\n%s", want, got)
		}
	}
	for _, secret := range []string{"oldsecret", "newsecret", "AKID"} {
		if strings.Contains(got, secret) {
			t.Errorf("Diff shows a credential value: %s", got)
		}
	}
	if n := len(Diff(a, a)); n != 0 {
		t.Errorf("Diff of a config with itself: %v", Diff(a, a))
	}
	if strings.Contains(got, "match") || strings.Contains(got, "upload.workers") {
		t.Errorf("Diff names unchanged keys:\n%s", got)
	}
}
