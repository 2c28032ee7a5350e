package watcher

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Mode is how a root is watched.
type Mode string

const (
	ModeAuto   Mode = "auto"   // notify, except on filesystems inotify cannot see into
	ModeNotify Mode = "notify" // fsnotify hints + periodic full scans
	ModePoll   Mode = "poll"   // full scans every PollInterval, no fsnotify
)

// ParseMode checks a configured mode ("" means auto).
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeAuto:
		return ModeAuto, nil
	case ModeNotify, ModePoll:
		return Mode(s), nil
	}
	return "", fmt.Errorf("watch mode %q: want auto, notify or poll", s)
}

// FSType names a filesystem and says whether inotify misses changes made
// on it by other hosts (network and FUSE filesystems).
type FSType struct {
	Magic  int64
	Name   string
	Remote bool
}

// Magic numbers not (or not all) in x/sys/unix.
const (
	gfs2Magic     = 0x01161970
	lustreMagic   = 0x0bd00bd0
	gpfsMagic     = 0x47504653
	orangefsMagic = 0x20030528
	beegfsMagic   = 0x19830326
	panfsMagic    = 0xaad7aaea
)

var fsNames = map[int64]FSType{
	unix.NFS_SUPER_MAGIC:       {Name: "nfs", Remote: true},
	unix.SMB_SUPER_MAGIC:       {Name: "smb", Remote: true},
	unix.CIFS_SUPER_MAGIC:      {Name: "cifs", Remote: true},
	unix.SMB2_SUPER_MAGIC:      {Name: "smb2", Remote: true},
	unix.FUSE_SUPER_MAGIC:      {Name: "fuse", Remote: true},
	unix.V9FS_MAGIC:            {Name: "9p", Remote: true},
	unix.CEPH_SUPER_MAGIC:      {Name: "ceph", Remote: true},
	unix.AFS_SUPER_MAGIC:       {Name: "afs", Remote: true},
	unix.AFS_FS_MAGIC:          {Name: "afs", Remote: true},
	unix.CODA_SUPER_MAGIC:      {Name: "coda", Remote: true},
	unix.NCP_SUPER_MAGIC:       {Name: "ncp", Remote: true},
	unix.OCFS2_SUPER_MAGIC:     {Name: "ocfs2", Remote: true},
	gfs2Magic:                  {Name: "gfs2", Remote: true},
	lustreMagic:                {Name: "lustre", Remote: true},
	gpfsMagic:                  {Name: "gpfs", Remote: true},
	orangefsMagic:              {Name: "orangefs", Remote: true},
	beegfsMagic:                {Name: "beegfs", Remote: true},
	panfsMagic:                 {Name: "panfs", Remote: true},
	unix.EXT4_SUPER_MAGIC:      {Name: "ext2/3/4"},
	unix.XFS_SUPER_MAGIC:       {Name: "xfs"},
	unix.BTRFS_SUPER_MAGIC:     {Name: "btrfs"},
	unix.TMPFS_MAGIC:           {Name: "tmpfs"},
	unix.OVERLAYFS_SUPER_MAGIC: {Name: "overlay"},
	0x2fc12fc1:                 {Name: "zfs"},
}

// ClassifyFS names the filesystem with statfs magic number magic.
func ClassifyFS(magic int64) FSType {
	t, ok := fsNames[magic]
	if !ok {
		t.Name = fmt.Sprintf("unknown (0x%x)", magic)
	}
	t.Magic = magic
	return t
}

// DetectFS reads the filesystem type of path with statfs.
func DetectFS(path string) (FSType, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return FSType{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	return ClassifyFS(int64(st.Type)), nil
}

// ChooseMode resolves want for the root at path and says why.
func ChooseMode(path string, want Mode) (Mode, string, error) {
	switch want {
	case ModeNotify:
		return ModeNotify, "mode notify configured", nil
	case ModePoll:
		return ModePoll, "mode poll configured", nil
	case "", ModeAuto:
	default:
		return "", "", fmt.Errorf("watch %s: unknown mode %q", path, want)
	}
	fs, err := DetectFS(path)
	if err != nil {
		return "", "", err
	}
	return autoMode(fs)
}

func autoMode(fs FSType) (Mode, string, error) {
	if fs.Remote {
		return ModePoll, fmt.Sprintf("auto: %s filesystem (0x%x), inotify cannot see other hosts' writes", fs.Name, fs.Magic), nil
	}
	return ModeNotify, fmt.Sprintf("auto: local %s filesystem (0x%x)", fs.Name, fs.Magic), nil
}
