package throttle

import (
	"io"
	"sync"
)

// Wrap returns a body wrapper (uploader.Config.BodyWrapper) that charges
// every byte read to each of the limiters (nil ones are skipped): e.g. the
// global limiter and a watch's own. The wrapped body keeps the io.Seeker
// and Len() of the original so SDKs still learn its length and can rewind
// it (bytes sent again are charged again: they cross the wire again). Its
// Close ends any wait and closes the original if that is an io.Closer, as
// net/http would have.
func Wrap(limiters ...*Limiter) func(io.Reader) io.Reader {
	var ls []*Limiter
	for _, l := range limiters {
		if l != nil {
			ls = append(ls, l)
		}
	}
	return func(r io.Reader) io.Reader {
		if r == nil || len(ls) == 0 {
			return r
		}
		b := &body{r: r, ls: ls, done: make(chan struct{})}
		s, isSeeker := r.(io.Seeker)
		ln, isLen := r.(lener)
		switch {
		case isSeeker && isLen:
			return &seekLenBody{body: b, s: s, ln: ln}
		case isSeeker:
			return &seekBody{body: b, s: s}
		case isLen:
			return &lenBody{body: b, ln: ln}
		}
		return b
	}
}

type lener interface{ Len() int }

// body is a throttled reader.
type body struct {
	r    io.Reader
	ls   []*Limiter
	done chan struct{}
	once sync.Once
}

// Read reads at most one chunk, then waits until every limiter lets the
// bytes read pass.
func (b *body) Read(p []byte) (int, error) {
	chunk := len(p)
	for _, l := range b.ls {
		chunk = min(chunk, l.chunkSize())
	}
	n, err := b.r.Read(p[:chunk])
	if n > 0 {
		for _, l := range b.ls {
			if werr := l.wait(b.done, n); werr != nil {
				return n, werr
			}
		}
	}
	return n, err
}

// Close ends a pending wait and closes the original body if it can be.
func (b *body) Close() error {
	b.once.Do(func() { close(b.done) })
	if c, ok := b.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

type seekBody struct {
	*body
	s io.Seeker
}

func (b *seekBody) Seek(off int64, whence int) (int64, error) { return b.s.Seek(off, whence) }

type lenBody struct {
	*body
	ln lener
}

func (b *lenBody) Len() int { return b.ln.Len() }

type seekLenBody struct {
	*body
	s  io.Seeker
	ln lener
}

func (b *seekLenBody) Seek(off int64, whence int) (int64, error) { return b.s.Seek(off, whence) }
func (b *seekLenBody) Len() int                                  { return b.ln.Len() }
