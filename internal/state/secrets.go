package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

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
// under "<state>.secrets/", written atomically (a temporary file renamed
// over it). The job must exist. The bbolt file never holds it.
//
// The file is not fsynced: a certificate only lets an interrupted session
// resume, and one lost with the page cache (a power cut, never a crash of
// the process) or read back torn makes the job apply for a new session,
// which is always safe. The job record that must be durable before the
// upload (its session key, stage applied) is written to bbolt after this.
func (s *Store) PutSecret(ctx context.Context, id string, data []byte) error {
	p, err := s.secretPath(id)
	if err != nil {
		return err
	}
	if s.opts.ReadOnly {
		return storageErr(p, "store secret", ErrReadOnly)
	}
	if err := s.read(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bJobs).Get([]byte(id)) == nil {
			return fmt.Errorf("job %s: %w", id, ErrNotFound)
		}
		return nil
	}); err != nil {
		return err
	}
	s.mu.Lock()
	s.secrets[id] = struct{}{} // before the file: DeleteSecret never misses one
	s.mu.Unlock()
	err = writeAtomic(p, id, data)
	if errors.Is(err, fs.ErrNotExist) {
		// The folder went away under the running daemon: make it again.
		if err := s.ensureSecretsDir(); err != nil {
			return err
		}
		err = writeAtomic(p, id, data)
	}
	if err != nil {
		return storageErr(p, "store secret", err)
	}
	return nil
}

// writeAtomic writes data to p through ".tmp-<id>" beside it: the job's
// own temporary name, since one job's certificate is written by one
// worker at a time (sweepSecrets removes one a crash left).
func writeAtomic(p, id string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(p), ".tmp-"+id)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
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
	s.mu.Lock()
	_, had := s.secrets[id]
	s.mu.Unlock()
	if !had {
		return nil // most jobs never had a certificate file
	}
	// One unlink (os.Remove tries rmdir after it fails).
	if err := syscall.Unlink(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete secret of job %s: %w", id, &fs.PathError{Op: "unlink", Path: p, Err: err})
	}
	s.mu.Lock()
	delete(s.secrets, id)
	s.mu.Unlock()
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
			s.mu.Lock()
			s.secrets[name] = struct{}{}
			s.mu.Unlock()
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
