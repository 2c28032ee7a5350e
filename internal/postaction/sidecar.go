package postaction

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/vodwatchd/vodwatchd/internal/vodoutput"
)

// The names of the sidecars: <media name>.vod.json for a result,
// <media name>.error.json for a quarantined failure.
const (
	ResultSuffix = ".vod.json"
	errorSuffix  = ".error.json"
	// maxNameBytes is the longest file name Linux file systems take.
	maxNameBytes = 255
	// maxSidecarBytes bounds what IsResultSidecar reads.
	maxSidecarBytes = 64 << 10
)

// sidecarName is the sidecar name of media file base: base+tag+suffix, or,
// when that is longer than a file name may be, base shortened (on a rune
// boundary) and marked with a hash of the whole name, so that two long
// names never share a sidecar. The sidecar records the media's path.
func sidecarName(base, tag, suffix string) string {
	if n := base + tag + suffix; len(n) <= maxNameBytes {
		return n
	}
	sum := sha256.Sum256([]byte(base))
	mark := "~" + hex.EncodeToString(sum[:4])
	keep := maxNameBytes - len(mark) - len(tag) - len(suffix)
	for keep > 0 && !utf8.RuneStart(base[keep]) {
		keep--
	}
	return base[:keep] + mark + tag + suffix
}

// writeResult writes res as the sidecar of media file main (absolute) and
// returns its path. A sidecar name already taken by a file that is not
// this media's result sidecar (a user's own file, or another's) is never
// overwritten: ours takes the first free "<name> (N).vod.json".
func writeResult(main string, res Result, o Options) (string, error) {
	dir, base := filepath.Split(main)
	for i := 0; i < 1000; i++ {
		tag := ""
		if i > 0 {
			tag = fmt.Sprintf(" (%d)", i)
		}
		p := filepath.Join(dir, sidecarName(base, tag, ResultSuffix))
		if _, err := os.Lstat(p); err == nil {
			if prev, ok := readResult(p); !ok || prev.Path != res.Path {
				continue
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("sidecar %s: %w", p, err)
		}
		return writeSidecar(p, res, o)
	}
	return "", fmt.Errorf("sidecar of %s: no free name", main)
}

// IsResultSidecar reports whether the file at p is a result sidecar this
// program wrote (whatever its name).
func IsResultSidecar(p string) bool {
	_, ok := readResult(p)
	return ok
}

func readResult(p string) (Result, bool) {
	f, err := os.Open(p)
	if err != nil {
		return Result{}, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSidecarBytes+1))
	var r Result
	if err != nil || len(b) > maxSidecarBytes || json.Unmarshal(b, &r) != nil {
		return Result{}, false
	}
	return r, r.FileID != "" && r.MediaURL != "" && r.Path != ""
}

// writeSidecar writes v as indented JSON to p atomically and returns p. The
// file is 0644 less the umask, or exactly 0640 with GroupReadable.
func writeSidecar(p string, v any, o Options) (string, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", err
	}
	if err := mkdirs(filepath.Dir(p), o); err != nil {
		return "", fmt.Errorf("sidecar %s: %w", p, err)
	}
	tmp, err := createTemp(filepath.Dir(p))
	if err != nil {
		return "", fmt.Errorf("sidecar %s: %w", p, err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil && o.GroupReadable {
		werr = os.Chmod(tmp.Name(), groupFileMode)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), p)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("sidecar %s: %w", p, werr)
	}
	return p, nil
}

// createTemp creates a new file in dir with mode 0644 less the umask (not
// os.CreateTemp's 0600, which would make every sidecar private).
func createTemp(dir string) (*os.File, error) {
	for i := 0; ; i++ {
		name := filepath.Join(dir, fmt.Sprintf(".vodwatchd-sidecar-%d-%d.tmp", os.Getpid(), time.Now().UnixNano()+int64(i)))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		return f, err
	}
}

// Playable is what a sidecar says about the media after the upload: the
// procedure's stage, progress, outputs or error.
type Playable struct {
	Stage    string             `json:"Stage,omitempty"` // done | processing | ready | processing_failed
	TaskID   string             `json:"TaskId,omitempty"`
	Progress int                `json:"Progress,omitempty"`
	Outputs  *vodoutput.Outputs `json:"Outputs,omitempty"`
	Error    string             `json:"Error,omitempty"`
}

// UpdateSidecar rewrites the sidecar at p with res (atomically). A sidecar
// that is not there (never written, or removed since) stays absent.
func UpdateSidecar(p string, res Result) error {
	if p == "" {
		return nil
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("sidecar %s: %w", p, err)
	}
	// The rewrite keeps the mode the first write chose (group_readable).
	_, err = writeSidecar(p, res, Options{GroupReadable: fi.Mode().Perm()&0o040 != 0})
	return err
}
