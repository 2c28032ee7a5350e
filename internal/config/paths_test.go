package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDestinationThroughSymlinkIntoWatch (issue 18 item 8): a done or
// quarantine folder that does not exist yet, below a symlink that leads
// into a watch root, is refused like one written inside it: moved files
// would be taken again, endlessly.
func TestDestinationThroughSymlinkIntoWatch(t *testing.T) {
	dir := t.TempDir()
	drop := filepath.Join(dir, "drop")
	outside := filepath.Join(dir, "outside")
	for _, d := range []string{drop, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(name, target string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	into := link("into", drop)
	relInto := link("rel-into", "drop")
	dangling := link("dangling", filepath.Join(drop, "later"))
	chained := link("chained", into)
	away := link("away", outside)
	cases := []struct {
		name, key, to string
		want          string // "" = accepted
	}{
		{"after.to below a link into the root", "after", into + "/done", "done folder"},
		{"after.to two folders below the link", "after", into + "/a/b/done", "done folder"},
		{"relative link", "after", relInto + "/done", "done folder"},
		{"dangling link into the root", "after", dangling + "/done", "done folder"},
		{"link to a link", "after", chained + "/done", "done folder"},
		{"quarantine.to below a link into the root", "quarantine", into + "/bad", "quarantine folder"},
		{"link leading elsewhere is fine", "after", away + "/done", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dest := "after: { action: move, to: " + tc.to + " }"
			if tc.key == "quarantine" {
				dest = "quarantine: { to: " + tc.to + " }"
			}
			yaml := "state: " + filepath.Join(dir, "state.db") + "\nwatch:\n  - path: " + drop + "\n    rules:\n      - match: \"*\"\n        " + dest + "\n"
			_, err := load(t, yaml)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "is inside watch[0].path") {
				t.Fatalf("err = %v, want the %s refused as inside the watch root", err, tc.want)
			}
		})
	}
}
