package state

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout this build writes. Older files are migrated
// on a read-write open; newer ones are refused.
const SchemaVersion = 4

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Options tune Open.
type Options struct {
	Timeout     time.Duration    // wait this long for the lock (default DefaultTimeout)
	ReadOnly    bool             // shared lock, no writes, nothing created or fixed
	NoCreate    bool             // a missing file is ErrNoState, never created (the CLI's tools)
	Mode        string           // what the file records: ModeService or ModeEmulator; another is refused (ErrMode); "" = not checked
	Logger      *slog.Logger     // default: discard
	MaxAttempts int              // a failed job is due again only while Attempts < MaxAttempts (0: no limit)
	Verify      bool             // also cross-check every record against the indexes at open (Store.Check)
	Now         func() time.Time // clock (tests); default time.Now
}

// migrations[v] upgrades a schema-v file to v+1 inside one transaction.
var migrations = map[int]func(tx *bolt.Tx) error{
	1: addPostIndex,      // 2: an index of done jobs whose post-action is pending
	2: addPlayAndOutbox,  // 3: the play indexes, the hook outbox and its dead letters
	3: rebuildIdentities, // 4: identity without dev/ino; they move to the index value
}

// Open opens the state file at path, creating it (folder 0700, file 0600)
// unless opts.ReadOnly or opts.NoCreate. It never starts afresh over a file it cannot read:
// a corrupt, truncated or foreign file is an error wrapping ErrCorrupt and
// is left untouched; a lock held elsewhere is a *LockedError.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("state: no state file path given")
	}
	path = filepath.Clean(path)
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := prepare(path, opts); err != nil {
		return nil, err
	}
	// Validate through a read-only handle first: nothing is written to a
	// file we have not recognised.
	if err := validateFile(path, opts); err != nil {
		return nil, err
	}
	db, err := openBolt(path, opts)
	if err != nil {
		return nil, err
	}
	s := newStore(path, db, opts)
	if !opts.ReadOnly || opts.Verify {
		if err := s.verify(opts.Verify); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	if !opts.ReadOnly {
		if err := guard(path, s.afterOpen); err != nil {
			_ = db.Close()
			return nil, err
		}
		if err := s.claimMode(opts.Mode); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return s, nil
}

// The modes a state file records (Options.Mode).
const (
	ModeService  = "service"  // uploads to Tencent Cloud VOD
	ModeEmulator = "emulator" // uploads to the embedded emulator (run --emulator)
)

// kMode is the meta key holding the mode of the runs that use the file.
var kMode = []byte("mode")

// claimMode records mode in a file that has none, and refuses a file
// recorded for another mode: a state that holds fake uploads must never
// decide what a production run skips, nor the reverse.
func (s *Store) claimMode(mode string) error {
	if mode == "" {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		switch got := string(m.Get(kMode)); got {
		case "":
			return m.Put(kMode, []byte(mode))
		case mode:
			return nil
		default:
			return fmt.Errorf("state file %s: %w: it holds the jobs of %s runs and this run uploads to the %s "+
				"(run --emulator without for_emulator: true keeps its own state file beside it)", s.path, ErrMode, got, mode)
		}
	})
}

// prepare checks the file's presence and permissions and creates a new,
// initialised state file when none exists (read-write only).
func prepare(path string, opts Options) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && (opts.ReadOnly || opts.NoCreate):
		return fmt.Errorf("state file %s: %w (has the daemon run with this state path?)", path, ErrNoState)
	case errors.Is(err, fs.ErrNotExist):
		return create(path, opts)
	case err != nil:
		return fmt.Errorf("state file %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("state file %s is not a regular file (%s)", path, fi.Mode().Type())
	case fi.Size() == 0:
		return fmt.Errorf("state file %s: %w: it is empty (0 bytes); refusing to start afresh: move it aside if this is a new install", path, ErrCorrupt)
	}
	if !opts.ReadOnly {
		checkPerms(path, opts.Logger)
	}
	return nil
}

// checkPerms tightens a state file readable by others to 0600 and warns
// about a state folder open to others (a folder we did not create is not
// changed).
func checkPerms(path string, log *slog.Logger) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("state file was accessible by group/others; setting mode 0600", "path", path, "mode", fi.Mode().Perm().String())
		if err := os.Chmod(path, 0o600); err != nil {
			log.Warn("cannot tighten state file mode", "path", path, "err", err)
		}
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("state folder is accessible by group/others; 0700 is recommended", "path", dir, "mode", fi.Mode().Perm().String())
	}
}

// create writes a fresh, initialised state file beside path and links it
// into place, so a half-made file is never found at path.
func create(path string, opts Options) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return storageErr(dir, "create state folder", err)
	}
	tmp := path + ".new-" + strconv.Itoa(os.Getpid())
	_ = os.Remove(tmp)
	defer os.Remove(tmp)
	db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		return storageErr(tmp, "create state file", err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return initBuckets(tx, opts.Now()) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return storageErr(tmp, "initialise state file", err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // another process created it first: use theirs
		}
		return storageErr(path, "create state file", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	opts.Logger.Info("created state file", "path", path, "schema", SchemaVersion)
	return nil
}

func initBuckets(tx *bolt.Tx, now time.Time) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	m := tx.Bucket(bMeta)
	if m.Get(kSchema) == nil {
		if err := m.Put(kSchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
			return err
		}
		if err := m.Put(kCreated, []byte(now.UTC().Format(time.RFC3339Nano))); err != nil {
			return err
		}
	}
	return nil
}

