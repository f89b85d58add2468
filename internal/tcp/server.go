// Package tcp serves raw TCP: publishers push a stream's bytes to an ingest
// port, and viewers read a stream's bytes from a play port.
package tcp

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("tcp: server closed")

// server runs an accept loop and tracks the connection goroutines so that
// Close can wait for them.
type server struct {
	handle func(net.Conn)
	log    *slog.Logger

	mu     sync.Mutex
	ln     []net.Listener
	closed bool
	wg     sync.WaitGroup
}

func (s *server) serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.ln = append(s.ln, l)
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of file descriptors: the listener is still good,
				// so wait and retry rather than spin or give up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
		}()
	}
}

// close stops accepting and waits for the connection goroutines, which end
// when the hub closes their streams.
func (s *server) close() error {
	s.mu.Lock()
	s.closed = true
	var err error
	for _, l := range s.ln {
		err = errors.Join(err, l.Close())
	}
	s.ln = nil
	s.mu.Unlock()
	s.wg.Wait()
	return err
}
