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
	Log    *slog.Logger // nil discards

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
	r, err := pl.Hub.NewReader(pl.Stream, stream.ReaderInfo{Protocol: "tcp", Remote: remote})
	if err != nil {
		log.Warn("viewer refused", "stream", pl.Stream, "protocol", "tcp", "remote", remote, "err", err)
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	readDone := make(chan struct{})
	go func() {
		// Viewers send nothing; reading tells when they hang up.
		defer close(readDone)
		io.Copy(io.Discard, c)
		cancel(playout.ErrClientClosed)
	}()
	// Write to the socket under a guarded connection (see guard.Conn),
	// so that net.Buffers can use writev.
	out := c
	if gc, ok := c.(interface{ Inner() net.Conn }); ok {
		out = gc.Inner()
	}
	playout.New(out, r, playout.Framing{}, log).Run(ctx)
	c.Close()
	<-readDone
}
