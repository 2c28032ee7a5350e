// Package postaction does what a rule asks for once a job is durably done or
// finally failed: keep, move or delete the files, write result sidecars, and
// quarantine failures. Every step is idempotent, so it can be retried after a
// crash, and a name collision never overwrites anything.
package postaction

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/realpath"
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
	// Planned is the move plan recorded by an earlier attempt (rel ->
	// destination), nil on the first; Record stores a new plan durably
	// before any file moves (nil: not recorded).
	Planned map[string]string
	Record  func(map[string]string) error
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

// Outcome is where a done job's files ended up.
type Outcome struct {
	Main    string            // absolute path of the main file now ("" when deleted)
	Sidecar string            // absolute path of the result sidecar written ("" when none)
	Moved   map[string]string // move: every file's rel path -> absolute destination
}

// Done applies spec to a job's files after its upload was recorded. A
// moved file keeps its path relative to the root below spec.To, under a
// free name when that is taken; the sidecar follows the main file's final
// name.
func Done(ctx context.Context, files Files, spec Spec, res Result) (Outcome, error) {
	switch spec.Action {
	case "", Keep:
		main := filepath.Join(files.Root, filepath.FromSlash(files.Main))
		out := Outcome{Main: main}
		if spec.Sidecar {
			car, err := writeResult(main, res, spec.Options)
			out.Sidecar = car
			return out, err
		}
		return out, nil
	case Move:
		if spec.To == "" {
			return Outcome{}, errors.New("post-action move: no destination folder")
		}
		moved, err := moveAll(ctx, files, spec.To, spec.Planned, spec.Record, spec.Options)
		if err != nil {
			return Outcome{}, err
		}
		out := Outcome{Main: moved[files.Main], Moved: moved}
		if spec.Sidecar {
			out.Sidecar, err = writeResult(out.Main, res, spec.Options)
		}
		return out, err
	case Delete:
		var out Outcome
		if spec.Sidecar {
			car, err := writeResult(filepath.Join(files.Root, filepath.FromSlash(files.Main)), res, spec.Options)
			if err != nil {
				return out, err
			}
			out.Sidecar = car
		}
		return out, deleteAll(files, spec.Options)
	default:
		return Outcome{}, fmt.Errorf("post-action: unknown action %q", spec.Action)
	}
}

// Quarantine moves a failed job's files to dir (keeping their relative
// paths) and writes <name>.error.json beside the main file.
func Quarantine(ctx context.Context, files Files, dir string, f Failure, o Options) error {
	if dir == "" {
		return errors.New("quarantine: no folder")
	}
	moved, err := moveAll(ctx, files, dir, nil, nil, o)
	if err != nil {
		return err
	}
	main := moved[files.Main]
	_, err = writeSidecar(filepath.Join(filepath.Dir(main), sidecarName(filepath.Base(main), "", errorSuffix)), f, o)
	return err
}

// moveAll moves every file of a job below dst. The plan (rel -> final
// destination) is made once, recorded by record before anything moves, and
// followed by every later attempt: a destination found holding the same
// bytes as its source is the copy an interrupted attempt made.
func moveAll(ctx context.Context, files Files, dst string, planned map[string]string, record func(map[string]string) error, o Options) (map[string]string, error) {
	if err := refuseInsideRoot(dst, files.Root); err != nil {
		return nil, err
	}
	plan, err := makePlan(files, dst, planned)
	if err != nil {
		return nil, err
	}
	if record != nil && !samePlan(plan, planned) {
		if err := record(plan); err != nil {
			return nil, fmt.Errorf("recording the move plan: %w", err)
		}
	}
	for _, rel := range files.all() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		src := filepath.Join(files.Root, filepath.FromSlash(rel))
		if err := moveFile(src, plan[rel], o); err != nil {
			return nil, fmt.Errorf("move %s to %s: %w", src, plan[rel], err)
		}
	}
	if o.PruneEmpty {
		removeEmptyDirs(files)
	}
	return plan, nil
}

