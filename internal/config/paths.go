package config

import (
	"fmt"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/realpath"
)

// forms returns a path as written and with symlinks resolved in every
// ancestor that exists (a folder still to be created below a symlink is
// where that symlink leads).
func forms(p string) []string {
	out := []string{p}
	if r := realpath.Existing(p); r != p {
		out = append(out, r)
	}
	return out
}

// overlaps reports whether a is inside b under any form of either.
func overlaps(a, b string) bool {
	for _, x := range forms(a) {
		for _, y := range forms(b) {
			if realpath.Within(x, y) {
				return true
			}
		}
	}
	return false
}

// checkPaths refuses watch roots that overlap each other, destination
// folders that overlap watch roots, and our own files inside watch roots.
func (d *decoder) checkPaths(cfg *Config) {
	for i, w := range cfg.Watch {
		field := fmt.Sprintf("watch[%d].path", i)
		for j := 0; j < i; j++ {
			o := cfg.Watch[j]
			switch {
			case w.Path == o.Path:
				d.errAt(w.Pos, field, "duplicate watch path %s (also watch[%d])", w.Path, j)
			case overlaps(w.Path, o.Path):
				d.errAt(w.Pos, field, "%s is inside watch[%d].path %s: files would be uploaded twice", w.Path, j, o.Path)
			case overlaps(o.Path, w.Path):
				d.errAt(w.Pos, field, "%s contains watch[%d].path %s: files would be uploaded twice", w.Path, j, o.Path)
			}
		}
		if overlaps(cfg.State, w.Path) {
			d.errAt(w.Pos, field, "the state file %s is inside this watch root", cfg.State)
		}
		if c := cfg.VOD.Credentials; c.Kind == CredFile && overlaps(c.Path, w.Path) {
			d.errAt(w.Pos, field, "the credentials file %s is inside this watch root", c.Path)
		}
	}
	for _, w := range cfg.Watch {
		for _, r := range w.Rules {
			if r.After.Action == AfterMove {
				d.checkDest(cfg, r.After.To, r.After.pos, r.Field+".after.to", "done")
			}
			if r.Quarantine.To != "" {
				d.checkDest(cfg, r.Quarantine.To, r.Quarantine.pos, r.Field+".quarantine.to", "quarantine")
			}
		}
	}
}

func (d *decoder) checkDest(cfg *Config, dest string, pos Pos, field, what string) {
	for k, w := range cfg.Watch {
		switch {
		case overlaps(dest, w.Path):
			d.errAt(pos, field, "%s folder %s is inside watch[%d].path %s: moved files would be taken again", what, dest, k, w.Path)
		case overlaps(w.Path, dest):
			d.errAt(pos, field, "watch[%d].path %s is inside the %s folder %s", k, w.Path, what, dest)
		}
	}
}

func (d *decoder) errAt(p Pos, field, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Pos: p, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) warnAt(p Pos, field, format string, args ...any) {
	e := FieldError{Pos: p, Field: field, Msg: fmt.Sprintf(format, args...)}
	d.warnings = append(d.warnings, e.Error())
}

// checkWarnings notes settings that cannot be meant: an expire_time in
// the past is an error (every upload would be refused).
func (d *decoder) checkWarnings(cfg *Config) {
	now := time.Now()
	for i, w := range cfg.Watch {
		if w.Mode == ModePoll && !hasReadyMarker(w) {
			d.warnAt(w.Pos, fmt.Sprintf("watch[%d].mode", i), "a poll-mode watch (network filesystem) cannot see whether a writer still holds a file open: "+
				"a writer that pauses longer than settle gets a partial file uploaded; ready_marker is the only safe choice for such writers")
		}
		for _, r := range w.Rules {
			if !r.ExpireTime.IsZero() && r.ExpireTime.Before(now) {
				d.errAt(r.Pos, r.Field+".expire_time", "%s is in the past: VOD would refuse every upload (InvalidParameterValue.ExpireTime)", r.ExpireTime.Format(time.RFC3339))
			}
		}
	}
}

// hasReadyMarker reports whether every rule of w waits for a ready marker.
func hasReadyMarker(w Watch) bool {
	for _, r := range w.Rules {
		if r.ReadyMarker == nil {
			return false
		}
	}
	return len(w.Rules) > 0
}
