package httpserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tsstream/tsstream/internal/guard"
	"github.com/tsstream/tsstream/internal/relay"
	"github.com/tsstream/tsstream/internal/stream"
)

// Reliable pushes, the receiving side (the pusher's side and the exchange
// are in internal/push/reliable.go). A reliable push asks where to go on,
// then publishes from there:
//
//	HEAD /publish/NAME        Tsstream-Ring: R        the pusher's ring of the stream
//	200                       Tsstream-Ring: H        the ring of the session kept for NAME
//	                          Tsstream-Offset: N      its next byte wanted; -1 (no ring): none
//	POST /publish/NAME        Tsstream-Ring: R, Tsstream-Offset: S, Tsstream-Prefix: P
//
// A POST that carries Tsstream-Ring is a reliable publisher. Its session is
// kept when its body breaks off (the connection is cut before the last
// chunk): the stream keeps the publisher, so its viewers see no break,
// for up to ResumeWindow, with N = S + bytes read - P as the next byte
// wanted. A POST of ring H at offset N without a prefix continues it;
// any other POST of the stream ends it first (a gap is logged). The
// session ends at once when its body ends cleanly (the pusher stopped for
// good), when its publisher is stopped (takeover, shutdown), and when a
// plain HTTP publisher of the stream comes. While it is kept, TCP and UDP
// publishers of the stream are refused as for any live publisher.
//
// A HEAD or POST of ring R while a request of ring R still reads into the
// session (the old connection has not noticed the cut) stops that read
// first, so that N is the exact byte.

// defaultResumeWindow is how long a reliable push's session is kept after
// its connection broke.
const defaultResumeWindow = time.Minute

// stopReadWait bounds the wait for an old request of a reliable push to
// let go of its session.
const stopReadWait = 2 * time.Second

// keptPush is the session of a reliable push of one stream; guarded by
// pushResumes.mu.
type keptPush struct {
	ring   string
	pub    *stream.Publisher
	next   int64       // while dormant: the next byte wanted, an offset of ring
	read   *pushRead   // while a request reads into pub; nil: dormant
	expire *time.Timer // while dormant
}

// pushRead is a request reading into a kept session.
type pushRead struct {
	stop     chan struct{} // closed to make it let go
	stopOnce sync.Once
	done     chan struct{} // closed once it let go
}

func newPushRead() *pushRead {
	return &pushRead{stop: make(chan struct{}), done: make(chan struct{})}
}

func (r *pushRead) halt() { r.stopOnce.Do(func() { close(r.stop) }) }

// pushResumes are the kept sessions of reliable pushes, by stream name.
type pushResumes struct {
	mu     sync.Mutex
	kept   map[string]*keptPush
	closed bool
}

// settleLocked waits, s.mu held on entry and on return, until no request
// of ring reads into the kept session of stream name: it stops such a read
// and waits up to stopReadWait for it to let go.
func (s *pushResumes) settleLocked(name, ring string) {
	k := s.kept[name]
	if k == nil || k.read == nil || k.ring != ring || ring == "" {
		return
	}
	rd := k.read
	s.mu.Unlock()
	rd.halt()
	select {
	case <-rd.done:
	case <-time.After(stopReadWait):
	}
	s.mu.Lock()
}

// offer returns what the HEAD of a reliable push of ring answers: the kept
// session's ring and next byte, or "" and -1.
func (s *pushResumes) offer(name, ring string) (string, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked(name, ring)
	if k := s.kept[name]; k != nil && k.read == nil && k.pub.Err() == nil {
		return k.ring, k.next
	}
	return "", -1
}

// claim returns the kept session of stream name if a POST of ring at
// offset off with prefix bytes of PAT/PMT continues it (then the request
// reads into it, with rd). Otherwise it ends the dormant session, if any,
// logging why, and returns nil.
func (s *pushResumes) claim(srv *Server, name, ring string, off, prefix int64) (*keptPush, *pushRead) {
	s.mu.Lock()
	s.settleLocked(name, ring)
	k := s.kept[name]
	if k == nil || k.read != nil {
		s.mu.Unlock()
		return nil, nil
	}
	if k.ring == ring && k.next == off && prefix == 0 && k.pub.Err() == nil && !s.closed {
		k.expire.Stop()
		k.read = newPushRead()
		s.mu.Unlock()
		return k, k.read
	}
	delete(s.kept, name)
	k.expire.Stop()
	s.mu.Unlock()
	switch {
	case k.ring != ring:
		srv.log().Warn("reliable push starts a new session: it comes from another ring (the pushing node's stream restarted)",
			"stream", name, "ring", ring, "kept_ring", k.ring)
	case off > k.next:
		srv.log().Warn("reliable push lost bytes: the pushing node's ring no longer held them",
			"stream", name, "lost_bytes", off-k.next, "from_offset", k.next, "resumed_at", off)
	default:
		srv.log().Warn("reliable push starts a new session", "stream", name, "offset", off, "prefix", prefix,
			"kept_next", k.next)
	}
	k.pub.Close("reliable push not resumed")
	return nil, nil
}

// add records the new session of a reliable push, read by rd.
func (s *pushResumes) add(name, ring string, pub *stream.Publisher) *pushRead {
	rd := newPushRead()
	s.mu.Lock()
	if s.kept == nil {
		s.kept = make(map[string]*keptPush)
	}
	s.kept[name] = &keptPush{ring: ring, pub: pub, read: rd}
	s.mu.Unlock()
	return rd
}

