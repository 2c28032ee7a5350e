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

// UpdateSidecar rewrites the sidecar at p with res (atomically, with the
// mode o asks for). A sidecar that is not there (never written, or removed
// since) stays absent.
func UpdateSidecar(p string, res Result, o Options) error {
	if p == "" {
		return nil
	}
	if _, err := os.Lstat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("sidecar %s: %w", p, err)
	}
	return writeSidecar(p, res, o)
}
