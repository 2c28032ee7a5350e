package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/vodwatchd/vodwatchd/internal/config"
)

// identity is a user as the kernel checks file access: uid and every gid.
type identity struct {
	name string
	uid  uint32
	gids map[uint32]bool
}

// lookupIdentity resolves a user name (or numeric uid) with its primary
// and supplementary groups.
func lookupIdentity(name string) (identity, error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			if u, err = user.LookupId(name); err != nil {
				return identity{}, fmt.Errorf("--as %s: no such user", name)
			}
		} else {
			return identity{}, fmt.Errorf("--as %s: %w", name, err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return identity{}, fmt.Errorf("--as %s: uid %q: %w", name, u.Uid, err)
	}
	id := identity{name: u.Username, uid: uint32(uid), gids: map[uint32]bool{}}
	gids, err := u.GroupIds()
	if err != nil {
		gids = []string{u.Gid}
	}
	for _, g := range append(gids, u.Gid) {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			id.gids[uint32(n)] = true
		}
	}
	return id, nil
}

// Access wanted, as in the mode bits.
const (
	wantRead  = 4
	wantWrite = 2
	wantExec  = 1
)

// may reports whether id may access a file with fi's owner and mode as
// want (rwx bits); root may do anything but execute a file no one may.
func (id identity) may(fi fs.FileInfo, want uint32) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	if id.uid == 0 {
		return true
	}
	mode := uint32(fi.Mode().Perm())
	switch {
	case st.Uid == id.uid:
		mode >>= 6
	case id.gids[st.Gid]:
		mode >>= 3
	}
	return mode&want == want
}

// reach explains why id cannot reach (search every folder above) p, or
// returns "" when it can.
func (id identity) reach(p string) string {
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil && !id.may(fi, wantExec) {
			return fmt.Sprintf("cannot enter %s (%s)", d, ownerMode(fi))
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

func ownerMode(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fi.Mode().String()
	}
	owner, group := strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid))
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return fmt.Sprintf("%s:%s %04o", owner, group, fi.Mode().Perm())
}

// asPath is one path the service user needs, and how.
type asPath struct {
	what   string
	path   string
	folder bool   // a folder it lists and changes (rwx), else a file it reads
	create bool   // may not exist yet: the nearest existing folder must be writable
	use    string // what the access is for, in the FAIL line
}

// servicePaths lists what the daemon reads and writes under cfg.
func servicePaths(cfg *config.Config) []asPath {
	ps := []asPath{
		{"config", cfg.File, false, false, "read the configuration"},
		{"state", filepath.Dir(cfg.State), true, true, "keep the state"},
	}
	if _, err := os.Lstat(cfg.State); err == nil {
		ps = append(ps, asPath{"state file", cfg.State, false, false, "open the state (an earlier run as another user may own it)"})
	}
	seen := map[string]bool{}
	add := func(p asPath) {
		if !seen[p.what+p.path] {
			seen[p.what+p.path] = true
			ps = append(ps, p)
		}
	}
	for i, w := range cfg.Watch {
		add(asPath{fmt.Sprintf("watch[%d]", i), w.Path, true, w.Create, "read, move or delete files and write sidecars"})
		for _, r := range w.Rules {
			if r.After.Action == config.AfterMove {
				add(asPath{"after.to", r.After.To, true, true, "move uploaded files there"})
			}
			if r.Quarantine.To != "" {
				add(asPath{"quarantine.to", r.Quarantine.To, true, true, "move failed files there"})
			}
		}
	}
	if cr := cfg.VOD.Credentials; cr.Kind == config.CredFile {
		add(asPath{"credentials", cr.Path, false, false, "read the API secret"})
	}
	return ps
}

// checkAs prints, for each path the service needs, whether id has the
// access it needs by the file modes. systemd's sandbox comes on top.
func (c *checker) checkAs(id identity) {
	c.line("ok", "as %s: uid %d, groups %s", id.name, id.uid, id.groupNames())
	for _, p := range servicePaths(c.cfg) {
		if why := id.reach(p.path); why != "" {
			c.line("FAIL", "as %s: %s %s: %s, needed to %s", id.name, p.what, p.path, why, p.use)
			continue
		}
		target, note := p.path, ""
		fi, err := os.Stat(target)
		if errors.Is(err, fs.ErrNotExist) && p.create {
			existing, _, nerr := nearestDir(target)
			if nerr != nil {
				c.line("FAIL", "as %s: %s %s: %v", id.name, p.what, p.path, nerr)
				continue
			}
			target, note = existing, " (to be created in "+existing+")"
			fi, err = os.Stat(target)
		}
		if err != nil {
			c.line("FAIL", "as %s: %s %s: %v", id.name, p.what, p.path, err)
			continue
		}
		want, verb := uint32(wantRead), "read"
		if p.what == "state file" {
			want, verb = wantRead|wantWrite, "read and write"
		}
		if p.folder {
			want, verb = wantRead|wantWrite|wantExec, "read and write"
		}
		if !id.may(fi, want) {
			c.line("FAIL", "as %s: %s %s: cannot %s %s (%s)%s, needed to %s", id.name, p.what, p.path, verb, target, ownerMode(fi), note, p.use)
			continue
		}
		c.line("ok", "as %s: %s %s: can %s%s", id.name, p.what, p.path, verb, note)
	}
	c.line("note", "as %s: file modes only; the unit's sandbox also limits writes to ReadWritePaths= (systemctl show -p ReadWritePaths vodwatchd)", id.name)
}

// groupNames lists id's groups by name, for messages.
func (id identity) groupNames() string {
	var names []string
	for _, g := range sortedGIDs(id.gids) {
		n := strconv.Itoa(int(g))
		if gr, err := user.LookupGroupId(n); err == nil {
			n = gr.Name
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

func sortedGIDs(m map[uint32]bool) []uint32 {
	out := make([]uint32, 0, len(m))
	for g := range m {
		out = append(out, g)
	}
	slices.Sort(out)
	return out
}
