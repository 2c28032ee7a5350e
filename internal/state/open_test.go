package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestNewStateIsPrivate(t *testing.T) {
	path := statePath(t)
	s := openTest(t, path, Options{})
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700, path + ".secrets": 0o700} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s mode = %v (%v), want %v", p, fi.Mode().Perm(), err, want)
		}
	}
	_ = s.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path+".secrets", 0o755); err != nil {
		t.Fatal(err)
	}
	openTest(t, path, Options{})
	for p, want := range map[string]os.FileMode{path: 0o600, path + ".secrets": 0o700} {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != want {
			t.Errorf("after reopen %s mode = %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}

func TestOpenReadOnlyMissingFile(t *testing.T) {
	path := statePath(t)
	_, err := Open(path, Options{ReadOnly: true})
	wantErrIs(t, err, ErrNoState)
	if _, serr := os.Stat(filepath.Dir(path)); !errors.Is(serr, os.ErrNotExist) {
		t.Fatal("a read-only open created the state folder")
	}
}

func TestOpenNoCreateMissingFile(t *testing.T) {
	path := statePath(t)
	_, err := Open(path, Options{NoCreate: true})
	wantErrIs(t, err, ErrNoState)
	if _, serr := os.Stat(filepath.Dir(path)); !errors.Is(serr, os.ErrNotExist) {
		t.Fatal("a NoCreate open created the state folder")
	}
}

func TestLockHeldByAnotherStore(t *testing.T) {
	path := statePath(t)
	openTest(t, path, Options{})
	for _, ro := range []bool{false, true} {
		start := time.Now()
		_, err := Open(path, Options{Timeout: 300 * time.Millisecond, ReadOnly: ro})
		took := time.Since(start)
		wantErrIs(t, err, ErrLocked)
		msg := err.Error()
		if !strings.Contains(msg, "locked by another vodwatchd") || !strings.Contains(msg, path) ||
			!strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) {
			t.Errorf("read-only=%v: lock error %q does not name the file and the holder's pid", ro, msg)
		}
		if took > 2*time.Second {
			t.Errorf("read-only=%v: lock error took %v, want about the 300ms timeout", ro, took)
		}
	}
}

func TestCorruptFileRefusedAndUntouched(t *testing.T) {
	real := statePath(t)
	s := openTest(t, real, Options{})
	bulkEnqueue(t, s, 0, 2000, Attrs{SourceContext: strings.Repeat("x", 100)}, nil)
	_ = s.Close()
	good, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 64<<10)
	_, _ = rand.Read(random)
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("users")); return err })
	_ = db.Close()
	foreignBytes, _ := os.ReadFile(foreign)
	flipped := bytes.Clone(good)
	for i := 0; i < 2*4096; i++ { // both meta pages
		flipped[i] ^= 0x5a
	}
	cases := map[string][]byte{
		"random bytes":         random,
		"truncated to half":    good[:len(good)/2],
		"truncated to 3 pages": good[:3*4096],
		"only a few bytes":     good[:100],
		"empty":                {},
		"yaml config":          []byte("state: /var/lib/vodwatchd/state.db\nwatch: []\n"),
		"foreign bbolt":        foreignBytes,
		"meta pages broken":    flipped,
	}
	for name, content := range cases {
		for _, ro := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ro=%v", name, ro), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "state.db")
				if err := os.WriteFile(path, content, 0o600); err != nil {
					t.Fatal(err)
				}
				before, _ := os.Stat(path)
				s, err := Open(path, Options{Timeout: time.Second, ReadOnly: ro})
				if err == nil {
					_ = s.Close()
					t.Fatal("Open accepted a damaged file")
				}
				wantErrIs(t, err, ErrCorrupt)
				if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "untouched") && name != "empty" {
					t.Errorf("error %q does not name the file and the recovery path", err)
				}
				after, _ := os.ReadFile(path)
				st, _ := os.Stat(path)
				if !bytes.Equal(after, content) || !st.ModTime().Equal(before.ModTime()) {
					t.Fatal("Open changed the damaged file")
				}
			})
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := statePath(t)
	s := openTest(t, path, Options{})
	mustEnqueue(t, s, testKey(1), Attrs{})
	_ = s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bMeta).Put(kSchema, []byte(strconv.Itoa(SchemaVersion+1)))
	}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	for _, ro := range []bool{false, true} {
		_, err := Open(path, Options{ReadOnly: ro})
		wantErrIs(t, err, ErrSchema)
		if !strings.Contains(err.Error(), fmt.Sprintf("schema %d", SchemaVersion+1)) {
			t.Errorf("error %q does not name the schema", err)
		}
	}
}

