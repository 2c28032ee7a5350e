package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/config"
)

// The files ./scripts/package puts in the Debian package and the tarballs.
const (
	pkgUnit     = "../../packaging/systemd/vodwatchd.service"
	pkgConfig   = "../../packaging/config.yaml"
	pkgMan      = "../../packaging/man/vodwatchd.1"
	pkgBash     = "../../packaging/completions/vodwatchd.bash"
	pkgZsh      = "../../packaging/completions/_vodwatchd"
	pkgFish     = "../../packaging/completions/vodwatchd.fish"
	pkgTmpfiles = "../../packaging/systemd/vodwatchd.tmpfiles"
)

func readPkg(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// unitValues returns every value of key= in a unit file.
func unitValues(t *testing.T, unit, key string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			out = append(out, strings.Fields(v)...)
		}
	}
	return out
}

func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// TestPackagedConfigFitsTheUnit: every folder the packaged config writes to
// is one the unit's sandbox lets it write, tmpfiles creates them, and the
// credentials come from where LoadCredential= reads them.
func TestPackagedConfigFitsTheUnit(t *testing.T) {
	cfg, err := config.Load(pkgConfig)
	if err != nil {
		t.Fatalf("packaged config: %v", err)
	}
	unit := readPkg(t, pkgUnit)
	var writable []string
	for _, p := range unitValues(t, unit, "ReadWritePaths") {
		writable = append(writable, strings.TrimPrefix(p, "-"))
	}
	for _, d := range unitValues(t, unit, "StateDirectory") {
		writable = append(writable, "/var/lib/"+d)
	}
	tmpfiles := readPkg(t, pkgTmpfiles)
	check := func(what, p string) {
		t.Helper()
		ok := false
		for _, w := range writable {
			ok = ok || under(p, w)
		}
		if !ok {
			t.Errorf("%s %s is outside the unit's writable paths %v", what, p, writable)
		}
	}
	check("state", filepath.Dir(cfg.State))
	for _, w := range cfg.Watch {
		check("watch", w.Path)
		if !regexp.MustCompile(`(?m)^d ` + regexp.QuoteMeta(w.Path) + ` `).MatchString(tmpfiles) {
			t.Errorf("tmpfiles does not create the watch folder %s", w.Path)
		}
		for _, r := range w.Rules {
			if r.After.Action == config.AfterMove {
				check("after.to of "+r.Name, r.After.To)
			}
			if r.Quarantine.To != "" {
				check("quarantine.to of "+r.Name, r.Quarantine.To)
			}
		}
	}
	cr := cfg.VOD.Credentials
	if cr.Kind != config.CredSystemd {
		t.Fatalf("packaged credentials: %s, want systemd:DIR", cr.Kind)
	}
	for _, name := range []string{"secret_id", "secret_key"} {
		want := name + ":" + filepath.Join(cr.Path, name)
		found := false
		for _, v := range unitValues(t, unit, "LoadCredential") {
			found = found || v == want
		}
		if !found {
			t.Errorf("unit has no LoadCredential=%s, but the config reads %s from %s", want, name, cr.Path)
		}
	}
}

// TestCompletionsAndManPage: every command and each of its flags (as
// `vodwatchd help` lists them) is in the bash, zsh and fish completions
// and in the man page.
func TestCompletionsAndManPage(t *testing.T) {
	bash, zsh, fish := readPkg(t, pkgBash), readPkg(t, pkgZsh), readPkg(t, pkgFish)
	man := strings.ReplaceAll(readPkg(t, pkgMan), `\-`, "-")
	for name := range commands() {
		flags := commandFlags(t, name)
		bashLine := regexp.MustCompile(`(?m)^\s+` + name + `\) flags="([^"]*)"`).FindStringSubmatch(bash)
		if bashLine == nil {
			t.Errorf("bash completion has no flags for %s", name)
			bashLine = []string{"", ""}
		}
		if !strings.Contains(zsh, "'"+name+":") || !regexp.MustCompile(`(?m)^    `+name+`\)`).MatchString(zsh) {
			t.Errorf("zsh completion lacks the command %s", name)
		}
		if !strings.Contains(fish, "-a "+name+" ") {
			t.Errorf("fish completion lacks the command %s", name)
		}
		if !regexp.MustCompile(`(?m)^\.BI? "?` + name + `\b`).MatchString(man) {
			t.Errorf("man page has no entry for %s", name)
		}
		for _, f := range flags {
			dash := "--" + f
			if len(f) == 1 {
				dash = "-" + f
			}
			if !strings.Contains(" "+bashLine[1]+" ", " "+dash+" ") {
				t.Errorf("bash completion of %s lacks %s", name, dash)
			}
			if !strings.Contains(zsh, "'"+dash+"[") {
				t.Errorf("zsh completion lacks %s (of %s)", dash, name)
			}
			if !regexp.MustCompile(`(?m)__fish_seen_subcommand_from[^"]*\b` + name + `\b[^"]*" -[ls] ` + regexp.QuoteMeta(f) + `\b|for f in[^\n]*\b` + regexp.QuoteMeta(f) + `\b`).MatchString(fish) {
				t.Errorf("fish completion lacks %s (of %s)", dash, name)
			}
			if !strings.Contains(man, dash) {
				t.Errorf("man page lacks %s (of %s)", dash, name)
			}
		}
	}
}
