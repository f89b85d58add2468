package playout

import (
	"math"
	"net"

	"golang.org/x/sys/unix"
)

// limitUnsent bounds the bytes the kernel holds for conn's socket that are
// not yet sent (TCP_NOTSENT_LOWAT): past n, writes stall as on a full
// buffer. Without it the kernel grows a socket's send buffer to megabytes
// (net.ipv4.tcp_wmem) for a viewer that reads slowly, and the backlog
// piles up there, out of the ring's sight: the reader never falls out of
// the ring and the skip policy never sees it. Only unsent bytes count, not
// those in flight, so a viewer's throughput over a long round trip is not
// capped. Connections that are not TCP are left as they are.
func limitUnsent(conn net.Conn, n int64) error {
	tc := tcpConn(conn)
	if tc == nil || n <= 0 {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, int(min(n, math.MaxInt32)))
	})
	if err != nil {
		return err
	}
	return serr
}

// tcpConn returns the TCP connection under conn: conn itself, or the one
// under a TLS or guarded connection; nil when there is none.
func tcpConn(conn net.Conn) *net.TCPConn {
	for range 4 {
		switch c := conn.(type) {
		case *net.TCPConn:
			return c
		case interface{ NetConn() net.Conn }: // *tls.Conn
			conn = c.NetConn()
		case interface{ Inner() net.Conn }: // a guarded connection
			conn = c.Inner()
		default:
			return nil
		}
	}
	return nil
}
