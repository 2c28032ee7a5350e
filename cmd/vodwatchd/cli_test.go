package main

import (
	"bytes"
	"context"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/buildinfo"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code = runMain(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func TestCLIConventions(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		stdout     string // substring of stdout ("" = must be empty)
		stderrPart string
	}{
		{[]string{"--version"}, 0, "vodwatchd " + buildinfo.Read().Version + "\n", ""},
		{[]string{"-version"}, 0, "vodwatchd " + buildinfo.Read().Version + "\n", ""},
		{[]string{"--help"}, 0, "Exit status: 0 success, 1 failure", ""},
		{[]string{"help"}, 0, "Run 'vodwatchd help COMMAND'", ""},
		{nil, 2, "", "usage: vodwatchd COMMAND"},
		{[]string{"nope"}, 2, "", `unknown command "nope"`},
		{[]string{"help", "nope"}, 2, "", `unknown command "nope"`},
		{[]string{"status", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		code, out, errs := runCLI(t, tt.args...)
		if code != tt.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tt.args, code, tt.code, errs)
		}
		if tt.stdout == "" && out != "" || !strings.Contains(out, tt.stdout) {
			t.Errorf("%v: stdout %q, want it to contain %q", tt.args, out, tt.stdout)
		}
		if !strings.Contains(errs, tt.stderrPart) {
			t.Errorf("%v: stderr %q, want %q", tt.args, errs, tt.stderrPart)
		}
	}
}

// commandFlags runs `vodwatchd help NAME` and returns the flags it lists.
func commandFlags(t *testing.T, name string) []string {
	t.Helper()
	code, out, errs := runCLI(t, "help", name)
	if code != 0 || errs != "" {
		t.Fatalf("help %s: exit %d, stderr %q", name, code, errs)
	}
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(out, -1) {
		flags = append(flags, m[1])
	}
	sort.Strings(flags)
	return flags
}

// TestHelpOneStyle: every command's help is on stdout, exits 0 and has the
// same shape: usage line, what it does, its flags; -h prints the same.
func TestHelpOneStyle(t *testing.T) {
	shape := regexp.MustCompile(`^usage: vodwatchd ([a-z]+) .+\n\n(.+\n)+(\nflags:\n(  -.+\n(    \t.+\n)?)+)?$`)
	for name := range commands() {
		code, out, errs := runCLI(t, "help", name)
		if code != 0 || errs != "" {
			t.Errorf("help %s: exit %d, stderr %q", name, code, errs)
		}
		m := shape.FindStringSubmatch(out)
		if m == nil || m[1] != name {
			t.Errorf("help %s is not in the common shape:\n%s", name, out)
		}
		code, _, errs = runCLI(t, name, "-h")
		if code != 0 || errs != out {
			t.Errorf("%s -h: exit %d, and its text differs from help %s:\n%s", name, code, name, errs)
		}
	}
}
