package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/tsstream/tsstream/internal/stream"
)

// endTimeout bounds the write of the closing bytes (the last HTTP chunk) to
// a target that may no longer read.
const endTimeout = 500 * time.Millisecond

// errHangup is why a session ends when the target closes its connection.
var errHangup = errors.New("the target closed the connection")

// hangup describes a read from the target that ended.
func hangup(err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errHangup
	}
	return fmt.Errorf("connection to the target lost: %w", err)
}

// errCut is returned for a write attempted after the session ended.
var errCut = errors.New("session ended")

// cutter sets write deadlines on a connection and cuts a write that is
// stuck on a target that does not read as soon as the session ends.
type cutter struct {
	conn net.Conn
	stop func() bool

	mu  sync.Mutex // serialises deadline changes; guards cut
	cut bool
}

func newCutter(ctx context.Context, conn net.Conn) *cutter {
	c := &cutter{conn: conn}
	c.stop = context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cut = true
		conn.SetWriteDeadline(time.Now())
		c.mu.Unlock()
	})
	return c
}

// arm sets the deadline of the next write; false once the session ended.
func (c *cutter) arm(timeout time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return false
	}
	c.conn.SetWriteDeadline(time.Now().Add(timeout))
	return true
}

// last writes b with a short deadline of its own, even after the cut.
func (c *cutter) last(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(endTimeout))
	c.conn.Write(b)
}

// streamConn is a link over TCP: the stream's bytes as they are
// (tcp://), or as the chunks of an HTTP request body (http://). Each batch
// goes out in one writev under the write timeout. A helper goroutine reads
// what the target sends and ends the session when it hangs up.
type streamConn struct {
	// Static after construction.
	conn    net.Conn
	chunked bool
	timeout time.Duration
	cut     *cutter
	watched chan struct{} // closed when the helper goroutine returns

	// Owned by the pump.
	hdr  [20]byte
	bufs [][]byte
	out  net.Buffers
}

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

func newStreamConn(ctx context.Context, conn net.Conn, chunked bool, timeout time.Duration) *streamConn {
	return &streamConn{conn: conn, chunked: chunked, timeout: timeout,
		cut: newCutter(ctx, conn), watched: make(chan struct{})}
}

func (c *streamConn) write(b stream.Batch) (int, error) {
	if b.Len == 0 {
		return 0, nil // an empty HTTP chunk would end the body
	}
	bufs := c.bufs[:0]
	if c.chunked {
		h := strconv.AppendInt(c.hdr[:0], int64(b.Len), 16)
		bufs = append(bufs, append(h, crlf...))
	}
	bufs = append(bufs, b.Bufs...)
	if c.chunked {
		bufs = append(bufs, crlf)
	}
	c.out = bufs
	var err error
	if c.cut.arm(c.timeout) {
		_, err = c.out.WriteTo(c.conn)
	} else {
		err = errCut
	}
	clear(bufs) // let go of the ring's blocks
	c.bufs = bufs[:0]
	if err != nil {
		return 0, err
	}
	return b.Len, nil
}

func (c *streamConn) finish() {
	if c.chunked {
		c.cut.last(lastChunk)
	}
}

func (c *streamConn) close() {
	c.cut.stop()
	c.conn.Close()
	<-c.watched
}

// dial opens a TCP connection to the target.
func (t *target) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: t.p.cfg.DialTimeout}
	return d.DialContext(ctx, "tcp", t.d.addr)
}

func (t *target) dialTCP(ctx context.Context, cancel context.CancelCauseFunc) (link, error) {
	conn, err := t.dial(ctx)
	if err != nil {
		return nil, err
	}
	c := newStreamConn(ctx, conn, false, t.p.cfg.WriteTimeout)
	go func() {
		defer close(c.watched)
		// Targets have nothing to say; reading tells when they hang up.
		_, err := io.Copy(io.Discard, conn)
		cancel(hangup(err))
	}()
	return c, nil
}
