package httpserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tsstream/tsstream/internal/guard"
	"github.com/tsstream/tsstream/internal/relay"
	"github.com/tsstream/tsstream/internal/stream"
)

// publish takes a stream from the request body: ffmpeg's
// `-f mpegts http://host:8088/publish/NAME` sends a chunked POST (PUT with
// `-method PUT`) that lasts as long as the stream.
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	path := relayPath(r.Header.Get(pathHeader))
	var p *stream.Publisher
	remote := s.remote(r)
	release := func() {}
	err := s.checkPath(path)
	if err == nil && s.Guard != nil {
		release, err = s.Guard.Publish(r, name)
	}
	if err == nil {
		defer release()
		p, err = s.Hub.Publish(name, stream.PublisherInfo{Protocol: "http", Remote: remote, Path: path})
	}
	if err != nil {
		if !errors.As(err, new(*guard.Refusal)) { // the guard logs its own, rate-limited
			s.log().Warn("publisher refused", "stream", name, "protocol", "http", "remote", remote, "err", err)
		}
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
	var body io.Reader = r.Body
	if s.Guard != nil {
		m := s.Guard.Meter(name, r.Body, rc.SetReadDeadline)
		defer m.Stop()
		body = m
	}
	n, err := p.ReadFrom(body)
	close(stop)
	<-watched
	p.Close(stream.EndReason(err))
	if err != nil {
		http.Error(w, fmt.Sprintf("publishing ended after %d bytes: %v", n, err), statusOf(err))
		return
	}
	fmt.Fprintf(w, "published %d bytes to stream %q\n", n, name)
}

// pathHeader is the relay path header (see package relay).
const pathHeader = relay.PathHeader

// errLoop matches the refusals of a relay path: this node is on it
// already, or it is longer than MaxHops.
var errLoop = errors.New("relay loop")

func relayPath(h string) []string { return relay.SplitPath(h) }

// checkPath refuses a stream whose relay path holds this node or is too
// long, so that a misconfigured ring of nodes settles instead of
// amplifying.
func (s *Server) checkPath(path []string) error {
	maxHops := s.MaxHops
	if maxHops <= 0 {
		maxHops = 8
	}
	switch {
	case s.Node.Name != "" && slices.Contains(path, s.Node.Name):
		return fmt.Errorf("%w: this node (%s) is already on the relay path %s; check the push and pull targets",
			errLoop, s.Node.Name, strings.Join(path, " -> "))
	case len(path) > maxHops:
		return fmt.Errorf("%w: relay path %s is %d hops, more than max_hops %d",
			errLoop, strings.Join(path, " -> "), len(path), maxHops)
	}
	return nil
}
