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

// Viewer plays a stream reader to a connection.
type Viewer struct {
	// Static after construction.
	conn    net.Conn
	r       *stream.Reader
	f       Framing
	timeout time.Duration
	log     *slog.Logger

	mu   sync.Mutex // serialises writes to conn; guards the fields below
	hdr  [16]byte
	bufs [2 + 64][]byte
	out  net.Buffers
	sent int64     // payload bytes written
	due  time.Time // the write deadline set on conn
}

// New returns a viewer writing r to conn with framing f; log may be nil.
func New(conn net.Conn, r *stream.Reader, f Framing, log *slog.Logger) *Viewer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	info := r.Info()
	return &Viewer{
		conn:    conn,
		r:       r,
		f:       f,
		timeout: r.Stream().Options().WriteTimeout,
		log:     log.With("stream", r.Stream().Name(), "protocol", info.Protocol, "remote", info.Remote),
	}
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
	v.log.Info("viewer disconnected", "reason", reason, "bytes", v.sent, "skips", v.r.Skips(),
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

func (v *Viewer) write(b stream.Batch) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := v.bufs[:0]
	if v.f.Header != nil {
		out = append(out, v.f.Header(v.hdr[:0], b.Len))
	}
	out = append(out, b.Bufs...)
	if len(v.f.Trailer) > 0 {
		out = append(out, v.f.Trailer)
	}
	v.out = out
	v.extendDeadline()
	_, err := v.out.WriteTo(v.conn)
	if err == nil {
		v.r.Sent(b.Len)
		v.sent += int64(b.Len)
	}
	return err
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
