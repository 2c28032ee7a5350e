package postaction

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/vodoutput"
)

func TestSidecarCarriesPlayableAndIsRewritten(t *testing.T) {
	root, done := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(root, "news"), 0o755)
	os.WriteFile(filepath.Join(root, "news", "a.mp4"), []byte("x"), 0o644)
	files := Files{Root: root, Main: "news/a.mp4"}
	spec := Spec{Action: Move, To: done, Sidecar: true}
	res := Result{FileID: "F", MediaURL: "http://m", Path: "news/a.mp4", Playable: Playable{Stage: "processing", TaskID: "t"}}
	out, err := Done(t.Context(), files, spec, res)
	if err != nil {
		t.Fatal(err)
	}
	p := out.Sidecar
	if p != filepath.Join(done, "news", "a.mp4.vod.json") {
		t.Fatalf("sidecar at %s", p)
	}
	res.Playable = Playable{Stage: "ready", TaskID: "t", Progress: 100, Outputs: &vodoutput.Outputs{CoverURL: "http://c"}}
	if err := UpdateSidecar(p, res); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	b, _ := os.ReadFile(p)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["Stage"] != "ready" || got["FileId"] != "F" || got["Outputs"].(map[string]any)["cover_url"] != "http://c" {
		t.Fatalf("sidecar %s", b)
	}
	// A sidecar the user removed is not written again.
	os.Remove(p)
	if err := UpdateSidecar(p, res); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("a removed sidecar came back")
	}
	os.WriteFile(filepath.Join(root, "news", "b.mp4"), []byte("y"), 0o644)
	if out, err := Done(t.Context(), Files{Root: root, Main: "news/b.mp4"}, Spec{Action: Keep}, res); err != nil || out.Sidecar != "" {
		t.Fatalf("a spec without sidecar wrote one: %+v, %v", out, err)
	}
}
