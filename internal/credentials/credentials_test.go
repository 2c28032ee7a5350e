package credentials

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/config"
)

func TestCredentialsResolve(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cred")
	if err := os.WriteFile(p, []byte("# vod\nTENCENTCLOUD_SECRET_ID=AKIDfile\nTENCENTCLOUD_SECRET_KEY=\"keyfile\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Resolve(config.Credentials{Kind: config.CredFile, Path: p}, nil)
	if err != nil || s.SecretID != "AKIDfile" || s.SecretKey != "keyfile" {
		t.Errorf("file: %+v %v", s, err)
	}
	env := map[string]string{"TENCENTCLOUD_SECRET_ID": "AKIDenv"}
	_, err = Resolve(config.Credentials{Kind: config.CredEnv}, func(k string) string { return env[k] })
	if !errors.Is(err, ErrNoCredentials) {
		t.Errorf("env without key: %v", err)
	}
	if err := os.WriteFile(p, []byte("TENCENTCLOUD_SECRET_KEY=topsecret\nPASSWORD=x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Resolve(config.Credentials{Kind: config.CredFile, Path: p}, nil)
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("bad file: err %v (must not contain the secret)", err)
	}
}

// TestForConfig: the daemon's source prefers systemd credentials, re-reads
// a rotated file on every call, and never prints a key.
func TestForConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cred")
	write := func(p, text string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(file, "TENCENTCLOUD_SECRET_ID=AKIDone\nTENCENTCLOUD_SECRET_KEY=keyOne\n")
	sysd := filepath.Join(dir, "sysd")
	if err := os.Mkdir(sysd, 0o700); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	src := ForConfig(config.Credentials{Kind: config.CredFile, Path: file}, func(k string) string { return env[k] })
	ctx := context.Background()
	for _, step := range []struct {
		name   string
		change func()
		wantID string
	}{
		{"file", func() {}, "AKIDone"},
		{"rotated file", func() { write(file, "TENCENTCLOUD_SECRET_ID=AKIDtwo\nTENCENTCLOUD_SECRET_KEY=keyTwo\n") }, "AKIDtwo"},
		{"systemd first", func() {
			write(filepath.Join(sysd, "secret_id"), "AKIDsysd\n")
			write(filepath.Join(sysd, "secret_key"), "keySysd\n")
			env["CREDENTIALS_DIRECTORY"] = sysd
		}, "AKIDsysd"},
	} {
		step.change()
		c, err := src.Credential(ctx)
		if err != nil || c.SecretID != step.wantID || c.SecretKey == "" {
			t.Fatalf("%s: %v, %v; want id %s", step.name, c, err, step.wantID)
		}
		for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
			if out := fmt.Sprintf(f, c); strings.Contains(out, c.SecretKey) {
				t.Fatalf("%s: %s prints the key: %s", step.name, f, out)
			}
		}
	}
	if _, err := Static("", "k", "").Credential(ctx); err == nil {
		t.Fatal("Static without an id succeeded")
	}
}

// errorHoldsFileText reports a piece of text (6 bytes or more) that err
// carries from the file at p, leaving out the path itself and the words
// of the messages ReadFile writes (key names and the like).
func errorHoldsFileText(err error, p, text string) (string, bool) {
	const messages = "credentials file : want KEY=VALUE unknown key; want TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY or TENCENTCLOUD_SESSION_TOKEN needs TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY no credentials bufio.Scanner: token too long"
	msg := strings.ReplaceAll(err.Error(), p, "")
	for i := 0; i+6 <= len(text); i++ {
		if w := text[i : i+6]; strings.Contains(msg, w) && !strings.Contains(messages, w) {
			return w, true
		}
	}
	return "", false
}

// TestReadFileBadInput: each malformed file is refused with its path and
// line, and the error carries nothing written in the file.
func TestReadFileBadInput(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"pasted secret with padding", "TENCENTCLOUD_SECRET_ID=AKIDok\nc2VjcmV0c2VjcmV0==\n", ":2: unknown key"},
		{"key equal to a value", "TENCENTCLOUD_SECRET_ID=000000\n000000=000000\n", ":2: unknown key"},
		{"yaml style", "secret_id: AKIDsecretvalue\n", ":1: want KEY=VALUE"},
		{"id only", "TENCENTCLOUD_SECRET_ID=AKIDonlyid\n", "needs TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY"},
		{"empty key value", "TENCENTCLOUD_SECRET_ID=AKIDx\nTENCENTCLOUD_SECRET_KEY=''\n", "needs TENCENTCLOUD_SECRET_ID"},
		{"line too long", "TENCENTCLOUD_SECRET_KEY=" + strings.Repeat("k", 70000) + "\n", "token too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "cred")
			if err := os.WriteFile(p, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadFile(p)
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want %q naming %s", err, tc.want, p)
			}
			if w, ok := errorHoldsFileText(err, p, tc.text); ok {
				t.Fatalf("error %q carries %q from the file", err, w)
			}
		})
	}
}

// FuzzReadFile: any file content gives credentials or an error, and an
// error never carries text from the file.
func FuzzReadFile(f *testing.F) {
	for _, s := range []string{"TENCENTCLOUD_SECRET_ID=a\nTENCENTCLOUD_SECRET_KEY=b\n", "# x\nexport secret_key='zz'", "PASSWORD=hunter2", "=", "\x00\xff", "000000=000000", "c2VjcmV0c2VjcmV0=="} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(dir, "cred")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := ReadFile(p)
		if err == nil && (c.SecretID == "" || c.SecretKey == "") {
			t.Fatalf("no error but incomplete credentials %v", c)
		}
		if err != nil {
			if w, ok := errorHoldsFileText(err, p, text); ok {
				t.Fatalf("error %q carries %q from the file", err, w)
			}
		}
	})
}

func TestCredentialsSystemd(t *testing.T) {
	etc, run := t.TempDir(), t.TempDir()
	write := func(dir, name, v string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(etc, "secret_id", "AKIDetc\n")
	write(etc, "secret_key", "keyetc\n")
	write(run, "secret_id", "AKIDrun")
	write(run, "secret_key", "keyrun")
	write(run, "token", "tok")
	c := config.Credentials{Kind: config.CredSystemd, Path: etc}
	for _, tc := range []struct {
		credDir, id, key, token string
	}{
		{"", "AKIDetc", "keyetc", ""},     // check, run by an admin: the source folder
		{run, "AKIDrun", "keyrun", "tok"}, // under the unit: $CREDENTIALS_DIRECTORY wins
	} {
		s, err := Resolve(c, func(k string) string { return map[string]string{"CREDENTIALS_DIRECTORY": tc.credDir}[k] })
		if err != nil || s.SecretID != tc.id || s.SecretKey != tc.key || s.Token != tc.token {
			t.Errorf("CREDENTIALS_DIRECTORY=%q: got %q %q %q, %v", tc.credDir, s.SecretID, s.SecretKey, s.Token, err)
		}
	}
	empty := t.TempDir()
	write(empty, "secret_id", "AKID")
	write(empty, "secret_key", "\n")
	if _, err := Resolve(config.Credentials{Kind: config.CredSystemd, Path: empty}, func(string) string { return "" }); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("empty secret_key: %v, want ErrNoCredentials", err)
	}
	if _, err := Resolve(config.Credentials{Kind: config.CredSystemd, Path: t.TempDir()}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "secret_id") {
		t.Errorf("missing files: %v, want an error naming secret_id", err)
	}
}
