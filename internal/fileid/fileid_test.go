package fileid

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/crc64x"
)

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(old, s...), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v.mp4")
	appendTo(t, path, "hello")
	rec, err := Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(path, rec); err != nil {
		t.Fatalf("unchanged: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func()
		want   string
	}{
		{"grown", func() { appendTo(t, path, "!") }, "size 5 -> 6"},
		{"touched", func() {
			later := rec.ModTime.Add(time.Minute)
			os.Chtimes(path, later, later)
		}, "mtime"},
		{"replaced", func() {
			tmp := path + ".new"
			appendTo(t, tmp, "hello")
			os.Chtimes(tmp, rec.ModTime, rec.ModTime)
			os.Rename(tmp, path)
		}, "(replaced)"},
		{"deleted", func() { os.Remove(path) }, "gone or not a regular file"},
		{"rewritten in place, size and mtime put back", func() {
			// ctime comes from the kernel's coarse clock (a few ms).
			time.Sleep(20 * time.Millisecond)
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte("J"), 0) // same size, other bytes
			f.Close()
			os.Chtimes(path, rec.ModTime, rec.ModTime)
		}, "ctime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(path)
			appendTo(t, path, "hello")
			os.Chtimes(path, rec.ModTime, rec.ModTime)
			rec, _ = Lstat(path)
			if err := Check(path, rec); err != nil {
				t.Fatalf("before change: %v", err)
			}
			tc.change()
			err := Check(path, rec)
			if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "file changed after it was taken") {
				t.Fatalf("Verify = %v, want ErrChanged with %q", err, tc.want)
			}
		})
	}
}

// TestCompareRules pins when each attribute is compared (the package
// comment): size and mtime always, dev/inode only when recorded.
func TestCompareRules(t *testing.T) {
	t0 := time.Unix(1700000000, 123456789)
	rec := ID{Size: 10, ModTime: t0, Dev: 1, Ino: 2}
	for _, tc := range []struct {
		name      string
		recorded  ID
		now       ID
		wantDiffs string // "" = same file
	}{
		{"identical", rec, rec, ""},
		{"size", rec, ID{Size: 11, ModTime: t0, Dev: 1, Ino: 2}, "size 10 -> 11"},
		{"mtime ns", rec, ID{Size: 10, ModTime: t0.Add(1), Dev: 1, Ino: 2}, "mtime"},
		{"inode", rec, ID{Size: 10, ModTime: t0, Dev: 1, Ino: 3}, "inode 1:2 -> 1:3 (replaced)"},
		{"device", rec, ID{Size: 10, ModTime: t0, Dev: 9, Ino: 2}, "(replaced)"},
		{"relocated ignores inode", rec.Relocated(), ID{Size: 10, ModTime: t0, Dev: 9, Ino: 7}, ""},
		{"relocated still compares size", rec.Relocated(), ID{Size: 9, ModTime: t0, Dev: 9, Ino: 7}, "size 10 -> 9"},
		{"mtime in another zone", rec, ID{Size: 10, ModTime: t0.In(time.FixedZone("x", 3600)), Dev: 1, Ino: 2}, ""},
		{"ctime", withCtime(rec, t0), withCtime(rec, t0.Add(1)), "ctime"},
		{"ctime unknown when taken", rec, withCtime(rec, t0.Add(1)), ""},
		{"relocated ignores ctime", withCtime(rec, t0).Relocated(), withCtime(ID{Size: 10, ModTime: t0, Dev: 9, Ino: 7}, t0.Add(5)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Compare("/p", tc.recorded, tc.now)
			if tc.wantDiffs == "" {
				if err != nil || !tc.recorded.Same(tc.now) {
					t.Fatalf("Compare = %v, want the same file", err)
				}
				return
			}
			var ce *ChangedError
			if !errors.As(err, &ce) || !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), tc.wantDiffs) {
				t.Fatalf("Compare = %v, want a ChangedError with %q", err, tc.wantDiffs)
			}
			if tc.recorded.Same(tc.now) {
				t.Fatal("Same = true for a changed file")
			}
		})
	}
}

func TestCheckVanishedKeepsCause(t *testing.T) {
	err := Check(filepath.Join(t.TempDir(), "gone"), ID{Size: 1})
	if !errors.Is(err, ErrChanged) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Check(missing) = %v, want ErrChanged and ErrNotExist", err)
	}
}

func withCtime(id ID, c time.Time) ID {
	id.Ctime = c
	return id
}

func TestReadContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v.mp4")
	data := strings.Repeat("0123456789", 300000) // several read buffers
	appendTo(t, path, data)
	got, n, err := ReadContent(context.Background(), path)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("ReadContent = %q, %d, %v", got, n, err)
	}
	if want := ContentOf(crc64x.Checksum([]byte(data))); got != want {
		t.Fatalf("content %s, want %s", got, want)
	}
	if crc, ok := ParseContent(string(got)); !ok || ContentOf(crc) != got {
		t.Fatalf("ParseContent(%s) = %x, %v", got, crc, ok)
	}
	for _, bad := range []string{"", "crc64:", "crc64:xyz", "md5:0123456789abcdef", "crc64:0123456789abcdef0"} {
		if _, ok := ParseContent(bad); ok {
			t.Errorf("ParseContent(%q) accepted", bad)
		}
	}
	link := filepath.Join(dir, "link.mp4")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadContent(context.Background(), link); err == nil {
		t.Fatal("ReadContent followed a symlink")
	}
}
