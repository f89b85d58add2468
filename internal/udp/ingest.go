// Package udp receives streams published as UDP datagrams (ffmpeg's
// udp://host:port?pkt_size=1316).
package udp

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/tsstream/tsstream/internal/stream"
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("udp: server closed")

// DefaultIdleTimeout ends a UDP publisher's session when no datagram came
// for this long, so that another source may publish.
const DefaultIdleTimeout = 5 * time.Second

// refusedLogEvery limits the log lines about datagrams from a second source.
const refusedLogEvery = 10 * time.Second

// Ingest publishes the datagrams arriving on a packet connection to one
// stream. The first source to send becomes the publisher; datagrams from
// other sources are dropped (and logged) while it is live.
type Ingest struct {
	Hub         *stream.Hub
	Stream      string
	IdleTimeout time.Duration // zero means DefaultIdleTimeout
	Log         *slog.Logger  // nil discards

	mu     sync.Mutex
	pc     net.PacketConn
	closed bool
	done   chan struct{}
}

// Serve reads datagrams from pc until Close.
func (in *Ingest) Serve(pc net.PacketConn) error {
	in.mu.Lock()
	if in.closed || in.pc != nil {
		in.mu.Unlock()
		return ErrServerClosed
	}
	in.pc, in.done = pc, make(chan struct{})
	in.mu.Unlock()
	defer close(in.done)
	s := session{in: in, log: in.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	err := s.run(pc)
	in.mu.Lock()
	closed := in.closed
	in.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	return err
}

// Close stops reading and waits for Serve to return.
func (in *Ingest) Close() error {
	in.mu.Lock()
	in.closed = true
	pc, done := in.pc, in.done
	in.mu.Unlock()
	if pc == nil {
		return nil
	}
	err := pc.Close()
	<-done
	return err
}

// session is the state of the read loop.
type session struct {
	in        *Ingest
	log       *slog.Logger
	pub       *stream.Publisher
	src       string
	last      time.Time // last datagram from src
	refusedAt time.Time
	refused   int64
}

func (s *session) run(pc net.PacketConn) error {
	idle := s.in.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	buf := make([]byte, 64<<10)
	defer s.stop("listener closed")
	for {
		pc.SetReadDeadline(time.Now().Add(idle / 4))
		n, addr, err := pc.ReadFrom(buf)
		now := time.Now()
		if s.pub != nil && now.Sub(s.last) >= idle {
			s.stop("idle for " + idle.String())
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.datagram(buf[:n], addr.String(), now)
	}
}

func (s *session) datagram(b []byte, src string, now time.Time) {
	if s.pub != nil && s.pub.Err() != nil { // taken over, or shutting down
		s.stop(s.pub.Err().Error())
	}
	if s.pub == nil {
		p, err := s.in.Hub.Publish(s.in.Stream, stream.PublisherInfo{Protocol: "udp", Remote: src})
		if err != nil {
			s.refuse(src, now, err)
			return
		}
		s.pub, s.src = p, src
	}
	if src != s.src {
		s.refuse(src, now, errors.New("another source is publishing "+s.src))
		return
	}
	s.last = now
	s.pub.Write(b)
}

func (s *session) refuse(src string, now time.Time, err error) {
	s.refused++
	if now.Sub(s.refusedAt) < refusedLogEvery {
		return
	}
	s.refusedAt = now
	s.log.Warn("datagrams refused", "stream", s.in.Stream, "protocol", "udp", "remote", src,
		"err", err, "refused_total", s.refused)
}

func (s *session) stop(reason string) {
	if s.pub != nil {
		s.pub.Close(reason)
		s.pub, s.src = nil, ""
	}
}
