package cos

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// dataPart is one data file of an object: objects are the concatenation of
// their data files, in order (one for a PUT, one per part for a multipart
// upload, so CompleteMultipartUpload moves files instead of copying bytes).
type dataPart struct {
	Data string `json:"data"` // file name in the bucket folder
	Size int64  `json:"size"`
}

// multiReader reads the concatenation of files as one io.ReadSeekCloser.
// It opens at most one file at a time, when a read reaches it, and reads
// with ReadAt, so seeking costs no system call.
type multiReader struct {
	dir     string
	parts   []dataPart
	starts  []int64 // starts[i] is where part i begins; starts[len(parts)] is the size
	pos     int64
	cur     int // index of f in parts, -1 when none is open
	f       *os.File
	closed  bool
	release func() // called once by Close
}

// newMultiReader serves parts found in dir. first, when not nil, is parts[0]
// already opened; release (may be nil) runs on Close.
func newMultiReader(dir string, parts []dataPart, first *os.File, release func()) *multiReader {
	r := &multiReader{dir: dir, parts: parts, starts: make([]int64, len(parts)+1), cur: -1, release: release}
	for i, p := range parts {
		r.starts[i+1] = r.starts[i] + p.Size
	}
	if first != nil {
		r.f, r.cur = first, 0
	}
	return r
}

func (r *multiReader) size() int64 { return r.starts[len(r.parts)] }

// Read reads from the current position; it returns at most the rest of the
// part the position is in.
func (r *multiReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	if r.pos >= r.size() {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	// The part holding pos: the first whose end is past pos (skips empty parts).
	i := sort.Search(len(r.parts), func(i int) bool { return r.starts[i+1] > r.pos })
	if err := r.openPart(i); err != nil {
		return 0, err
	}
	off := r.pos - r.starts[i]
	if left := r.parts[i].Size - off; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := r.f.ReadAt(p, off)
	r.pos += int64(n)
	if n == len(p) {
		return n, nil
	}
	if err == io.EOF {
		err = fmt.Errorf("data file %s is shorter than its %d bytes: %w",
			r.parts[i].Data, r.parts[i].Size, io.ErrUnexpectedEOF)
	}
	return n, err
}

func (r *multiReader) openPart(i int) error {
	if r.cur == i {
		return nil
	}
	if r.f != nil {
		_ = r.f.Close()
		r.f, r.cur = nil, -1
	}
	f, err := os.Open(filepath.Join(r.dir, r.parts[i].Data))
	if err != nil {
		return fmt.Errorf("open part %d of object: %w", i+1, err)
	}
	r.f, r.cur = f, i
	return nil
}

// Seek sets the position for the next Read. Positions past the end are
// allowed (Read then returns io.EOF); negative ones are not.
func (r *multiReader) Seek(offset int64, whence int) (int64, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = r.pos
	case io.SeekEnd:
		base = r.size()
	default:
		return r.pos, fmt.Errorf("seek: invalid whence %d", whence)
	}
	next := base + offset
	if next < 0 {
		return r.pos, fmt.Errorf("seek to %d: negative position", next)
	}
	r.pos = next
	return next, nil
}

// Close closes the open file and releases the object's data files; a second
// Close returns os.ErrClosed.
func (r *multiReader) Close() error {
	if r.closed {
		return os.ErrClosed
	}
	r.closed = true
	var err error
	if r.f != nil {
		err = r.f.Close()
		r.f = nil
	}
	if r.release != nil {
		r.release()
	}
	return err
}

// pins keeps the data files of an object version that open readers still
// use: removing a pinned version's files waits for its last reader, so a
// reader opened before a delete or an overwrite reads the old bytes to the
// end (as an open file would).
type pins struct {
	mu sync.Mutex
	m  map[string]*pin // by the version's first data file path
}

type pin struct {
	refs   int
	doomed []string // files to remove when refs drops to 0
}

// hold pins version id; the returned func drops the pin once.
func (p *pins) hold(id string) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]*pin{}
	}
	v := p.m[id]
	if v == nil {
		v = &pin{}
		p.m[id] = v
	}
	v.refs++
	var once sync.Once
	return func() { once.Do(func() { p.drop(id) }) }
}

func (p *pins) drop(id string) {
	p.mu.Lock()
	v := p.m[id]
	v.refs--
	if v.refs > 0 {
		p.mu.Unlock()
		return
	}
	delete(p.m, id)
	doomed := v.doomed
	p.mu.Unlock()
	removeFiles(doomed)
}

// remove deletes files of version id now, or when its last reader closes.
func (p *pins) remove(id string, files []string) {
	p.mu.Lock()
	if v := p.m[id]; v != nil {
		v.doomed = append(v.doomed, files...)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	removeFiles(files)
}

func removeFiles(files []string) {
	for _, f := range files {
		_ = os.Remove(f) // best effort: a leftover data file is only wasted space
	}
}
