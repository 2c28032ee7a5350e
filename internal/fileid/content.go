package fileid

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"github.com/vodwatchd/vodwatchd/internal/crc64x"
)

// Content is a file's content fingerprint: "crc64:" and the CRC-64/XZ of
// every byte, in 16 hex digits. It is the value COS returns as
// x-cos-hash-crc64ecma for the whole object, so the uploader's verified
// CRC of a committed object is the Content of the file it was read from.
type Content string

// ContentOf formats a CRC-64/XZ as a Content.
func ContentOf(crc uint64) Content {
	return Content("crc64:" + fmt.Sprintf("%016x", crc))
}

// ParseContent returns the CRC of c, or false when c is not a Content.
func ParseContent(c string) (uint64, bool) {
	hex, ok := cutPrefix(c, "crc64:")
	if !ok || len(hex) != 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(hex, 16, 64)
	return v, err == nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) < len(p) || s[:len(p)] != p {
		return s, false
	}
	return s[len(p):], true
}

// ReadContent reads the regular file at path whole and returns its
// Content and the bytes read. It never follows a symlink and stops with
// ctx.
func ReadContent(ctx context.Context, path string) (Content, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return "", 0, fmt.Errorf("content of %s: %w", path, err)
	}
	defer f.Close()
	h := crc64x.New()
	bufSize := int64(1 << 20)
	if fi, err := f.Stat(); err == nil && fi.Size() < bufSize {
		bufSize = max(fi.Size()+1, 512) // +1: EOF comes in the first read
	}
	buf := make([]byte, bufSize)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return "", n, err
		}
		k, err := f.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		if err == io.EOF {
			return ContentOf(h.Sum64()), n, nil
		}
		if err != nil {
			return "", n, fmt.Errorf("content of %s: %w", path, err)
		}
	}
}
