package postaction

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vodwatchd/vodwatchd/internal/vodoutput"
)

// Playable is what a sidecar says about the media after the upload: the
// procedure's stage, progress, outputs or error.
type Playable struct {
	Stage    string             `json:"Stage,omitempty"` // done | processing | ready | processing_failed
	TaskID   string             `json:"TaskId,omitempty"`
	Progress int                `json:"Progress,omitempty"`
	Outputs  *vodoutput.Outputs `json:"Outputs,omitempty"`
	Error    string             `json:"Error,omitempty"`
}

// SidecarPath is where Done writes the sidecar of files under spec ("" when
// spec writes none).
func SidecarPath(files Files, spec Spec) string {
	if !spec.Sidecar {
		return ""
	}
	dir := files.Root
	if spec.Action == Move {
		dir = spec.To
	}
	return filepath.Join(dir, filepath.FromSlash(files.Main)) + ".vod.json"
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
	return writeSidecar(p, res, Options{GroupReadable: fi.Mode().Perm()&0o040 != 0})
}
