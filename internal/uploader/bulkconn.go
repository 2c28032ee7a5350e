package uploader

import (
	"context"
	"io"
	"net"
	"sync"
)

// bodyChunk is the size of one read and one write when a request body is
// copied to a plain TCP connection: a 256 KiB file goes out in one write
// instead of eight (net/http copies bodies 32 KiB at a time through a
// buffer it allocates per request).
const bodyChunk = 256 << 10

// chunkPool holds the copy buffers; one is held only while a body is
// copied.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, bodyChunk); return &b }}

// bulkConn is a connection whose ReadFrom (what net/http's transport uses
// to send a request body) reads and writes bodyChunk bytes at a time with
// a pooled buffer.
type bulkConn struct{ net.Conn }

// ReadFrom copies r to the connection.
func (c bulkConn) ReadFrom(r io.Reader) (int64, error) {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	return io.CopyBuffer(writeOnly{c.Conn}, r, *bp)
}

// writeOnly hides the connection's own ReadFrom from io.CopyBuffer.
type writeOnly struct{ io.Writer }

// bulkDial wraps the connections dial makes in bulkConn.
func bulkDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return bulkConn{c}, nil
	}
}