// refuseInsideRoot refuses a destination that really lies inside the watch
// root (through a symlink made after the configuration was checked): the
// moved files would be taken again, endlessly.
func refuseInsideRoot(dst, root string) error {
	if realpath.Within(realpath.Existing(dst), realpath.Existing(root)) {
		return fmt.Errorf("destination %s lies inside the watch root %s (through a symlink?): refused, the files would be taken again", dst, root)
	}
	return nil
}

// makePlan keeps the planned destination of every file whose destination is
// still free or already holds it, and gives the others a free name.
func makePlan(files Files, dst string, planned map[string]string) (map[string]string, error) {
	plan := make(map[string]string, len(files.all()))
	taken := map[string]bool{}
	for _, rel := range files.all() {
		src := filepath.Join(files.Root, filepath.FromSlash(rel))
		if to, ok := planned[rel]; ok && usable(src, to) {
			plan[rel], taken[to] = to, true
			continue
		}
		want := filepath.Join(dst, filepath.FromSlash(rel))
		if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
			plan[rel] = want // moved by an attempt that recorded no plan
			continue
		}
		to, err := freeName(want, taken)
		if err != nil {
			return nil, err
		}
		plan[rel], taken[to] = to, true
	}
	return plan, nil
}

// usable reports whether the planned destination to may still receive src:
// it is free, or it holds src's bytes already (or src is gone, moved there).
func usable(src, to string) bool {
	if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return true
	}
	same, _ := sameContent(src, to)
	return same
}

func samePlan(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// moveFile renames src to its planned destination dst, or copies and
// removes it across devices. When dst already holds src's bytes (a copy
// finished before a crash), only src is removed; when src is gone and dst
// exists, the move already happened. An existing different dst is never
// overwritten.
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
	os.Remove(partialName(dst)) // left by an interrupted copy
	if same, err := sameContent(src, dst); err != nil {
		return err
	} else if same {
		return os.Remove(src) // the copy of an interrupted attempt
	}
	if err := mkdirs(filepath.Dir(dst), o); err != nil {
		return err
	}
	err = renameNoReplace(src, dst)
	if isCrossDevice(err) {
		return copyThenRemove(src, dst, si)
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s was taken by another file meanwhile; the next attempt picks another name: %w", dst, err)
	}
	return err
}

// sameContent reports whether b exists and holds the bytes of a (same
// file, or same size and content).
func sameContent(a, b string) (bool, error) {
	bi, err := os.Stat(b)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ai, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	if os.SameFile(ai, bi) {
		return true, nil
	}
	if !bi.Mode().IsRegular() || ai.Size() != bi.Size() {
		return false, nil
	}
	return equalFiles(a, b)
}

func equalFiles(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 256<<10), make([]byte, 256<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == io.EOF || eb == io.ErrUnexpectedEOF, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}

// freeName returns dst, or dst with " (N)" before its extension when dst
// already exists.
func freeName(dst string, taken map[string]bool) (string, error) {
	ext := path.Ext(dst)
	stem := strings.TrimSuffix(dst, ext)
	for i := 0; i < 10000; i++ {
		cand := dst
		if i > 0 {
			cand = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		if taken[cand] {
			continue
		}
		if _, err := os.Lstat(cand); errors.Is(err, fs.ErrNotExist) {
			return cand, nil
		} else if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for %s", dst)
}

// partialName names the copy of dst while it is made across devices: a
// hidden file beside it (ignored by the watcher), short whatever dst's name
// is, and the same on every attempt, so an interrupted one is found.
func partialName(dst string) string {
	sum := sha256.Sum256([]byte(filepath.Base(dst)))
	return filepath.Join(filepath.Dir(dst), ".vodwatchd-partial-"+hex.EncodeToString(sum[:8]))
}

func copyThenRemove(src, dst string, si os.FileInfo) error {
	tmp := partialName(dst)
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