// letGo ends the read rd of the kept session of stream name: with keep,
// the session waits window for a resume at byte next; else it ends. It
// returns whether the caller must close the publisher.
func (s *pushResumes) letGo(srv *Server, name string, rd *pushRead, keep bool, next int64, window time.Duration) (closePub bool) {
	s.mu.Lock()
	defer close(rd.done)
	defer s.mu.Unlock()
	k := s.kept[name]
	if k == nil || k.read != rd {
		return true
	}
	k.read = nil
	if !keep || s.closed {
		delete(s.kept, name)
		return true
	}
	k.next = next
	k.expire = time.AfterFunc(window, func() {
		s.mu.Lock()
		if s.kept[name] != k || k.read != nil {
			s.mu.Unlock()
			return
		}
		delete(s.kept, name)
		s.mu.Unlock()
		srv.log().Warn("reliable push session ended: no resume within the window", "stream", name, "window", window)
		k.pub.Close("resume window passed")
	})
	return false
}

// release ends the dormant session of stream name, if any, for another
// publisher.
func (s *pushResumes) release(srv *Server, name string) {
	s.mu.Lock()
	k := s.kept[name]
	if k == nil || k.read != nil {
		s.mu.Unlock()
		return
	}
	delete(s.kept, name)
	k.expire.Stop()
	s.mu.Unlock()
	srv.log().Info("reliable push session ended: another publisher came", "stream", name)
	k.pub.Close("another publisher came")
}

// close ends every dormant session, at shutdown.
func (s *pushResumes) close() {
	s.mu.Lock()
	s.closed = true
	var dormant []*keptPush
	for name, k := range s.kept {
		if k.read == nil {
			k.expire.Stop()
			dormant = append(dormant, k)
			delete(s.kept, name)
		}
	}
	s.mu.Unlock()
	for _, k := range dormant {
		k.pub.Close("shutdown")
	}
}

// publishOffset answers HEAD /publish/NAME: where a reliable push of the
// stream goes on.
func (s *Server) publishOffset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	err := s.checkPath(relayPath(r.Header.Get(pathHeader)))
	if err == nil && s.Guard != nil {
		var release func()
		if release, err = s.Guard.Publish(r, name); err == nil {
			release() // the HEAD publishes nothing
		}
	}
	if err != nil {
		if !errors.As(err, new(*guard.Refusal)) {
			s.log().Warn("reliable push refused", "stream", name, "remote", s.remote(r), "err", err)
		}
		w.WriteHeader(statusOf(err))
		return
	}
	ring, next := s.resumes.offer(name, r.Header.Get(relay.RingHeader))
	if ring != "" {
		w.Header().Set(relay.RingHeader, ring)
	}
	w.Header().Set(relay.OffsetHeader, strconv.FormatInt(next, 10))
	w.Header().Set("Cache-Control", "no-store")
}

// publishReliable takes the POST of a reliable push (see above), checked
// for its relay path and by the guard already.
func (s *Server) publishReliable(w http.ResponseWriter, r *http.Request, name, remote string, path []string) {
	ring := r.Header.Get(relay.RingHeader)
	off, err1 := strconv.ParseInt(r.Header.Get(relay.OffsetHeader), 10, 64)
	prefix, err2 := strconv.ParseInt(r.Header.Get(relay.PrefixHeader), 10, 64)
	if err1 != nil || err2 != nil || off < 0 || prefix < 0 {
		s.refusePublish(w, name, remote, fmt.Errorf("%w: a reliable push (%s) needs %s and %s: non-negative byte counts",
			errBadRequest, relay.RingHeader, relay.OffsetHeader, relay.PrefixHeader))
		return
	}
	k, rd := s.resumes.claim(s, name, ring, off, prefix)
	var pub *stream.Publisher
	if k != nil {
		pub = k.pub
		pub.SetPath(path) // the data may come another way now
		s.log().Info("reliable push resumed at the exact byte", "stream", name, "remote", remote, "offset", off)
	} else {
		var err error
		pub, err = s.Hub.Publish(name, stream.PublisherInfo{Protocol: "http", Remote: remote, Path: path})
		if err != nil {
			s.refusePublish(w, name, remote, err)
			return
		}
		rd = s.resumes.add(name, ring, pub)
	}
	n, err := s.readInto(w, r, name, pub, rd.stop)
	// A cut (an error from the body, not from the publisher) keeps the
	// session; the end of the body ends it.
	keep := err != nil && pub.Err() == nil && n >= prefix
	window := s.ResumeWindow
	if window <= 0 {
		window = defaultResumeWindow
	}
	if s.resumes.letGo(s, name, rd, keep, off+n-prefix, window) {
		pub.Close(stream.EndReason(err))
	} else {
		s.log().Info("reliable push broke off: its session is kept for a resume", "stream", name,
			"remote", remote, "next_offset", off+n-prefix, "window", window, "err", err)
	}
	s.answerPublish(w, name, n, err)
}

// readInto publishes the request body with pub until it ends, pub is
// stopped, or stop closes; it returns the bytes read and why it ended.
func (s *Server) readInto(w http.ResponseWriter, r *http.Request, name string, pub *stream.Publisher,
	stop <-chan struct{}) (int64, error) {
	rc := http.NewResponseController(w)
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-pub.Done(): // taken over or shutting down: unblock the body read
			rc.SetReadDeadline(time.Now())
		case <-stop:
			rc.SetReadDeadline(time.Now())
		case <-done:
		}
	}()
	var body io.Reader = r.Body
	if s.Guard != nil {
		m := s.Guard.Meter(name, r.Body, rc.SetReadDeadline)
		defer m.Stop()
		body = m
	}
	n, err := pub.ReadFrom(body)
	close(done)
	<-watched
	return n, err
}
