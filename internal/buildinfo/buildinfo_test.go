package buildinfo

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/vodwatchd/vodwatchd", Version: "v0.3.0"},
		Deps: []*debug.Module{
			{Path: "go.etcd.io/bbolt", Version: "v1.5.0", Sum: "h1:b"},
			{Path: "github.com/fsnotify/fsnotify", Version: "v1.10.1", Sum: "h1:f"},
			{Path: "example.com/old", Version: "v1.0.0", Replace: &debug.Module{Path: "../fork", Version: "(devel)"}},
			nil,
		},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc123"},
			{Key: "vcs.time", Value: "2026-03-01T12:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name    string
		linked  string
		main    string
		ok      bool
		want    string
		wantMod string
	}{
		{"module version", "", "v0.3.0", true, "v0.3.0", "github.com/vodwatchd/vodwatchd"},
		{"ldflags win", "v9.9.9", "v0.3.0", true, "v9.9.9", "github.com/vodwatchd/vodwatchd"},
		{"devel build", "", "(devel)", true, "devel", "github.com/vodwatchd/vodwatchd"},
		{"empty main version", "", "", true, "devel", "github.com/vodwatchd/vodwatchd"},
		{"no build info", "", "", false, "devel", ""},
		{"no build info, ldflags", "v1.0.0", "", false, "v1.0.0", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := *bi
			b.Main.Version = tc.main
			info := fromBuildInfo(tc.linked, &b, tc.ok)
			if info.Version != tc.want || info.Module != tc.wantMod {
				t.Errorf("Version, Module = %q, %q; want %q, %q", info.Version, info.Module, tc.want, tc.wantMod)
			}
			if info.GoVersion != runtime.Version() || info.Platform != runtime.GOOS+"/"+runtime.GOARCH {
				t.Errorf("Go %q platform %q", info.GoVersion, info.Platform)
			}
			if !tc.ok {
				if len(info.Deps) != 0 || info.Deps == nil {
					t.Errorf("Deps without build info = %#v, want empty non-nil", info.Deps)
				}
				return
			}
			wantDeps := []Module{
				{Path: "example.com/old", Version: "v1.0.0", Replace: "../fork (devel)"},
				{Path: "github.com/fsnotify/fsnotify", Version: "v1.10.1", Sum: "h1:f"},
				{Path: "go.etcd.io/bbolt", Version: "v1.5.0", Sum: "h1:b"},
			}
			if len(info.Deps) != len(wantDeps) {
				t.Fatalf("Deps = %+v, want %+v", info.Deps, wantDeps)
			}
			for i := range wantDeps {
				if info.Deps[i] != wantDeps[i] {
					t.Errorf("Deps[%d] = %+v, want %+v", i, info.Deps[i], wantDeps[i])
				}
			}
			if info.Revision != "abc123" || info.Time != "2026-03-01T12:00:00Z" || !info.Modified {
				t.Errorf("vcs = %q %q %v", info.Revision, info.Time, info.Modified)
			}
		})
	}
}

func TestReadInTestBinary(t *testing.T) {
	info := Read()
	if info.Version == "" || info.GoVersion == "" {
		t.Fatalf("Read() = %+v: empty version", info)
	}
}

// TestLdflagsVersion builds a small program with -X and checks that the
// linked version and the dependency list (as `go version -m` reports it)
// come out of Read.
func TestLdflagsVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "printversion")
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X github.com/vodwatchd/vodwatchd/internal/buildinfo.version=v7.7.7-test",
		"./testdata/printversion")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("printversion: %v", err)
	}
	var info Info
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("printversion output: %v\n%s", err, out)
	}
	if info.Version != "v7.7.7-test" || info.Module != "github.com/vodwatchd/vodwatchd" {
		t.Errorf("Version, Module = %q, %q", info.Version, info.Module)
	}
	gv, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	want := map[string]string{}
	for _, line := range strings.Split(string(gv), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "dep" {
			want[f[1]] = f[2]
		}
	}
	if _, ok := want["github.com/prometheus/client_golang"]; !ok {
		t.Fatalf("go version -m lists no client_golang:\n%s", gv)
	}
	got := map[string]string{}
	for _, d := range info.Deps {
		got[d.Path] = d.Version
	}
	if len(got) != len(want) {
		t.Errorf("%d deps, go version -m lists %d", len(got), len(want))
	}
	for p, v := range want {
		if got[p] != v {
			t.Errorf("dep %s = %q, want %q", p, got[p], v)
		}
	}
}
