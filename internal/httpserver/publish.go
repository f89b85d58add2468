package httpserver

import (
	"errors"
	"fmt"
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
// `-method PUT`) that lasts as long as the stream. A POST with a
// Tsstream-Ring header is a reliable push (resume.go).
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	path := relayPath(r.Header.Get(pathHeader))
	remote := s.remote(r)
	release := func() {}
	err := s.checkPath(path)
	if err == nil && s.Guard != nil {
		release, err = s.Guard.Publish(r, name)
	}
	if err != nil {
		s.refusePublish(w, name, remote, err)
		return
	}
	defer release()
	if r.Header.Get(relay.RingHeader) != "" {
		s.publishReliable(w, r, name, remote, path)
		return
	}
	s.resumes.release(s, name) // a reliable push's kept session yields to a new publisher
	p, err := s.Hub.Publish(name, stream.PublisherInfo{Protocol: "http", Remote: remote, Path: path})
	if err != nil {
		s.refusePublish(w, name, remote, err)
		return
	}
	n, err := s.readInto(w, r, name, p, nil)
	p.Close(stream.EndReason(err))
	s.answerPublish(w, name, n, err)
}

// errBadRequest is a publish request that does not make sense.
var errBadRequest = errors.New("bad request")

// refusePublish answers a publisher that is refused, and logs it.
func (s *Server) refusePublish(w http.ResponseWriter, name, remote string, err error) {
	if !errors.As(err, new(*guard.Refusal)) { // the guard logs its own, rate-limited
		s.log().Warn("publisher refused", "stream", name, "protocol", "http", "remote", remote, "err", err)
	}
	// Answer now and hang up: draining the refused body first (what
	// net/http does) would keep ffmpeg streaming into nothing.
	http.NewResponseController(w).SetReadDeadline(time.Now())
	w.Header().Set("Connection", "close")
	if errors.Is(err, errBadRequest) {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	httpError(w, err)
}

// answerPublish answers a publisher whose body ended after n bytes with
// err.
func (s *Server) answerPublish(w http.ResponseWriter, name string, n int64, err error) {
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
