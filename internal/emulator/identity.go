package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// identityFile keeps the default account's generated keys and APPID in the
// data folder, so that an emulator restarted on the same folder (for
// example by `vodwatchd run --emulator`) keeps them: sessions applied
// before the restart can still be committed, and clients keep working.
const identityFile = "account.json"

type identity struct {
	SecretID  string `json:"secret_id"`
	SecretKey string `json:"secret_key"`
	AppID     uint64 `json:"app_id"`
}

// withIdentity fills the default account's SecretId/SecretKey (when both
// are empty) and AppID (when zero) from the data folder, generating and
// storing them the first time. Keys given in cfg are used as given and
// are not stored.
func withIdentity(cfg Config) (Config, error) {
	if cfg.DataDir == "" {
		return cfg, errors.New("emulator: DataDir is required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return cfg, fmt.Errorf("emulator: data dir: %w", err)
	}
	path := filepath.Join(cfg.DataDir, identityFile)
	id, err := readIdentity(path)
	if err != nil {
		return cfg, err
	}
	stored := id
	if cfg.SecretID == "" && cfg.SecretKey == "" {
		if id.SecretID == "" || id.SecretKey == "" {
			id.SecretID, id.SecretKey = "AKID"+randomString(32, alnum), randomString(32, alnum)
		}
		cfg.SecretID, cfg.SecretKey = id.SecretID, id.SecretKey
	}
	if cfg.AppID == 0 {
		if id.AppID == 0 {
			id.AppID = defaultAppID
		}
		cfg.AppID = id.AppID
	}
	if id != stored {
		if err := writeIdentity(path, id); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

func readIdentity(path string) (identity, error) {
	var id identity
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return id, nil
	}
	if err != nil {
		return id, fmt.Errorf("emulator: %w", err)
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return id, fmt.Errorf("emulator: %s is not the emulator's account file (delete it to get new keys): %w", path, err)
	}
	return id, nil
}

// writeIdentity replaces the file atomically (temporary file, fsync, rename).
func writeIdentity(path string, id identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), identityFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("emulator: saving the account: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("emulator: saving the account in %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("emulator: saving the account in %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("emulator: saving the account in %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("emulator: saving the account: %w", err)
	}
	return nil
}
