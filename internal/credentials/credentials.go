// Package credentials is the one place API credentials come from: the
// Credential type (id, key, token) the uploader signs with, the sources a
// configuration names (environment, KEY=VALUE file, tccli profile, inline,
// systemd LoadCredential=, CVM role) resolved afresh on every use so that
// rotated keys are picked up without a restart, and fixed or SDK-provider
// credentials for the one-shot `upload` command and tests. Nothing here
// ever puts a secret in an error or a printed value.
package credentials

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/vodwatchd/vodwatchd/internal/config"
)

// Credential is an API key pair, with a token for temporary credentials.
type Credential struct {
	SecretID, SecretKey, Token string
}

// String hides the secret parts.
func (c Credential) String() string { return "Credential{" + c.SecretID + ", ***}" }

// GoString hides the secret parts from %#v too.
func (c Credential) GoString() string { return c.String() }

// Source provides the credential; it is asked again for every ApplyUpload.
type Source interface {
	Credential(ctx context.Context) (Credential, error)
}

// Static returns fixed credentials (token may be empty).
func Static(secretID, secretKey, token string) Source {
	return static{Credential{secretID, secretKey, token}}
}

type static struct{ c Credential }

func (s static) Credential(context.Context) (Credential, error) {
	if s.c.SecretID == "" || s.c.SecretKey == "" {
		return Credential{}, errors.New("credentials: SecretId and SecretKey are required")
	}
	return s.c, nil
}

// FromProvider adapts a tencentcloud common.Provider (environment, profile
// file, CVM role, role ARN or a chain of them).
func FromProvider(p common.Provider) Source { return provider{p} }

// SDKDefault is the SDK's default chain: the environment variables
// TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, the profile file
// (~/.tencentcloud/credentials), then the CVM instance role.
func SDKDefault() Source { return provider{common.DefaultProviderChain()} }

type provider struct{ p common.Provider }

func (p provider) Credential(context.Context) (Credential, error) {
	c, err := p.p.GetCredential()
	if err != nil {
		return Credential{}, fmt.Errorf("credentials: %w", err)
	}
	id, key, token := c.GetCredential()
	return Credential{id, key, token}, nil
}

// ForConfig is the daemon's source for the configured credentials: CVM
// roles through the SDK's metadata provider, everything else resolved on
// every call (systemd credentials in $CREDENTIALS_DIRECTORY first, unless
// the configuration holds the key inline).
func ForConfig(c config.Credentials, getenv func(string) string) Source {
	if c.Kind == config.CredCVMRole {
		return FromProvider(common.DefaultCvmRoleProvider())
	}
	return configSource{cfg: c, getenv: getenv}
}

type configSource struct {
	cfg    config.Credentials
	getenv func(string) string
}

func (c configSource) Credential(context.Context) (Credential, error) {
	if dir := c.getenv("CREDENTIALS_DIRECTORY"); dir != "" && c.cfg.Kind != config.CredInline {
		if cr, ok, err := systemdCredentials(dir); ok || err != nil {
			return cr, err
		}
	}
	cr, err := Resolve(c.cfg, c.getenv)
	if err != nil {
		return Credential{}, fmt.Errorf("credentials (%s): %w", c.cfg.Kind, err)
	}
	return cr, nil
}

// systemdCredentials reads secret_id, secret_key (and token) that the unit's
// LoadCredential= put in $CREDENTIALS_DIRECTORY.
func systemdCredentials(dir string) (Credential, bool, error) {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		return strings.TrimSpace(string(b)), err
	}
	id, err := read("secret_id")
	if errors.Is(err, os.ErrNotExist) {
		return Credential{}, false, nil
	}
	if err != nil {
		return Credential{}, true, fmt.Errorf("systemd credential secret_id: %w", err)
	}
	key, err := read("secret_key")
	if err != nil {
		return Credential{}, true, fmt.Errorf("systemd credential secret_key: %w", err)
	}
	token, _ := read("token")
	return Credential{SecretID: id, SecretKey: key, Token: token}, true, nil
}

// ErrNoCredentials means the configured source holds no credentials.
var ErrNoCredentials = errors.New("no credentials")