func TestReadOnlyStoreRefusesWrites(t *testing.T) {
	path := statePath(t)
	s := openTest(t, path, Options{})
	j := mustEnqueue(t, s, testKey(1), Attrs{})
	driveTo(t, s, j.ID, StageFailed)
	_ = s.Close()
	ro := openTest(t, path, Options{ReadOnly: true})
	ctx := context.Background()
	errs := map[string]error{}
	_, _, errs["enqueue"] = ro.Enqueue(ctx, testKey(2), Attrs{})
	_, errs["update"] = ro.Update(ctx, j.ID, func(*Job) error { return nil })
	_, errs["retry"] = ro.Retry(ctx, j.ID)
	errs["forget"] = ro.Forget(ctx, j.ID, false)
	errs["secret"] = ro.PutSecret(ctx, j.ID, []byte("x"))
	for op, err := range errs {
		if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("%s on a read-only store: %v", op, err)
		}
	}
	if got, err := ro.Get(ctx, j.ID); err != nil || got.Stage != StageFailed {
		t.Fatalf("read on read-only store: %v %v", got, err)
	}
}

func TestSecretsStayOutOfTheStateFile(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s := openTest(t, path, Options{})
	j := mustEnqueue(t, s, testKey(1), Attrs{})
	driveTo(t, s, j.ID, StageApplied)
	secret := []byte(`{"SecretId":"AKIDtestSECRETID0001","SecretKey":"k3y-v4lue-that-must-not-leak","Token":"t0ken-must-not-leak"}`)
	if err := s.PutSecret(ctx, j.ID, secret); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(path+".secrets", j.ID)
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %s: %v %v", p, fi, err)
	}
	got, ok, err := s.Secret(ctx, j.ID)
	if err != nil || !ok || !bytes.Equal(got, secret) {
		t.Fatalf("Secret = %q %v %v", got, ok, err)
	}
	if _, err := s.Update(ctx, j.ID, func(j *Job) error { j.Stage = StageUploading; return nil }); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	db, _ := os.ReadFile(path)
	for _, v := range []string{"k3y-v4lue-that-must-not-leak", "t0ken-must-not-leak", "AKIDtestSECRETID0001"} {
		if bytes.Contains(db, []byte(v)) {
			t.Fatalf("state file contains secret value %q", v)
		}
	}
	s = openTest(t, path, Options{})
	if _, ok, _ := s.Secret(ctx, j.ID); !ok {
		t.Fatal("reopen dropped the certificate of a job still in flight")
	}
	if err := s.PutSecret(ctx, "../../etc/passwd", []byte("x")); !errors.Is(err, ErrInvalidSecret) {
		t.Fatalf("PutSecret with a path id: %v", err)
	}
	if err := s.PutSecret(ctx, "0123456789abcdef", []byte("x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("PutSecret for an unknown job: %v", err)
	}
	if _, err := s.Update(ctx, j.ID, func(j *Job) error { j.Stage = StageCommitting; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Secret(ctx, j.ID); !ok {
		t.Fatal("certificate deleted while the job is still in flight")
	}
	if _, err := s.Update(ctx, j.ID, func(j *Job) error { j.Stage = StageDone; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("certificate left after the job is done: %v", err)
	}
	// A certificate left behind by a crash for a finished job is swept at open.
	orphan := filepath.Join(path+".secrets", j.ID)
	if err := os.WriteFile(orphan, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	openTest(t, path, Options{})
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("stale certificate not swept at open")
	}
}

// mountTmpfs mounts a small tmpfs at a temp folder, or skips when this
// environment may not mount (only the disk-full tests depend on it).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): disk-full behaviour is covered by the read-only tests only", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func TestDiskFullKeepsEveryRecord(t *testing.T) {
	ctx := context.Background()
	dir := mountTmpfs(t, "512k")
	path := filepath.Join(dir, "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var stored []Key
	var fullErr error
	for i := 0; i < 100000 && fullErr == nil; i++ {
		k := testKey(i)
		if _, _, err := s.Enqueue(ctx, k, Attrs{SourceContext: strings.Repeat("s", 200), MediaName: strings.Repeat("m", 200)}); err != nil {
			fullErr = err
			break
		}
		stored = append(stored, k)
	}
	if fullErr == nil {
		t.Fatal("a 512 KiB tmpfs never filled up")
	}
	if !IsStorageFull(fullErr) || !strings.Contains(fullErr.Error(), "disk full") || !strings.Contains(fullErr.Error(), "nothing was recorded") {
		t.Fatalf("disk-full error = %v", fullErr)
	}
	var se *StorageError
	if !errors.As(fullErr, &se) || se.Path != path {
		t.Fatalf("disk-full error is not a *StorageError naming %s: %v", path, fullErr)
	}
	// The store keeps answering reads, every committed record is there.
	mustCheck(t, s)
	for _, k := range stored {
		if _, ok, err := s.Lookup(ctx, k); err != nil || !ok {
			t.Fatalf("record %s lost after disk full: %v", k.Rel, err)
		}
	}
	_ = s.Close()
	s = openTest(t, path, Options{})
	mustCheck(t, s)
	if st, _ := s.Stats(ctx); st[StageQueued] != len(stored) {
		t.Fatalf("after reopen %d queued, want %d", st[StageQueued], len(stored))
	}
	t.Logf("tmpfs of 512 KiB held %d records before ENOSPC", len(stored))
}

func TestReadOnlyFileSystem(t *testing.T) {
	ctx := context.Background()
	dir := mountTmpfs(t, "4m")
	path := filepath.Join(dir, "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	j := mustEnqueue(t, s, testKey(1), Attrs{})
	_ = s.Close()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount read-only: %v", err)
	}
	_, err = Open(path, Options{})
	if err == nil || !IsStorageFull(err) || !strings.Contains(err.Error(), path) {
		t.Fatalf("read-write open on a read-only file system: %v", err)
	}
	ro := openTest(t, path, Options{ReadOnly: true})
	if got, err := ro.Get(ctx, j.ID); err != nil || got.Stage != StageQueued {
		t.Fatalf("read-only open on a read-only file system: %v %v", got, err)
	}
}

// TestOpenMode: a state file records the kind of run that uses it; the
// other kind is refused, read-only opens and unchecked opens are not.
func TestOpenMode(t *testing.T) {
	path := statePath(t)
	s, err := Open(path, Options{Mode: ModeService})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, tc := range []struct {
		opts Options
		want error
	}{
		{Options{Mode: ModeEmulator}, ErrMode},
		{Options{Mode: ModeService}, nil},
		{Options{}, nil},
		{Options{ReadOnly: true, Mode: ModeEmulator}, nil},
	} {
		s, err := Open(path, tc.opts)
		if !errors.Is(err, tc.want) {
			t.Fatalf("Open(%+v) = %v, want %v", tc.opts, err, tc.want)
		}
		if err == nil {
			s.Close()
		}
	}
}
