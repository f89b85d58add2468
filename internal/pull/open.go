package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tsstream/tsstream/internal/relay"
)

// PathHeader is the relay path header: an HTTP pull sends the nodes it
// fetches for, so that an upstream tsstream that finds itself on the path
// refuses it (508) instead of closing a loop.
const PathHeader = relay.PathHeader

// udpReadBuffer is the socket buffer asked for a UDP source: a burst of
// a fast stream must not overflow it between reads.
const udpReadBuffer = 4 << 20

// newClient returns the HTTP client of HTTP sources: no proxy from the
// environment, no shared connections, and a bound on the wait for the
// response headers. The body has no deadline: idleReader watches it.
func newClient(dialTimeout time.Duration) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: dialTimeout}).DialContext,
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: dialTimeout,
		DisableKeepAlives:     true,
		DisableCompression:    true,
	}}
}

// open connects to the source; reading the result yields the stream. A
// reliable link asks an HTTP source for offset off of ring (see resume.go).
func (s *source) open(ctx context.Context, off int64, ring string) (io.ReadCloser, served, error) {
	switch s.o.scheme {
	case "tcp":
		d := net.Dialer{Timeout: s.p.cfg.DialTimeout}
		c, err := d.DialContext(ctx, "tcp", s.o.addr)
		return c, served{}, err
	case "udp":
		rc, err := s.openUDP(ctx)
		return rc, served{}, err
	default:
		return s.openHTTP(ctx, off, ring)
	}
}

func (s *source) openHTTP(ctx context.Context, off int64, ring string) (io.ReadCloser, served, error) {
	u := s.o.url.String()
	if s.p.cfg.Reliable {
		u = withOffset(s.o.url, off, ring)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, served{}, err
	}
	req.Header.Set("User-Agent", "tsstream")
	if path := s.p.requestPath(); len(path) > 0 {
		req.Header.Set(PathHeader, strings.Join(path, ","))
	}
	resp, err := s.p.client.Do(req)
	if err != nil {
		// The URL in a *url.Error would show the query's secrets; the
		// source is named in logs and stats already.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, served{}, err
	}
	if resp.StatusCode == http.StatusOK {
		sv := parseServed(resp.Header)
		sv.trailer = func() http.Header { return resp.Trailer }
		if node := s.p.cfg.Node; node != "" && slices.Contains(sv.path, node) {
			// The source's data comes through this node: taking it would
			// close a loop (a ring of relays that pull from each other).
			resp.Body.Close()
			return nil, served{}, &StatusError{Code: http.StatusLoopDetected, Status: "508 Loop Detected",
				Body: fmt.Sprintf("the source's data comes through this node (%s) already: relay path %s; check the pull sources",
					node, strings.Join(sv.path, " -> "))}
		}
		return resp.Body, sv, nil
	}
	cut := time.AfterFunc(s.p.cfg.DialTimeout, func() { resp.Body.Close() })
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	cut.Stop()
	resp.Body.Close()
	return nil, served{}, &StatusError{Code: resp.StatusCode, Status: resp.Status, Body: strings.Join(strings.Fields(string(body)), " ")}
}

// StatusError is an HTTP source's answer other than 200 OK: 404 (no such
// stream), 508 (a relay loop), 503 …
type StatusError struct {
	Code   int
	Status string // "404 Not Found"
	Body   string // the start of the body, on one line
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return "the source answered " + e.Status
	}
	return fmt.Sprintf("the source answered %s: %s", e.Status, e.Body)
}

// openUDP binds the source's address (joining it, for a multicast group)
// and returns once the first datagram has come, so that a silent address
// does not hold the stream's publisher slot.
func (s *source) openUDP(ctx context.Context) (io.ReadCloser, error) {
	var (
		conn *net.UDPConn
		err  error
	)
	if s.o.group {
		var addr *net.UDPAddr
		addr, err = net.ResolveUDPAddr("udp", s.o.addr)
		if err == nil {
			conn, err = net.ListenMulticastUDP("udp", nil, addr)
		}
	} else {
		var pc net.PacketConn
		pc, err = (&net.ListenConfig{}).ListenPacket(ctx, "udp", s.o.addr)
		if err == nil {
			conn = pc.(*net.UDPConn)
		}
	}
	if err != nil {
		return nil, err
	}
	conn.SetReadBuffer(udpReadBuffer) // best effort: the kernel may cap it
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, 64<<10)
	conn.SetReadDeadline(time.Now().Add(s.p.cfg.IdleTimeout))
	n, err := conn.Read(buf)
	if err != nil {
		conn.Close()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("no datagram on %s for %v", s.o.addr, s.p.cfg.IdleTimeout)
		}
		return nil, err
	}
	conn.SetReadDeadline(time.Time{})
	return &firstThen{first: buf[:n], conn: conn}, nil
}

// firstThen yields the datagram that opened a UDP source, then the rest.
type firstThen struct {
	first []byte
	conn  *net.UDPConn
}

func (f *firstThen) Read(b []byte) (int, error) {
	if len(f.first) > 0 {
		n := copy(b, f.first)
		f.first = f.first[n:]
		return n, nil
	}
	return f.conn.Read(b)
}

func (f *firstThen) Close() error { return f.conn.Close() }
