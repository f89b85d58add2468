package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tsstream/tsstream/internal/stream"
)

// Reasons a pull session ended, as logged with the publisher's end.
const (
	reasonEnded    = "source ended"
	reasonIdle     = "source idle"
	reasonError    = "source error"
	reasonShutdown = "shutdown"
	reasonTakeover = "taken over"
	reasonClosed   = "stream closed"
)

// source runs the sessions of one upstream, when the puller picks it.
type source struct {
	// Static after construction.
	p        *Puller
	o        *origin // nil when the URL is bad
	parseErr error
	proto    string // publisher protocol: pull-http, pull-tcp, pull-udp
	name     string // the URL with its secrets hidden
	log      *slog.Logger

	// Owned by the run goroutine.
	sessions int64 // times the source came up

	mu sync.Mutex // guards st
	st SourceStats
}

func newSource(p *Puller, s Source) *source {
	o, err := parseSource(s.URL)
	src := &source{p: p, o: o, parseErr: err}
	src.st = SourceStats{URL: s.URL, State: StateWaiting, Since: p.cfg.Now()}
	if err != nil {
		src.st.State, src.st.LastError = StateStopped, err.Error()
	} else {
		src.st.URL = o.redacted
		proto := o.scheme
		if proto == "https" {
			proto = "http"
		}
		src.proto = "pull-" + proto
	}
	src.name = src.st.URL
	src.log = p.log.With("source", src.name)
	return src
}

func (s *source) stats() SourceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// set changes the state and, if err is not nil, the last error; the caller
// logs.
func (s *source) set(state string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.State != state {
		s.st.State, s.st.Since = state, s.p.cfg.Now()
	}
	if err != nil {
		s.st.LastError = err.Error()
	}
}

func (s *source) count(f func(st *SourceStats)) {
	s.mu.Lock()
	f(&s.st)
	s.mu.Unlock()
}

// result says how a session ended.
type result struct {
	up   time.Duration // how long the source published; 0: it never did
	err  error         // why it ended
	stop bool          // the puller or the hub closed
	held bool          // another publisher has the stream
}

// session opens the source and publishes what it sends until it fails,
// idles, ends or the puller closes.
func (s *source) session(ctx context.Context) result {
	s.set(StateConnecting, nil)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rc, err := s.open(sctx)
	if err != nil {
		if ctx.Err() != nil {
			return result{err: errStop, stop: true}
		}
		s.set(StateConnecting, err)
		return result{err: err}
	}
	pub, err := s.p.cfg.Hub.Publish(s.p.cfg.Stream, stream.PublisherInfo{Protocol: s.proto, Remote: s.name})
	if err != nil {
		rc.Close()
		switch {
		case errors.Is(err, stream.ErrPublisherActive):
			return result{err: err, held: true}
		case errors.Is(err, stream.ErrHubClosed), errors.Is(err, stream.ErrClosed), errors.Is(err, stream.ErrBadName):
			return result{err: fmt.Errorf("%w: %w", errStop, err), stop: true}
		}
		return result{err: err}
	}

	start := s.p.cfg.Now()
	s.sessions++
	s.count(func(st *SourceStats) { st.Reconnects = s.sessions - 1 })
	s.set(StateUp, nil)
	s.log.Info("pull connected", "protocol", s.proto, "reconnects", s.sessions-1)

	// A read blocked on the source ends when the publisher is stopped
	// (takeover, the stream closing), the puller closes, or the source
	// idles.
	in := newIdleReader(rc, s.p.cfg.IdleTimeout, func(n int) {
		s.count(func(st *SourceStats) { st.BytesIn += int64(n) })
	})
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-pub.Done():
		case <-sctx.Done():
		case <-done:
		}
		rc.Close()
	}()
	n, err := pub.ReadFrom(in)
	close(done)
	<-watched
	in.stop()

	res := result{up: s.p.cfg.Now().Sub(start)}
	var reason string
	switch {
	case ctx.Err() != nil:
		reason, res.err, res.stop = reasonShutdown, errStop, true
	case errors.Is(err, stream.ErrTakenOver):
		reason, res.err, res.held = reasonTakeover, err, true
	case errors.Is(err, stream.ErrClosed):
		reason, res.err = reasonClosed, err
	case in.idled():
		reason, res.err = reasonIdle, fmt.Errorf("no data for %v", s.p.cfg.IdleTimeout)
	case err == nil:
		reason, res.err = reasonEnded, errors.New("the source ended the stream")
	default:
		reason, res.err = reasonError, err
	}
	pub.Close(reason)
	if !res.stop {
		s.set(StateConnecting, res.err)
	}
	level := slog.LevelInfo
	if !res.stop {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, "pull disconnected", "reason", reason, "err", res.err,
		"bytes", n, "duration", res.up.Round(time.Millisecond))
	return res
}

// idleReader closes its source when a read waits longer than idle, so that
// a stalled source is noticed whatever it is (a socket, an HTTP body).
type idleReader struct {
	rc    io.ReadCloser
	idle  time.Duration
	count func(n int)
	timer *time.Timer
	fired atomic.Bool
}

func newIdleReader(rc io.ReadCloser, idle time.Duration, count func(int)) *idleReader {
	r := &idleReader{rc: rc, idle: idle, count: count}
	r.timer = time.AfterFunc(idle, func() {
		r.fired.Store(true)
		rc.Close()
	})
	return r
}

func (r *idleReader) Read(b []byte) (int, error) {
	n, err := r.rc.Read(b)
	if n > 0 {
		if !r.fired.Load() {
			r.timer.Reset(r.idle)
		}
		r.count(n)
	}
	if err != nil && r.fired.Load() {
		err = fmt.Errorf("no data for %v: %w", r.idle, err)
	}
	return n, err
}

func (r *idleReader) idled() bool { return r.fired.Load() }

func (r *idleReader) stop() { r.timer.Stop() }
