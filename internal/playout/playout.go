// Package playout writes a stream to one viewer's connection: each batch is
// framed once and written with writev under a deadline, and the viewer's end
// is logged once with its reason.
package playout

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tsstream/tsstream/internal/stream"
)

// Reasons a viewer's session ended, as counted by the stream and logged.
const (
	ReasonClientClosed = "client closed"
	ReasonClientGone   = "client gone"
	ReasonWriteTimeout = "write timeout"
	ReasonTooSlow      = "too slow"
	ReasonShutdown     = "shutdown"
	ReasonProtocol     = "protocol error"
	// ReasonPathChanged ends a relay's session at the first byte that came
	// another way than it was told (stream.ErrPathChanged): it reconnects
	// and hears the new relay path.
	ReasonPathChanged = "relay path changed"
)

// ErrClientClosed is the cancel cause a protocol uses when the viewer ends
// the session itself (a WebSocket close frame, EOF on the socket).
var ErrClientClosed = errors.New("client closed the connection")

// ErrProtocol is the cancel cause when the viewer broke its protocol (an
// unmasked or oversized WebSocket frame, say).
var ErrProtocol = errors.New("viewer broke the protocol")

// endTimeout bounds the write of the closing bytes (a WebSocket close frame,
// the last HTTP chunk) to a viewer that may no longer read.
const endTimeout = 500 * time.Millisecond

// Framing is how a protocol wraps batches of stream bytes.
type Framing struct {
	// Header appends what goes before a batch of n bytes: a WebSocket frame
	// header, an HTTP chunk-size line. Nil writes nothing.
	Header func(dst []byte, n int) []byte
	// Trailer goes after each batch ("\r\n" for HTTP chunks).
	Trailer []byte
	// End appends what closes the output cleanly when the server ends the
	// session (a WebSocket close frame, the last HTTP chunk). Nil writes
	// nothing.
	End func(dst []byte, reason string) []byte
}

// maxBufs bounds the buffers of one write: a header, a batch, a trailer.
const maxBufs = 2 + 64

// Viewer plays a stream reader to a connection.
//
// On Linux, a viewer whose connection is a plain socket is also the
// reader's stream.Sink: while it keeps up, the stream's deliverer writes
// its batches with one non-blocking writev each (TryWrite), and the
// viewer's goroutine sleeps. What the socket did not take is left in pend
// for the goroutine, which writes it under the deadline.
type Viewer struct {
	// Static after construction.
	conn    net.Conn
	r       *stream.Reader
	f       Framing
	timeout time.Duration
	log     *slog.Logger
	raw     syscall.RawConn    // the socket for TryWrite; nil: none
	writeFD func(uintptr) bool // v.writevFD, bound once

	mu  sync.Mutex // serialises writes to conn; guards the fields below
	out net.Buffers
	due time.Time // the write deadline set on conn

	// Owned by whoever holds the reader's cursor: the goroutine in Run,
	// or the deliverer in TryWrite; the stream's hand-over between them
	// orders the accesses.
	hdr   [16]byte
	bufs  [maxBufs][]byte
	pend  [][]byte // framed bytes TryWrite left for the goroutine
	pendN int      // payload bytes of the batch in pend
	iov   [maxBufs]iovec
	niov  int
	wrote int

	sent atomic.Int64 // payload bytes written
}

// New returns a viewer writing r to conn with framing f; log may be nil.
func New(conn net.Conn, r *stream.Reader, f Framing, log *slog.Logger) *Viewer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	info := r.Info()
	v := &Viewer{
		conn:    conn,
		r:       r,
		f:       f,
		timeout: r.Stream().Options().WriteTimeout,
		log:     log.With("stream", r.Stream().Name(), "protocol", info.Protocol, "remote", info.Remote),
		raw:     rawSocket(conn),
	}
	if v.raw != nil {
		v.writeFD = v.writevFD
		r.SetSink(v)
	}
	if !r.Exact() { // a reliable link never skips: let the kernel buffer all it can
		if err := limitUnsent(conn, r.Stream().Options().MaxUnsent); err != nil {
			v.log.Debug("cannot bound the socket's unsent bytes", "err", err)
		}
	}
	return v
}

// WriteControl writes b between batches, for protocol replies such as a
// WebSocket pong.
func (v *Viewer) WriteControl(b []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.extendDeadline()
	_, err := v.conn.Write(b)
	return err
}

// extendDeadline moves the write deadline to the timeout from now, but only
// once a tenth of the timeout has passed since it was last moved: setting a
// deadline costs a timer update in the runtime, and a viewer gets about 25
// batches a second. A write is so cut after between 0.9 and 1 times the
// timeout. v.mu must be held.
func (v *Viewer) extendDeadline() {
	now := time.Now()
	if due := now.Add(v.timeout); due.Sub(v.due) >= v.timeout/10 {
		v.conn.SetWriteDeadline(due)
		v.due = due
	}
}

