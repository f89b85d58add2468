package tcp

import (
	"context"
	"io"
	"log/slog"
	"net"

	"github.com/tsstream/tsstream/internal/playout"
	"github.com/tsstream/tsstream/internal/stream"
)

// Play serves one stream's bytes, unframed, to every connection on a TCP
// listener (players open it as tcp://host:port).
type Play struct {
	Hub    *stream.Hub
	Stream string
	// OnDemand, when set, starts a stream that is pulled on demand, as for
	// an HTTP viewer (httpserver.OnDemand): it returns nil for a stream
	// that is not, else a wait that returns once the stream is live or
	// with why not. TCP has no status to send: a viewer whose stream does
	// not start is closed, and the log says why.
	OnDemand func(name string, via []string) (wait func(ctx context.Context) error)
	Log      *slog.Logger // nil discards

	srv server
}

// Serve accepts viewers on l until Close.
func (pl *Play) Serve(l net.Listener) error {
	pl.srv.handle, pl.srv.log = pl.handle, logger(pl.Log)
	return pl.srv.serve(l)
}

// Close stops accepting and waits for the viewers' goroutines to end; close
// the hub first so that they do.
func (pl *Play) Close() error { return pl.srv.close() }

func (pl *Play) handle(c net.Conn) {
	defer c.Close()
	log := logger(pl.Log)
	remote := c.RemoteAddr().String()
	var wait func(context.Context) error
	if pl.OnDemand != nil {
		// Before the reader is added, as for HTTP: the pull exists when the
		// reader's arrival asks for it.
		wait = pl.OnDemand(pl.Stream, nil)
	}
	r, err := pl.Hub.NewReader(pl.Stream, stream.ReaderInfo{Protocol: "tcp", Remote: remote})
	if err != nil {
		log.Warn("viewer refused", "stream", pl.Stream, "protocol", "tcp", "remote", remote, "err", err)
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	readDone := make(chan struct{})
	defer func() { <-readDone }()
	go func() {
		// Viewers send nothing; reading tells when they hang up.
		defer close(readDone)
		io.Copy(io.Discard, c)
		cancel(playout.ErrClientClosed)
	}()
	if wait != nil {
		if err := wait(ctx); err != nil {
			left := ctx.Err() != nil // before the close below cancels ctx too
			r.Close("start failed")
			c.Close()
			if left {
				log.Info("viewer left while its stream was starting", "stream", pl.Stream, "protocol", "tcp", "remote", remote)
				return
			}
			log.Warn("viewer closed: the stream did not start (TCP has no status: the connection is closed)",
				"stream", pl.Stream, "protocol", "tcp", "remote", remote, "err", err)
			return
		}
	}
	// Write to the socket under a guarded connection (see guard.Conn),
	// so that net.Buffers can use writev.
	out := c
	if gc, ok := c.(interface{ Inner() net.Conn }); ok {
		out = gc.Inner()
	}
	playout.New(out, r, playout.Framing{}, log).Run(ctx)
	c.Close()
}
