package cos

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// writeParts writes parts (by content) into dir and returns their list.
func writeParts(t *testing.T, dir string, contents ...string) []dataPart {
	t.Helper()
	var parts []dataPart
	for i, c := range contents {
		name := filepath.Join(dir, "p"+string(rune('a'+i))+".data")
		if err := os.WriteFile(name, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, dataPart{Data: filepath.Base(name), Size: int64(len(c))})
	}
	return parts
}

func TestMultiReaderSeekRead(t *testing.T) {
	contents := []string{"01234", "", "56789ab", "cde"} // an empty part in the middle
	const all = "0123456789abcde"
	type step struct {
		off     int64
		whence  int
		wantPos int64
		seekErr bool
		n       int    // bytes to read with io.ReadFull after the seek
		want    string // what they are
		readErr error  // nil, io.EOF or io.ErrUnexpectedEOF (from ReadFull)
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"whole", []step{{0, io.SeekStart, 0, false, 15, all, nil}}},
		{"start inside first part", []step{{2, io.SeekStart, 2, false, 3, "234", nil}}},
		{"across the empty part", []step{{3, io.SeekStart, 3, false, 4, "3456", nil}}},
		{"spanning every part", []step{{1, io.SeekStart, 1, false, 13, "123456789abcd", nil}}},
		{"start on a boundary", []step{{5, io.SeekStart, 5, false, 7, "56789ab", nil}}},
		{"from current", []step{
			{4, io.SeekStart, 4, false, 2, "45", nil},
			{3, io.SeekCurrent, 9, false, 2, "9a", nil},
			{-8, io.SeekCurrent, 3, false, 1, "3", nil},
		}},
		{"from end", []step{{-4, io.SeekEnd, 11, false, 4, "bcde", nil}}},
		{"end then back to start", []step{
			{0, io.SeekEnd, 15, false, 1, "", io.EOF},
			{0, io.SeekStart, 0, false, 2, "01", nil},
		}},
		{"read past end", []step{{12, io.SeekStart, 12, false, 5, "cde", io.ErrUnexpectedEOF}}},
		{"seek past end", []step{{100, io.SeekStart, 100, false, 1, "", io.EOF}}},
		{"seek past end from end", []step{{1, io.SeekEnd, 16, false, 1, "", io.EOF}}},
		{"negative start", []step{{-1, io.SeekStart, 0, true, 2, "01", nil}}},
		{"negative current keeps position", []step{
			{6, io.SeekStart, 6, false, 1, "6", nil},
			{-8, io.SeekCurrent, 7, true, 2, "78", nil},
		}},
		{"negative from end", []step{{-16, io.SeekEnd, 0, true, 1, "0", nil}}},
		{"bad whence", []step{{0, 7, 0, true, 1, "0", nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			parts := writeParts(t, dir, contents...)
			released := 0
			r := newMultiReader(dir, parts, nil, func() { released++ })
			for i, st := range tt.steps {
				pos, err := r.Seek(st.off, st.whence)
				if (err != nil) != st.seekErr {
					t.Fatalf("step %d: Seek(%d, %d) error %v, want error %v", i, st.off, st.whence, err, st.seekErr)
				}
				if pos != st.wantPos {
					t.Fatalf("step %d: Seek position %d, want %d", i, pos, st.wantPos)
				}
				buf := make([]byte, st.n)
				n, err := io.ReadFull(r, buf)
				if string(buf[:n]) != st.want || !errors.Is(err, st.readErr) {
					t.Fatalf("step %d: read %q, %v; want %q, %v", i, buf[:n], err, st.want, st.readErr)
				}
			}
			if err := r.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := r.Close(); !errors.Is(err, os.ErrClosed) || released != 1 {
				t.Fatalf("second Close: %v, released %d times", err, released)
			}
			if _, err := r.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
				t.Fatalf("Read after Close: %v", err)
			}
		})
	}
}

// TestMultiReaderEdges covers an empty object, a missing part file (the
// error names it when a read reaches it) and a part shorter than listed.
func TestMultiReaderEdges(t *testing.T) {
	tests := []struct {
		name     string
		contents []string
		mutate   func(dir string, parts []dataPart) []dataPart
		want     string
		wantErr  error
	}{
		{"no parts", nil, nil, "", nil},
		{"only empty parts", []string{"", ""}, nil, "", nil},
		{"missing second part", []string{"abc", "def"}, func(dir string, p []dataPart) []dataPart {
			_ = os.Remove(filepath.Join(dir, p[1].Data))
			return p
		}, "abc", os.ErrNotExist},
		{"part shorter than listed", []string{"abc", "def"}, func(_ string, p []dataPart) []dataPart {
			p[0].Size = 5
			return p
		}, "abc", io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			parts := writeParts(t, dir, tt.contents...)
			if tt.mutate != nil {
				parts = tt.mutate(dir, parts)
			}
			r := newMultiReader(dir, parts, nil, nil)
			defer r.Close()
			got, err := io.ReadAll(r)
			if string(got) != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadAll = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestMultiReaderLargeBuffer reads with buffers larger than any part, as
// io.Copy does, and checks every byte.
func TestMultiReaderLargeBuffer(t *testing.T) {
	dir := t.TempDir()
	parts := writeParts(t, dir, "aaaa", "bb", "c")
	r := newMultiReader(dir, parts, nil, nil)
	defer r.Close()
	var out bytes.Buffer
	if _, err := io.CopyBuffer(&out, r, make([]byte, 64)); err != nil || out.String() != "aaaabbc" {
		t.Fatalf("copy = %q, %v", out.String(), err)
	}
}
