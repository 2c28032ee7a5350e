package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"

	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// credentialSource resolves the configured credentials every time the
// uploader asks, so rotated keys (files, environment of a reloaded unit,
// systemd credentials) are used without a restart.
type credentialSource struct {
	cfg    config.Credentials
	getenv func(string) string
}

// Credential implements uploader.Credentials.
func (c credentialSource) Credential(ctx context.Context) (uploader.Credential, error) {
	if dir := c.getenv("CREDENTIALS_DIRECTORY"); dir != "" && c.cfg.Kind != config.CredInline {
		if cr, ok, err := systemdCredentials(dir); ok || err != nil {
			return cr, err
		}
	}
	s, err := c.cfg.Resolve(c.getenv)
	if err != nil {
		return uploader.Credential{}, fmt.Errorf("credentials (%s): %w", c.cfg.Kind, err)
	}
	return uploader.Credential{SecretID: s.SecretID, SecretKey: s.SecretKey.Reveal(), Token: s.Token.Reveal()}, nil
}

// systemdCredentials reads secret_id, secret_key (and token) that the unit's
// LoadCredential= put in $CREDENTIALS_DIRECTORY.
func systemdCredentials(dir string) (uploader.Credential, bool, error) {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		return strings.TrimSpace(string(b)), err
	}
	id, err := read("secret_id")
	if errors.Is(err, os.ErrNotExist) {
		return uploader.Credential{}, false, nil
	}
	if err != nil {
		return uploader.Credential{}, true, fmt.Errorf("systemd credential secret_id: %w", err)
	}
	key, err := read("secret_key")
	if err != nil {
		return uploader.Credential{}, true, fmt.Errorf("systemd credential secret_key: %w", err)
	}
	token, _ := read("token")
	return uploader.Credential{SecretID: id, SecretKey: key, Token: token}, true, nil
}

// uploaderCredentials maps the configuration to the uploader's provider.
func uploaderCredentials(c config.Credentials, getenv func(string) string) uploader.Credentials {
	if c.Kind == config.CredCVMRole {
		return uploader.ProviderCredentials(common.DefaultCvmRoleProvider())
	}
	return credentialSource{cfg: c, getenv: getenv}
}
