// Package postaction does what a rule asks for once a job is durably done or
// finally failed: keep, move or delete the files, write result sidecars, and
// quarantine failures. Every step is idempotent, so it can be retried after a
// crash, and a name collision never overwrites anything.
package postaction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Action is what happens to the originals after a successful upload.
type Action string

// The post-actions a rule can choose.
const (
	Keep   Action = "keep"
	Move   Action = "move"
	Delete Action = "delete"
)

// Spec is a rule's post-action.
type Spec struct {
	Action  Action
	To      string // destination folder for Move
	Sidecar bool   // write <name>.vod.json
	Options
}

// Options shape what a post-action leaves behind.
type Options struct {
	// PruneEmpty removes the folders under the watch root that moved or
	// deleted files leave empty (never the root itself).
	PruneEmpty bool
	// GroupReadable sets sidecars to 0640 and the folders created for them
	// or for moved files to 0750, whatever the process umask. Otherwise
	// they get 0644/0755 less the umask. Moved files keep their own mode.
	GroupReadable bool
}

// The modes of GroupReadable.
const (
	groupFileMode fs.FileMode = 0o640
	groupDirMode  fs.FileMode = 0o750
)

// Files names a job's files under its watch root. Main is the media file or
// the top manifest; Extra are the cover and the bundle's referenced files.
type Files struct {
	Root  string
	Main  string   // slash path relative to Root
	Extra []string // slash paths relative to Root
}

func (f Files) all() []string { return append([]string{f.Main}, f.Extra...) }

// Result is what a done sidecar records.
type Result struct {
	FileID     string    `json:"FileId"`
	MediaURL   string    `json:"MediaUrl"`
	CoverURL   string    `json:"CoverUrl,omitempty"`
	RequestID  string    `json:"RequestId,omitempty"`
	Path       string    `json:"Path"`
	UploadedAt time.Time `json:"UploadedAt"`
	Playable             // after done: processing, ready or processing_failed (sidecar.go)
}

// Failure is what a quarantine sidecar records.
type Failure struct {
	Path      string    `json:"Path"`
	Code      string    `json:"Code"`
	Message   string    `json:"Message"`
	RequestID string    `json:"RequestId,omitempty"`
	Attempts  int       `json:"Attempts"`
	FailedAt  time.Time `json:"FailedAt"`
}

// Done applies spec to a job's files after its upload was recorded. It
// returns the folder the main file now lives in relative paths of (the watch
// root for Keep and Delete, spec.To for Move).
func Done(ctx context.Context, files Files, spec Spec, res Result) (string, error) {
	switch spec.Action {
	case "", Keep:
		if spec.Sidecar {
			return files.Root, writeSidecar(filepath.Join(files.Root, filepath.FromSlash(files.Main))+".vod.json", res, spec.Options)
		}
		return files.Root, nil
	case Move:
		if spec.To == "" {
			return "", errors.New("post-action move: no destination folder")
		}
		if spec.Sidecar {
			if err := writeSidecar(filepath.Join(spec.To, filepath.FromSlash(files.Main))+".vod.json", res, spec.Options); err != nil {
				return "", err
			}
		}
		return spec.To, moveAll(ctx, files, spec.To, spec.Options)
	case Delete:
		if spec.Sidecar {
			if err := writeSidecar(filepath.Join(files.Root, filepath.FromSlash(files.Main))+".vod.json", res, spec.Options); err != nil {
				return "", err
			}
		}
		return files.Root, deleteAll(files, spec.Options)
	default:
		return "", fmt.Errorf("post-action: unknown action %q", spec.Action)
	}
}

// Quarantine moves a failed job's files to dir (keeping their relative
// paths) and writes <name>.error.json beside the main file.
func Quarantine(ctx context.Context, files Files, dir string, f Failure, o Options) error {
	if dir == "" {
		return errors.New("quarantine: no folder")
	}
	if err := writeSidecar(filepath.Join(dir, filepath.FromSlash(files.Main))+".error.json", f, o); err != nil {
		return err
	}
	return moveAll(ctx, files, dir, o)
}

