package httpserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tsstream/tsstream/internal/stream"
)

// OnDemand starts a stream that is pulled on demand and tells a viewer of
// it when it is live. Start is called before the viewer is added, with the
// relay path of the request (the nodes the data will go to, for the loop
// check of the pull it may start); it returns nil for a stream that is not
// pulled on demand, else a function that returns once the stream is live,
// or an error saying why not (an error with an HTTPStatus method sets the
// status: 504 for a start timeout, 404 when no upstream has the stream).
type OnDemand func(name string, via []string) (wait func(ctx context.Context) error)

// demand asks s.Pulls to start stream name, if it is pulled on demand.
func (s *Server) demand(name string, via []string) func(ctx context.Context) error {
	if s.Pulls == nil {
		return nil
	}
	return s.Pulls(name, via)
}

// await waits for a stream pulled on demand to go live, then checks that
// serving it to reader rd does not close a loop: the nodes it would go to
// (via) must not be on the path its data comes through. Nothing has been
// sent yet, so rd is placed under the stream's relay path of now.
func (s *Server) await(ctx context.Context, wait func(context.Context) error, name string, via []string, rd *stream.Reader) error {
	if wait != nil {
		if err := wait(ctx); err != nil {
			s.log().Warn("viewer refused: the stream did not start", "stream", name, "err", err)
			return err
		}
	}
	path := rd.Repath()
	for _, n := range via {
		if slices.Contains(path, n) {
			err := fmt.Errorf("%w: the stream's data comes through %s (relay path %s), which asks for it; check the pull sources",
				errLoop, n, strings.Join(path, " -> "))
			s.log().Warn("viewer refused", "stream", name, "err", err)
			return err
		}
	}
	return nil
}

// errNoStream is a relay's request for a stream this node has no source
// for.
var errNoStream = errors.New("no such stream")

// relayable refuses a relay's request (via not empty) for a stream that is
// neither declared here, nor pulled here on demand, nor published now, so
// that an edge pulling every name from this node learns at once that the
// stream is nowhere (404) instead of waiting on it. Plain viewers may wait
// for any stream's publisher.
func (s *Server) relayable(name string, via []string, onDemand bool) error {
	if len(via) == 0 || onDemand {
		return nil
	}
	if st := s.Hub.Get(name); st != nil {
		if live, _ := st.Publishing(); live || st.Static() {
			return nil
		}
	}
	return fmt.Errorf("%w: stream %q has no publisher on node %s (asked for by %s)",
		errNoStream, name, s.Node.Name, strings.Join(via, " -> "))
}

// dataPath is the relay path of a stream's data as this node serves it:
// the path its publisher's data came through, then this node.
func (s *Server) dataPath(path []string) []string {
	if s.Node.Name != "" {
		path = append(slices.Clone(path), s.Node.Name)
	}
	return path
}

// statusOfError is the HTTP status an error names for itself, if any.
func statusOfError(err error) (int, bool) {
	if e, ok := errors.AsType[interface {
		error
		HTTPStatus() int
	}](err); ok {
		return e.HTTPStatus(), true
	}
	return 0, false
}