// openBolt opens path with bbolt. bbolt panics on some damaged pages (a
// bad freelist page, say) and faults on pages past the end of a truncated
// file: both become ErrCorrupt errors here. (A panic inside bolt.Open may
// leak its descriptor; the caller is about to exit with the error anyway.)
func openBolt(path string, opts Options) (*bolt.DB, error) {
	var db *bolt.DB
	err := guard(path, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly, PreLoadFreelist: true})
		return err
	})
	if err == nil {
		return db, nil
	}
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, &LockedError{Path: path, PID: lockHolder(path)}
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrInvalidMapping):
		return nil, corrupt(path, err)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("state file %s: cannot open (run as the daemon's user?): %w", path, err)
	}
	var pe *fs.PathError
	var errno syscall.Errno
	if errors.As(err, &pe) || errors.As(err, &errno) {
		return nil, storageErr(path, "open", err)
	}
	// Anything else is bbolt refusing the file's content ("file size too small", ...).
	return nil, corrupt(path, err)
}

func corrupt(path string, err error) error {
	return fmt.Errorf("state file %s: %w (%v); the file was left untouched: restore it from a backup, "+
		"or move it aside to start empty (every file under the watch roots would then be uploaded again)",
		path, ErrCorrupt, err)
}

// validateFile opens path read-only and checks that it is a whole bbolt
// file holding a vodwatchd schema this build understands. A fault or
// panic while reading a damaged file becomes an ErrCorrupt error.
func validateFile(path string, opts Options) error {
	ro := opts
	ro.ReadOnly = true
	db, err := openBolt(path, ro)
	if err != nil {
		return err
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	return guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error { return checkLayout(path, tx, fi.Size(), opts.ReadOnly) })
	})
}

// verify reads every page of every bucket, so that a damaged file is an
// ErrCorrupt error at open rather than a panic later; with full it also
// cross-checks records and indexes (Store.Check). (bbolt's own tx.Check is not used: it reads
// pages on a goroutine of its own, where a fault on a damaged file would
// kill the process.)
func (s *Store) verify(full bool) error {
	err := guard(s.path, s.walk)
	if err == nil && full {
		err = s.Check(context.Background())
	}
	if err != nil && !errors.Is(err, ErrCorrupt) {
		err = corrupt(s.path, err)
	}
	return err
}

// walk reads every byte of every key and value of every bucket.
func (s *Store) walk() error {
	var sum uint32
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if len(k) == 0 {
					return fmt.Errorf("bucket %s: empty key", name)
				}
				sum = crc32.Update(crc32.Update(sum, crc32.IEEETable, k), crc32.IEEETable, v)
				return nil
			})
		})
	})
}

// guard runs fn on a goroutine of its own where a memory fault panics
// instead of killing the process, and turns a panic into an ErrCorrupt
// error for path.
func guard(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		debug.SetPanicOnFault(true)
		defer func() {
			if r := recover(); r != nil {
				errc <- corrupt(path, fmt.Errorf("reading it failed: %v", r))
			}
		}()
		errc <- fn()
	}()
	return <-errc
}

func checkLayout(path string, tx *bolt.Tx, fileSize int64, readOnly bool) error {
	if tx.Size() > fileSize {
		return corrupt(path, fmt.Errorf("file is %d bytes but its pages reach %d: truncated", fileSize, tx.Size()))
	}
	meta := tx.Bucket(bMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if empty && !readOnly {
			return nil // bbolt file never initialised: afterOpen initialises it
		}
		return corrupt(path, errors.New("no vodwatchd meta bucket"))
	}
	v, err := strconv.Atoi(string(meta.Get(kSchema)))
	if err != nil || v < 1 {
		return corrupt(path, fmt.Errorf("bad schema version %q", meta.Get(kSchema)))
	}
	if v > SchemaVersion {
		return fmt.Errorf("state file %s has schema %d but this vodwatchd understands up to %d: %w; run a newer vodwatchd",
			path, v, SchemaVersion, ErrSchema)
	}
	if v < SchemaVersion && readOnly {
		return fmt.Errorf("state file %s has schema %d (current %d): %w; start the daemon once to migrate it",
			path, v, SchemaVersion, ErrSchema)
	}
	for _, name := range allBuckets {
		if v == SchemaVersion && tx.Bucket(name) == nil {
			return corrupt(path, fmt.Errorf("bucket %s is missing", name))
		}
	}
	return nil
}

// migrate brings an older schema up to SchemaVersion in one transaction.
func migrate(tx *bolt.Tx, now time.Time) error {
	meta := tx.Bucket(bMeta)
	if meta == nil {
		return initBuckets(tx, now)
	}
	v, _ := strconv.Atoi(string(meta.Get(kSchema)))
	for ; v < SchemaVersion; v++ {
		step, ok := migrations[v]
		if !ok {
			return fmt.Errorf("%w: no migration from schema %d", ErrSchema, v)
		}
		if err := step(tx); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
		}
	}
	return meta.Put(kSchema, []byte(strconv.Itoa(SchemaVersion)))
}
