package realpath

import (
	"os"
	"path/filepath"
	"testing"
)

func TestExisting(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	realDir, _ := filepath.EvalSymlinks(real)
	if got, want := Existing(filepath.Join(dir, "l", "x", "y")), filepath.Join(realDir, "x", "y"); got != want {
		t.Errorf("Existing = %s, want %s", got, want)
	}
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	if got := Existing(filepath.Join(loop, "x")); got == "" {
		t.Error("a symlink loop gave an empty path")
	}
}
