package uploader

import (
	"context"
	"io"
	"net"
	"sync"
)

// bodyChunk is the largest body that bulkConn sends in one write: a small
// file (below it) goes out in one read and one write instead of eight of
// each (net/http copies bodies 32 KiB at a time through a buffer it
// allocates per request).
const bodyChunk = 256 << 10

// streamChunk is the buffer for larger bodies (parts, large objects),
// which may take as long as the link needs: a buffer of its size per
// request in flight, as net/http's own.
const streamChunk = 32 << 10

// copyBuffers are the copy buffers of one transport's connections, held
// only while a body is copied.
type copyBuffers struct {
	chunk  sync.Pool // bodyChunk bytes
	stream sync.Pool // streamChunk bytes
}

func newCopyBuffers() *copyBuffers {
	return &copyBuffers{
		chunk:  sync.Pool{New: func() any { b := make([]byte, bodyChunk); return &b }},
		stream: sync.Pool{New: func() any { b := make([]byte, streamChunk); return &b }},
	}
}

// bulkConn is a connection whose ReadFrom (what net/http's transport uses
// to send a request body of known length, as an *io.LimitedReader) sends
// a body of up to bodyChunk in one write, and larger ones through a
// pooled streamChunk buffer.
type bulkConn struct {
	net.Conn
	bufs *copyBuffers
}

// ReadFrom copies r to the connection.
func (c bulkConn) ReadFrom(r io.Reader) (int64, error) {
	pool := &c.bufs.stream
	if lr, ok := r.(*io.LimitedReader); ok && lr.N <= bodyChunk {
		pool = &c.bufs.chunk
	}
	bp := pool.Get().(*[]byte)
	defer pool.Put(bp)
	return io.CopyBuffer(writeOnly{c.Conn}, r, *bp)
}

// writeOnly hides the connection's own ReadFrom from io.CopyBuffer.
type writeOnly struct{ io.Writer }

// bulkDial wraps the connections dial makes in bulkConn, sharing one set
// of copy buffers.
func bulkDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	bufs := newCopyBuffers()
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return bulkConn{Conn: c, bufs: bufs}, nil
	}
}
