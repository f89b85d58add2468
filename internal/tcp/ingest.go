package tcp

import (
	"log/slog"
	"net"
	"time"

	"github.com/tsstream/tsstream/internal/stream"
)

// Ingest accepts publishers on a TCP listener; everything a connection sends
// is published to one stream.
type Ingest struct {
	Hub    *stream.Hub
	Stream string
	Log    *slog.Logger // nil discards

	srv server
}

// Serve accepts publishers on l until Close.
func (in *Ingest) Serve(l net.Listener) error {
	in.srv.handle, in.srv.log = in.handle, logger(in.Log)
	return in.srv.serve(l)
}

// Close stops accepting and waits for the publishers' goroutines to end;
// close the hub first so that they do.
func (in *Ingest) Close() error { return in.srv.close() }

func (in *Ingest) handle(c net.Conn) {
	defer c.Close()
	log := logger(in.Log)
	remote := c.RemoteAddr().String()
	p, err := in.Hub.Publish(in.Stream, stream.PublisherInfo{Protocol: "tcp", Remote: remote})
	if err != nil {
		log.Warn("publisher refused", "stream", in.Stream, "protocol", "tcp", "remote", remote, "err", err)
		return
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-p.Done(): // taken over or shut down: unblock the read
			c.SetReadDeadline(time.Now())
		case <-stop:
		}
	}()
	_, err = p.ReadFrom(c)
	p.Close(stream.EndReason(err))
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