// Resolve reads the credentials from their configured source once. CVM
// roles are fetched at run time by the API client, so Resolve returns an
// ErrUnsupported-wrapped error for them. Errors never contain secrets.
func Resolve(c config.Credentials, getenv func(string) string) (Credential, error) {
	switch c.Kind {
	case config.CredInline:
		return Credential{SecretID: c.SecretID, SecretKey: c.SecretKey.Reveal()}, nil
	case config.CredEnv:
		s := Credential{SecretID: getenv("TENCENTCLOUD_SECRET_ID"), SecretKey: getenv("TENCENTCLOUD_SECRET_KEY"),
			Token: getenv("TENCENTCLOUD_SESSION_TOKEN")}
		if s.SecretID == "" || s.SecretKey == "" {
			return s, fmt.Errorf("%w: TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY must both be set", ErrNoCredentials)
		}
		return s, nil
	case config.CredFile:
		return ReadFile(c.Path)
	case config.CredSystemd:
		dir := c.Path
		if d := getenv("CREDENTIALS_DIRECTORY"); d != "" {
			dir = d
		}
		return ReadDir(dir)
	case config.CredProfile:
		return readProfile(getenv("HOME"), c.Profile)
	case config.CredCVMRole:
		return Credential{}, fmt.Errorf("cvm-role credentials come from the instance metadata service at run time: %w", errors.ErrUnsupported)
	}
	return Credential{}, fmt.Errorf("unknown credentials kind %q", c.Kind)
}

// ReadFile reads a KEY=VALUE file (systemd EnvironmentFile
// style; # comments, optional quotes) with TENCENTCLOUD_SECRET_ID and
// TENCENTCLOUD_SECRET_KEY (or secret_id / secret_key), and optionally
// TENCENTCLOUD_SESSION_TOKEN (or token).
func ReadFile(p string) (Credential, error) {
	f, err := os.Open(p)
	if err != nil {
		return Credential{}, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	var s Credential
	sc := bufio.NewScanner(io.LimitReader(f, 1<<16))
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			return Credential{}, fmt.Errorf("credentials file %s:%d: want KEY=VALUE", p, ln)
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "tencentcloud_secret_id", "secret_id":
			s.SecretID = v
		case "tencentcloud_secret_key", "secret_key":
			s.SecretKey = v
		case "tencentcloud_session_token", "token":
			s.Token = v
		default:
			// The key is not echoed: a line that is a pasted secret ending in
			// base64 padding ("abc...==") parses as an unknown key, and no
			// error may carry a value from this file. The line number names it.
			return Credential{}, fmt.Errorf("credentials file %s:%d: unknown key; want TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY or TENCENTCLOUD_SESSION_TOKEN", p, ln)
		}
	}
	if err := sc.Err(); err != nil {
		return Credential{}, fmt.Errorf("credentials file %s: %w", p, err)
	}
	if s.SecretID == "" || s.SecretKey == "" {
		return s, fmt.Errorf("%w: credentials file %s needs TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY", ErrNoCredentials, p)
	}
	return s, nil
}

// ReadDir reads the systemd credential layout: one value per file,
// secret_id and secret_key (and optionally token), in dir. Under the unit
// dir is $CREDENTIALS_DIRECTORY (the copies LoadCredential= makes); outside
// it (check, upload), the folder those copies are made from.
func ReadDir(dir string) (Credential, error) {
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
		return Credential{}, fmt.Errorf("systemd credential secret_id: %w", err)
	}
	key, err := read("secret_key")
	if err != nil {
		return Credential{}, fmt.Errorf("systemd credential secret_key: %w", err)
	}
	token, err := read("token")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Credential{}, fmt.Errorf("systemd credential token: %w", err)
	}
	if id == "" || key == "" {
		return Credential{}, fmt.Errorf("%w: %s/secret_id and %s/secret_key must both hold a value", ErrNoCredentials, dir, dir)
	}
	return Credential{SecretID: id, SecretKey: key, Token: token}, nil
}

// ProfilePath is where tccli keeps a profile's credentials.
func ProfilePath(home, profile string) string {
	return filepath.Join(home, ".tccli", profile+".credential")
}

func readProfile(home, profile string) (Credential, error) {
	if home == "" {
		return Credential{}, fmt.Errorf("%w: HOME is not set, cannot find the tccli profile %q", ErrNoCredentials, profile)
	}
	p := ProfilePath(home, profile)
	b, err := os.ReadFile(p)
	if err != nil {
		return Credential{}, fmt.Errorf("tccli profile: %w", err)
	}
	var v struct {
		SecretID  string `json:"secretId"`
		SecretKey string `json:"secretKey"`
		Token     string `json:"token"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Credential{}, fmt.Errorf("tccli profile %s: not JSON with secretId/secretKey", p)
	}
	if v.SecretID == "" || v.SecretKey == "" {
		return Credential{}, fmt.Errorf("%w: tccli profile %s has no secretId/secretKey", ErrNoCredentials, p)
	}
	return Credential{SecretID: v.SecretID, SecretKey: v.SecretKey, Token: v.Token}, nil
}
