package config

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 parse error into a FieldError.
func syntaxError(name string, err error) *FieldError {
	msg := err.Error()
	line := 1
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &FieldError{Pos: Pos{File: name, Line: line, Column: 1}, Msg: "YAML syntax: " + msg}
}

// Ignored reports whether a slash path relative to the watch root is
// ignored. Patterns without a slash are matched against every path
// element (so ".*" hides dot folders too); patterns with a slash against
// the whole relative path.
func (w *Watch) Ignored(rel string) bool {
	rel = strings.Trim(path.Clean("/"+rel), "/")
	if rel == "" {
		return false
	}
	elems := strings.Split(rel, "/")
	for _, p := range w.Ignore {
		if strings.Contains(p, "/") {
			if ok, _ := doublestar.Match(p, rel); ok {
				return true
			}
			continue
		}
		for _, e := range elems {
			if ok, _ := doublestar.Match(p, e); ok {
				return true
			}
		}
	}
	return false
}

// Secrets are resolved API credentials.
type Secrets struct {
	SecretID  string
	SecretKey Secret
	Token     Secret // temporary credentials only
}

// ErrNoCredentials means the configured source holds no credentials.
var ErrNoCredentials = errors.New("no credentials")

// Resolve reads the credentials from their configured source. CVM roles
// are fetched at run time by the API client, so Resolve returns
// ErrUnsupported-wrapped error for them. Errors never contain secrets.
func (c Credentials) Resolve(getenv func(string) string) (Secrets, error) {
	switch c.Kind {
	case CredInline:
		return Secrets{SecretID: c.SecretID, SecretKey: c.SecretKey}, nil
	case CredEnv:
		s := Secrets{SecretID: getenv("TENCENTCLOUD_SECRET_ID"), SecretKey: Secret(getenv("TENCENTCLOUD_SECRET_KEY")),
			Token: Secret(getenv("TENCENTCLOUD_SESSION_TOKEN"))}
		if s.SecretID == "" || s.SecretKey == "" {
			return s, fmt.Errorf("%w: TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY must both be set", ErrNoCredentials)
		}
		return s, nil
	case CredFile:
		return ReadCredentialsFile(c.Path)
	case CredSystemd:
		dir := c.Path
		if d := getenv("CREDENTIALS_DIRECTORY"); d != "" {
			dir = d
		}
		return ReadCredentialsDir(dir)
	case CredProfile:
		return readProfile(getenv("HOME"), c.Profile)
	case CredCVMRole:
		return Secrets{}, fmt.Errorf("cvm-role credentials come from the instance metadata service at run time: %w", errors.ErrUnsupported)
	}
	return Secrets{}, fmt.Errorf("unknown credentials kind %q", c.Kind)
}

// ReadCredentialsFile reads a KEY=VALUE file (systemd EnvironmentFile
// style; # comments, optional quotes) with TENCENTCLOUD_SECRET_ID and
// TENCENTCLOUD_SECRET_KEY (or secret_id / secret_key), and optionally
// TENCENTCLOUD_SESSION_TOKEN (or token).
func ReadCredentialsFile(p string) (Secrets, error) {
	f, err := os.Open(p)
	if err != nil {
		return Secrets{}, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	var s Secrets
	sc := bufio.NewScanner(io.LimitReader(f, 1<<16))
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			return Secrets{}, fmt.Errorf("credentials file %s:%d: want KEY=VALUE", p, ln)
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "tencentcloud_secret_id", "secret_id":
			s.SecretID = v
		case "tencentcloud_secret_key", "secret_key":
			s.SecretKey = Secret(v)
		case "tencentcloud_session_token", "token":
			s.Token = Secret(v)
		default:
			return Secrets{}, fmt.Errorf("credentials file %s:%d: unknown key %q", p, ln, strings.TrimSpace(k))
		}
	}
	if err := sc.Err(); err != nil {
		return Secrets{}, fmt.Errorf("credentials file %s: %w", p, err)
	}
	if s.SecretID == "" || s.SecretKey == "" {
		return s, fmt.Errorf("%w: credentials file %s needs TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY", ErrNoCredentials, p)
	}
	return s, nil
}

// ReadCredentialsDir reads the systemd credential layout: one file per
// value, secret_id and secret_key (and optionally token), in dir. Under
// the unit dir is $CREDENTIALS_DIRECTORY (LoadCredential= copies); outside
// it, the folder those copies are made from.
func ReadCredentialsDir(dir string) (Secrets, error) {
	read := func(name string) (string, error) {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return "", err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, 1<<16))
		return strings.TrimSpace(string(b)), err
	}
	id, err := read("secret_id")
	if err != nil {
		return Secrets{}, fmt.Errorf("systemd credential secret_id: %w", err)
	}
	key, err := read("secret_key")
	if err != nil {
		return Secrets{}, fmt.Errorf("systemd credential secret_key: %w", err)
	}
	token, err := read("token")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Secrets{}, fmt.Errorf("systemd credential token: %w", err)
	}
	if id == "" || key == "" {
		return Secrets{}, fmt.Errorf("%w: %s/secret_id and %s/secret_key must both hold a value", ErrNoCredentials, dir, dir)
	}
	return Secrets{SecretID: id, SecretKey: Secret(key), Token: Secret(token)}, nil
}

// ProfilePath is where tccli keeps a profile's credentials.
func ProfilePath(home, profile string) string {
	return filepath.Join(home, ".tccli", profile+".credential")
}

func readProfile(home, profile string) (Secrets, error) {
	if home == "" {
		return Secrets{}, fmt.Errorf("%w: HOME is not set, cannot find the tccli profile %q", ErrNoCredentials, profile)
	}
	p := ProfilePath(home, profile)
	b, err := os.ReadFile(p)
	if err != nil {
		return Secrets{}, fmt.Errorf("tccli profile: %w", err)
	}
	var v struct {
		SecretID  string `json:"secretId"`
		SecretKey string `json:"secretKey"`
		Token     string `json:"token"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Secrets{}, fmt.Errorf("tccli profile %s: not JSON with secretId/secretKey", p)
	}
	if v.SecretID == "" || v.SecretKey == "" {
		return Secrets{}, fmt.Errorf("%w: tccli profile %s has no secretId/secretKey", ErrNoCredentials, p)
	}
	return Secrets{SecretID: v.SecretID, SecretKey: Secret(v.SecretKey), Token: Secret(v.Token)}, nil
}
