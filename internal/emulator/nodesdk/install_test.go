package nodesdk_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// installSDK returns testdata/node_modules with vod-node-sdk and its
// dependencies as locked in testdata/package-lock.json, installing them the
// first time (into a temporary folder renamed into place, so an interrupted
// install is never taken for a finished one).
func installSDK(t *testing.T, npm string) string {
	t.Helper()
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	modules := filepath.Join(testdata, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "vod-node-sdk", "package.json")); err == nil {
		return modules
	}
	tmp, err := os.MkdirTemp(testdata, ".install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(testdata, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--cache", filepath.Join(testdata, ".npm-cache"))
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci (vod-node-sdk@1.1.0 from testdata/package-lock.json): %v\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "node_modules"), modules); err != nil && !os.IsExist(err) {
		if _, serr := os.Stat(filepath.Join(modules, "vod-node-sdk", "package.json")); serr != nil {
			t.Fatalf("moving the installed SDK into place: %v", err)
		}
	}
	return modules
}