func moveAll(ctx context.Context, files Files, dst string, o Options) error {
	for _, rel := range files.all() {
		if err := ctx.Err(); err != nil {
			return err
		}
		src := filepath.Join(files.Root, filepath.FromSlash(rel))
		to := filepath.Join(dst, filepath.FromSlash(rel))
		if err := moveFile(src, to, o); err != nil {
			return fmt.Errorf("move %s to %s: %w", src, dst, err)
		}
	}
	if o.PruneEmpty {
		removeEmptyDirs(files)
	}
	return nil
}

// moveFile renames src to dst, or copies and removes it across devices.
// When src is gone and dst holds a file, the move already happened.
// An existing different dst is never overwritten: the file gets a free name.
func moveFile(src, dst string, o Options) error {
	si, err := os.Lstat(src)
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := os.Lstat(dst); derr == nil {
			return nil // done by an earlier attempt
		}
		return fmt.Errorf("source vanished: %w", err)
	}
	if err != nil {
		return err
	}
	if !si.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	if err := mkdirs(filepath.Dir(dst), o); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		to, err := freeName(dst)
		if err != nil {
			return err
		}
		err = renameNoReplace(src, to)
		switch {
		case err == nil:
			return nil
		case isCrossDevice(err):
			return copyThenRemove(src, to, si)
		case errors.Is(err, fs.ErrExist) && attempt < 3:
			continue // another writer took the name meanwhile
		default:
			return err
		}
	}
}

// freeName returns dst, or dst with " (N)" before its extension when dst
// already exists.
func freeName(dst string) (string, error) {
	ext := path.Ext(dst)
	stem := strings.TrimSuffix(dst, ext)
	for i := 0; i < 10000; i++ {
		cand := dst
		if i > 0 {
			cand = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		if _, err := os.Lstat(cand); errors.Is(err, fs.ErrNotExist) {
			return cand, nil
		} else if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for %s", dst)
}

func copyThenRemove(src, dst string, si os.FileInfo) error {
	tmp := dst + ".vodwatchd-partial"
	if err := copyFile(src, tmp, si.Mode().Perm()); err != nil {
		os.Remove(tmp)
		return err
	}
	ti, err := os.Stat(tmp)
	if err != nil || ti.Size() != si.Size() {
		os.Remove(tmp)
		return fmt.Errorf("copy of %s is incomplete", src)
	}
	if err := renameNoReplace(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(src)
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func deleteAll(files Files, o Options) error {
	for _, rel := range files.all() {
		p := filepath.Join(files.Root, filepath.FromSlash(rel))
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", p, err)
		}
	}
	if o.PruneEmpty {
		removeEmptyDirs(files)
	}
	return nil
}

// removeEmptyDirs removes the folders a bundle's files lived in when they
// are empty now, never the watch root itself.
func removeEmptyDirs(files Files) {
	seen := map[string]bool{}
	for _, rel := range files.all() {
		for d := path.Dir(rel); d != "." && d != "/" && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			if os.Remove(filepath.Join(files.Root, filepath.FromSlash(d))) != nil {
				break
			}
		}
	}
}

// mkdirs creates dir and its missing parents: 0755 less the umask, or
// exactly 0750 with GroupReadable. Existing folders are left as they are.
func mkdirs(dir string, o Options) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || !errors.Is(err, fs.ErrNotExist) || filepath.Dir(d) == d {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		err := os.Mkdir(d, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue // made meanwhile by someone else: not ours to change
		}
		if err != nil {
			return err
		}
		if o.GroupReadable {
			if err := os.Chmod(d, groupDirMode); err != nil {
				return fmt.Errorf("folder %s: %w", d, err)
			}
		}
	}
	return os.MkdirAll(dir, 0o755) // reports a file in the way
}

// writeSidecar writes v as indented JSON to p atomically.
func writeSidecar(p string, v any, o Options) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := mkdirs(filepath.Dir(p), o); err != nil {
		return fmt.Errorf("sidecar %s: %w", p, err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("sidecar %s: %w", p, err)
	}
	if o.GroupReadable {
		if err := os.Chmod(tmp, groupFileMode); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("sidecar %s: %w", p, err)
		}
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sidecar %s: %w", p, err)
	}
	return nil
}
