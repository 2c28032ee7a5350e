package manifest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// writeTree creates files (slash paths -> contents) under a new temp folder
// and returns the folder.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func resolveTree(t *testing.T, files map[string]string, top string) (*Bundle, error) {
	t.Helper()
	dir := writeTree(t, files)
	return Resolve(context.Background(), filepath.Join(dir, top), Options{})
}

func rels(files []File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Rel)
	}
	return out
}

// wantRefError checks that err is a *RefError naming manifest (a slash path
// relative to the bundle), line, element, ref and a reason containing reason.
func wantRefError(t *testing.T, err error, manifest string, line int, element, ref, reason string) {
	t.Helper()
	var re *RefError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v (%T), want *RefError", err, err)
	}
	if !strings.HasSuffix(filepath.ToSlash(re.Manifest), "/"+manifest) {
		t.Errorf("Manifest = %q, want .../%s", re.Manifest, manifest)
	}
	if re.Line != line || re.Element != element || re.Ref != ref {
		t.Errorf("at line %d element %q ref %q, want line %d element %q ref %q", re.Line, re.Element, re.Ref, line, element, ref)
	}
	if !strings.Contains(re.Reason, reason) {
		t.Errorf("Reason = %q, want it to contain %q", re.Reason, reason)
	}
	msg := err.Error()
	for _, s := range []string{manifest, strconv.Quote(ref), element} {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q does not name %q", msg, s)
		}
	}
}
