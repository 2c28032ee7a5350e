package uploader

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vodwatchd/vodwatchd/internal/fileid"
)

// TestNeverFollowsSwappedFiles: a media file that is a symlink, differs
// from the identity the caller took, or is swapped for a link after the
// session was applied is never read or sent.
func TestNeverFollowsSwappedFiles(t *testing.T) {
	env := newEnv(t, nil)
	dir := t.TempDir()
	outside := writeFile(t, t.TempDir(), "secret.mp4", 3*mib)
	link := filepath.Join(dir, "link.mp4")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	victim := writeFile(t, dir, "victim.mp4", 3*mib)
	fi, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	stale := &fileid.ID{Size: fi.Size() + 1, ModTime: fi.ModTime()}
	swap := ProgressFunc(func(_ context.Context, cp *Checkpoint) error {
		if cp.SessionKey != "" && len(cp.Objects) > 0 {
			if _, err := os.Lstat(victim + ".orig"); err == nil {
				return nil // already swapped
			}
			if err := os.Rename(victim, victim+".orig"); err != nil {
				return err
			}
			return os.Symlink(outside, victim)
		}
		return nil
	})
	tests := []struct {
		name    string
		req     Request
		p       Progress
		wantErr string
		sent    bool // ApplyUpload was reached
	}{
		{"symlink", Request{MediaFilePath: link}, nil, "is a symlink", false},
		{"identity differs", Request{MediaFilePath: victim, Expect: stale}, nil, ErrFileChanged.Error(), false},
		{"swapped after apply", Request{MediaFilePath: victim}, swap, ErrFileChanged.Error(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.emu.Stats().Applies
			_, err := env.u.Upload(context.Background(), tt.req, nil, tt.p)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.wantErr == ErrFileChanged.Error() && !errors.Is(err, ErrFileChanged) {
				t.Fatalf("err %v does not wrap ErrFileChanged", err)
			}
			if applied := env.emu.Stats().Applies > before; applied != tt.sent {
				t.Fatalf("ApplyUpload reached = %v, want %v", applied, tt.sent)
			}
		})
	}
	if st := env.emu.Stats(); st.COS.BytesReceived != 0 {
		t.Fatalf("COS received %d bytes; nothing may be sent", st.COS.BytesReceived)
	}
	if n := len(env.emu.Media()); n != 0 {
		t.Fatalf("%d media committed", n)
	}
}
