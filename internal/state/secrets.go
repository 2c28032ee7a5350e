package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// validSecretID accepts only job ids (16 lowercase hex digits), so a secret
// path can never leave the secrets folder.
func validSecretID(id string) bool {
	if len(id) != 16 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (s *Store) secretPath(id string) (string, error) {
	if !validSecretID(id) {
		return "", fmt.Errorf("secret for %q: %w", id, ErrInvalidSecret)
	}
	return filepath.Join(s.secretsDir, id), nil
}

// ensureSecretsDir creates the secrets folder 0700, or tightens it.
func (s *Store) ensureSecretsDir() error {
	if err := os.Mkdir(s.secretsDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return storageErr(s.secretsDir, "create secrets folder", err)
	}
	fi, err := os.Lstat(s.secretsDir)
	if err != nil {
		return fmt.Errorf("secrets folder %s: %w", s.secretsDir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("secrets folder %s is not a directory", s.secretsDir)
	}
	if fi.Mode().Perm() != 0o700 {
		s.log.Warn("secrets folder mode was not 0700; fixing", "path", s.secretsDir, "mode", fi.Mode().Perm().String())
		if err := os.Chmod(s.secretsDir, 0o700); err != nil {
			return storageErr(s.secretsDir, "tighten secrets folder", err)
		}
	}
	return nil
}

// PutSecret stores a job's temporary certificate in its own 0600 file
// under "<state>.secrets/", written atomically. The job must exist. The
// bbolt file never holds it.
func (s *Store) PutSecret(ctx context.Context, id string, data []byte) error {
	p, err := s.secretPath(id)
	if err != nil {
		return err
	}
	if s.opts.ReadOnly {
		return storageErr(p, "store secret", ErrReadOnly)
	}
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	if err := s.ensureSecretsDir(); err != nil {
		return err
	}
	return writeAtomic(p, data)
}

func writeAtomic(p string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return storageErr(p, "store secret", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		return storageErr(p, "store secret", err)
	}
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// Secret returns a job's temporary certificate; ok is false when none is
// stored (the session must then be applied for again).
func (s *Store) Secret(ctx context.Context, id string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	p, err := s.secretPath(id)
	if err != nil {
		return nil, false, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read secret of job %s: %w", id, err)
	}
	return b, true, nil
}

// DeleteSecret removes a job's temporary certificate (no error if none).
func (s *Store) DeleteSecret(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.secretPath(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete secret of job %s: %w", id, err)
	}
	return nil
}

// sweepSecrets removes temp files and certificates of jobs that are gone
// or no longer in flight (left by a crash between the two writes).
func (s *Store) sweepSecrets() error {
	if err := s.ensureSecretsDir(); err != nil {
		return err
	}
	entries, err := os.ReadDir(s.secretsDir)
	if err != nil {
		return fmt.Errorf("secrets folder %s: %w", s.secretsDir, err)
	}
	for _, e := range entries {
		name := e.Name()
		keep := false
		if validSecretID(name) {
			_ = s.db.View(func(tx *bolt.Tx) error {
				j, err := getJob(tx, name)
				keep = err == nil && j.Stage.InFlight()
				return nil
			})
		}
		if keep {
			continue
		}
		if strings.HasPrefix(name, ".tmp-") || validSecretID(name) {
			if err := os.Remove(filepath.Join(s.secretsDir, name)); err != nil {
				s.log.Warn("cannot remove stale secret file", "path", filepath.Join(s.secretsDir, name), "err", err)
			}
		}
	}
	return nil
}