// Run writes the stream until the viewer goes, the stream closes or ctx is
// cancelled (with context.Cause ErrClientClosed when the client ended the
// session). It closes the reader, logs the end and returns its reason; the
// caller closes the connection.
func (v *Viewer) Run(ctx context.Context) string {
	start := time.Now()
	v.log.Info("viewer connected")
	// When the stream closes, a write stuck on a viewer that does not read
	// is cut at once instead of at its deadline.
	cut := make(chan struct{})
	stop := context.AfterFunc(v.r.Stream().Context(), func() {
		v.conn.SetWriteDeadline(time.Now())
		close(cut)
	})
	reason, clean := v.loop(ctx)
	if !stop() {
		<-cut // the cut has begun: let it finish before end sets its deadline
	}
	if clean && (reason == ReasonShutdown || reason == ReasonTooSlow || reason == ReasonPathChanged) {
		v.end(reason)
	}
	v.r.Close(reason)
	v.log.Info("viewer disconnected", "reason", reason, "bytes", v.sent.Load(), "skips", v.r.Skips(),
		"duration", time.Since(start).Round(time.Millisecond))
	return reason
}

// loop writes batches until the session ends. clean reports whether the
// connection is between messages, so that closing bytes may follow.
func (v *Viewer) loop(ctx context.Context) (reason string, clean bool) {
	for {
		b, err := v.r.Next(ctx)
		switch {
		case errors.Is(err, stream.ErrClosed):
			return ReasonShutdown, true
		case errors.Is(err, stream.ErrTooSlow):
			return ReasonTooSlow, true
		case errors.Is(err, stream.ErrPathChanged):
			return ReasonPathChanged, true
		case err != nil:
			return causeReason(ctx, ReasonShutdown), true
		}
		if err := v.write(b); err != nil {
			switch {
			case v.r.Stream().Context().Err() != nil:
				return ReasonShutdown, false
			case errors.Is(err, os.ErrDeadlineExceeded):
				return ReasonWriteTimeout, false
			}
			return causeReason(ctx, ReasonClientGone), false
		}
	}
}

// causeReason names why ctx was cancelled, or returns otherwise.
func causeReason(ctx context.Context, otherwise string) string {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrClientClosed):
		return ReasonClientClosed
	case errors.Is(cause, ErrProtocol):
		return ReasonProtocol
	}
	return otherwise
}

// write writes what TryWrite left, then batch b (which may be empty: the
// reader was handed back just for that), under the deadline.
func (v *Viewer) write(b stream.Batch) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.extendDeadline()
	if len(v.pend) > 0 {
		v.out, v.pend = v.pend, nil
		if _, err := v.out.WriteTo(v.conn); err != nil {
			return err
		}
		v.delivered(v.pendN)
	}
	if len(b.Bufs) == 0 {
		return nil
	}
	v.out = v.frame(b)
	_, err := v.out.WriteTo(v.conn)
	if err == nil {
		v.delivered(b.Len)
	}
	return err
}

// TryWrite writes batch b with one writev that does not wait (see Viewer);
// it runs on the stream's deliverer while the viewer's goroutine sleeps.
// When the socket does not take it all, or a control frame is being
// written, the rest is left in pend and the goroutine is woken for it.
func (v *Viewer) TryWrite(b stream.Batch) bool {
	v.pend, v.pendN = v.frame(b), b.Len
	if !v.mu.TryLock() {
		return false
	}
	n := v.writevNow(v.pend)
	v.mu.Unlock()
	if !v.consume(n) {
		return false
	}
	v.delivered(b.Len)
	return true
}

// frame returns batch b with the protocol's header and trailer.
func (v *Viewer) frame(b stream.Batch) [][]byte {
	out := v.bufs[:0]
	if v.f.Header != nil {
		out = append(out, v.f.Header(v.hdr[:0], b.Len))
	}
	out = append(out, b.Bufs...)
	if len(v.f.Trailer) > 0 {
		out = append(out, v.f.Trailer)
	}
	return out
}

// consume drops the first n bytes written from pend and reports whether
// nothing is left.
func (v *Viewer) consume(n int) bool {
	p := v.pend
	for len(p) > 0 && n >= len(p[0]) {
		n -= len(p[0])
		p = p[1:]
	}
	if len(p) > 0 {
		p[0] = p[0][n:]
	}
	v.pend = p
	return len(p) == 0
}

// delivered counts n payload bytes written.
func (v *Viewer) delivered(n int) {
	v.r.Sent(n)
	v.sent.Add(int64(n))
}

func (v *Viewer) end(reason string) {
	if v.f.End == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.conn.SetWriteDeadline(time.Now().Add(endTimeout))
	v.conn.Write(v.f.End(v.hdr[:0], reason))
}
