package httpserver

import (
	"fmt"
	"net/http"
	"time"

	"github.com/tsstream/tsstream/internal/stream"
)

// publish takes a stream from the request body: ffmpeg's
// `-f mpegts http://host:8088/publish/NAME` sends a chunked POST (PUT with
// `-method PUT`) that lasts as long as the stream.
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	p, err := s.Hub.Publish(name, stream.PublisherInfo{Protocol: "http", Remote: r.RemoteAddr})
	if err != nil {
		s.log().Warn("publisher refused", "stream", name, "protocol", "http", "remote", r.RemoteAddr, "err", err)
		// Answer now and hang up: draining the refused body first (what
		// net/http does) would keep ffmpeg streaming into nothing.
		http.NewResponseController(w).SetReadDeadline(time.Now())
		w.Header().Set("Connection", "close")
		httpError(w, err)
		return
	}
	rc := http.NewResponseController(w)
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-p.Done(): // taken over or shutting down: unblock the body read
			rc.SetReadDeadline(time.Now())
		case <-stop:
		}
	}()
	n, err := p.ReadFrom(r.Body)
	close(stop)
	<-watched
	p.Close(stream.EndReason(err))
	if err != nil {
		http.Error(w, fmt.Sprintf("publishing ended after %d bytes: %v", n, err), statusOf(err))
		return
	}
	fmt.Fprintf(w, "published %d bytes to stream %q\n", n, name)
}
