package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
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
	reasonPath     = "upstream's relay path changed"
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

	mu      sync.Mutex // guards st and refusal
	st      SourceStats
	refusal *StatusError // the latest attempt's 404 or 508; nil otherwise
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

// noteRefusal keeps err if it is a 404 (no such stream) or a 508 (a loop)
// from the source, and forgets the previous one otherwise.
func (s *source) noteRefusal(err error) {
	se, ok := errors.AsType[*StatusError](err)
	if !ok || se.Code != http.StatusNotFound && se.Code != http.StatusLoopDetected {
		se = nil
	}
	s.mu.Lock()
	s.refusal = se
	s.mu.Unlock()
}

// result says how a session ended.
type result struct {
	up   time.Duration // how long the source published; 0: it never did
	err  error         // why it ended
	stop bool          // the puller or the hub closed
	held bool          // another publisher has the stream
	// again: the source asks to be asked again at once, its relay path
	// having changed (resume.go).
	again bool
}

// session opens the source and publishes what it sends until it fails,
// idles, ends or the puller closes. A reliable link continues the session
// kept in rs when the source resumes at its exact byte, and keeps its own
// for the next session.
func (s *source) session(ctx context.Context, rs *resume) result {
	s.set(StateConnecting, nil)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	now := s.p.cfg.Now()
	if rs.pub != nil && now.Sub(rs.dropped) > s.p.cfg.ResumeWindow {
		rs.release("resume window passed")
	}
	off, ring := rs.query(s, now, s.p.cfg.ResumeWindow)
	rc, sv, err := s.open(sctx, off, ring)
	s.noteRefusal(err)
	if err != nil {
		if ctx.Err() != nil {
			return result{err: errStop, stop: true}
		}
		s.set(StateConnecting, err)
		return result{err: err}
	}
	pub, res, ok := s.publisher(rs, sv, off, ring)
	if !ok {
		rc.Close()
		return res
	}

	start := s.p.cfg.Now()
	s.sessions++
	s.count(func(st *SourceStats) { st.Reconnects, st.Path = s.sessions-1, sv.path })
	s.set(StateUp, nil)
	s.p.setErr(nil)
	s.log.Info("pull connected", "protocol", s.proto, "reconnects", s.sessions-1, "resumed", rs.pub == pub)

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

	res = result{up: s.p.cfg.Now().Sub(start)}
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
	case err == nil && changed(sv):
		path, _ := sv.pathChanged()
		reason, res.again = reasonPath, true
		res.err = fmt.Errorf("the source's relay path changed from %s to %s", strings.Join(sv.path, ","), strings.Join(path, ","))
	case err == nil:
		reason, res.err = reasonEnded, errors.New("the source ended the stream")
	default:
		reason, res.err = reasonError, err
	}
	if s.p.cfg.Reliable && sv.ring != "" && !res.stop && !res.held && pub.Err() == nil && n >= sv.prefix {
		// Keep the session open for a resume at the next byte.
		*rs = resume{pub: pub, src: s, ring: sv.ring, next: sv.offset + n - sv.prefix, dropped: s.p.cfg.Now()}
	} else {
		*rs = resume{}
		pub.Close(reason)
	}
	if !res.stop {
		s.set(StateConnecting, res.err)
	}
	level := slog.LevelInfo
	if !res.stop && !res.again {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, "pull disconnected", "reason", reason, "err", res.err,
		"bytes", n, "duration", res.up.Round(time.Millisecond), "resumable", rs.pub != nil)
	return res
}

// publisher returns the publisher session for what the source serves: the
// one kept in rs when the source resumes at its exact byte, else a new one
// (the kept one ends first). The gap of a failed resume is counted.
func (s *source) publisher(rs *resume, sv served, off int64, ring string) (*stream.Publisher, result, bool) {
	if ring != "" {
		switch {
		case sv.ring == ring && sv.offset == off:
			s.count(func(st *SourceStats) { st.Resumes++ })
			rs.pub.SetPath(sv.path) // the path may have changed meanwhile
			return rs.pub, result{}, true
		case sv.ring == ring && sv.offset > off:
			lost := sv.offset - off
			s.count(func(st *SourceStats) { st.Gaps++; st.LostBytes += lost })
			s.log.Warn("reliable pull lost bytes: the upstream's ring no longer holds them",
				"lost_bytes", lost, "from_offset", off, "resumed_at", sv.offset)
		default:
			s.count(func(st *SourceStats) { st.Gaps++ })
			s.log.Warn("reliable pull cannot resume: the upstream's stream restarted (new ring); bytes in between are lost",
				"ring", ring, "new_ring", sv.ring)
		}
	}
	if rs.pub != nil {
		rs.release("resume not possible")
	}
	pub, err := s.p.cfg.Hub.Publish(s.p.cfg.Stream, stream.PublisherInfo{Protocol: s.proto, Remote: s.name, Path: sv.path})
	if err == nil {
		return pub, result{}, true
	}
	switch {
	case errors.Is(err, stream.ErrPublisherActive):
		return nil, result{err: err, held: true}, false
	case errors.Is(err, stream.ErrHubClosed), errors.Is(err, stream.ErrClosed), errors.Is(err, stream.ErrBadName):
		return nil, result{err: fmt.Errorf("%w: %w", errStop, err), stop: true}, false
	}
	return nil, result{err: err}, false
}

// changed reports whether a source's answer ended for a new relay path.
func changed(sv served) bool {
	_, ok := sv.pathChanged()
	return ok
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
