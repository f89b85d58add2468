package playout

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tsstream/tsstream/internal/stream"
)

// TestMaxUnsentKeepsBacklogInRing: a viewer that stops reading holds at
// most its receive buffer and MaxUnsent in the kernel; the rest of its
// backlog stays in the ring, so that it falls out of the ring and skips
// ahead as the policy says. With the bound set past the kernel's own
// (net.ipv4.tcp_wmem), the kernel takes megabytes and the viewer never
// falls out: the case the bound is for.
func TestMaxUnsentKeepsBacklogInRing(t *testing.T) {
	const (
		published = 2 << 20
		ring      = 512 << 10
	)
	tests := []struct {
		name      string
		maxUnsent int64
		bounded   bool
	}{
		{"64KiB", 64 << 10, true},
		{"default", 0, true},
		{"kernel", 1 << 30, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, stream.Options{RingBytes: ring, MaxUnsent: tc.maxUnsent, WriteTimeout: ioTimeout}, 0)
			s := f.run(t, context.Background(), Framing{})
			lowat := sockoptInt(t, f.server, unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT)
			want := tc.maxUnsent
			if want == 0 {
				want = stream.DefaultMaxUnsent
			}
			if int64(lowat) != want {
				t.Errorf("TCP_NOTSENT_LOWAT = %d, want %d", lowat, want)
			}
			rcvbuf := sockoptInt(t, f.client, unix.SOL_SOCKET, unix.SO_RCVBUF)

			// 16 MB/s: a viewer whose kernel takes everything keeps up.
			chunk := bytes.Repeat([]byte{0x5a}, 16<<10)
			for range published / len(chunk) {
				if _, err := f.pub.Write(chunk); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Millisecond)
			}
			held := settled(t, f.server, f.client)
			t.Logf("kernel took %d of %d bytes (client SO_RCVBUF %d)", held, published, rcvbuf)

			got := drain(t, f.client)
			st := f.r.Stream().Stats()
			if !tc.bounded {
				// The control: how much the kernel takes on its own
				// depends on its autotuning and on how loaded the
				// machine is, so it is checked only where it took all.
				if held < published {
					t.Skipf("the kernel took %d of %d bytes without a bound (skips %d)", held, published, st.Skips)
				}
				if st.Skips != 0 || len(got) != published {
					t.Errorf("skips %d, client got %d of %d bytes without a bound, want 0 and all", st.Skips, len(got), published)
				}
				return
			}
			// Past the bound one write may still queue a segment of up to
			// 64 KiB; then writes stall.
			if limit := int64(rcvbuf) + want + 64<<10; int64(held) > limit {
				t.Errorf("kernel took %d bytes, want at most %d (receive buffer + max_unsent + 64 KiB)", held, limit)
			}
			if st.Skips < 1 || st.SkipBytes == 0 {
				t.Errorf("skips %d (%d bytes), want at least 1: the backlog should have left the ring", st.Skips, st.SkipBytes)
			}
			if int64(len(got)) != st.BytesOut || len(got) >= published {
				t.Errorf("client got %d bytes, stream counted %d sent, %d published", len(got), st.BytesOut, published)
			}
			f.hub.Close()
			if reason := s.wait(t); reason != ReasonShutdown {
				t.Errorf("Run returned %q, want %q", reason, ReasonShutdown)
			}
		})
	}
}

// settled waits until the bytes the kernel holds between server and
// client (the server's send queue and the client's receive queue) stop
// moving for 150 ms, and returns them.
func settled(t *testing.T, server, client net.Conn) int {
	t.Helper()
	prev := -1
	for still := 0; still < 3; {
		time.Sleep(50 * time.Millisecond)
		n := sockIoctl(t, server, unix.SIOCOUTQ) + sockIoctl(t, client, unix.SIOCINQ)
		if n == prev {
			still++
		} else {
			still, prev = 0, n
		}
	}
	return prev
}

// drain reads from c until nothing came for 200 ms.
func drain(t *testing.T, c net.Conn) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 64<<10)
	for {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() || err == io.EOF {
				return got
			}
			t.Fatalf("client read: %v", err)
		}
	}
}

func sockIoctl(t *testing.T, c net.Conn, req uint) int {
	t.Helper()
	return sockCall(t, c, func(fd int) (int, error) { return unix.IoctlGetInt(fd, req) })
}

func sockoptInt(t *testing.T, c net.Conn, level, opt int) int {
	t.Helper()
	return sockCall(t, c, func(fd int) (int, error) { return unix.GetsockoptInt(fd, level, opt) })
}

func sockCall(t *testing.T, c net.Conn, call func(fd int) (int, error)) int {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = call(int(fd)) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

// TestExactReaderUnbounded: a reliable link's reader never skips, so its
// socket keeps the kernel's buffering.
func TestExactReaderUnbounded(t *testing.T) {
	f := newFixture(t, stream.Options{MaxUnsent: 64 << 10}, 0)
	f.r.Close("replaced")
	var err error
	f.r, _, err = f.r.Stream().NewReaderAt(stream.ReaderInfo{Protocol: "test", Remote: f.client.LocalAddr().String(), Relay: true}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	f.run(t, context.Background(), Framing{})
	if lowat := sockoptInt(t, f.server, unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT); lowat == 64<<10 {
		t.Errorf("TCP_NOTSENT_LOWAT = %d on an exact reader's socket, want the kernel's own", lowat)
	}
}

// inner is a connection wrapped as the guard wraps them.
type inner struct{ net.Conn }

func (c inner) Inner() net.Conn { return c.Conn }

// TestTCPConnUnwraps: the bound reaches the socket under a TLS or guarded
// connection, and leaves other connections alone.
func TestTCPConnUnwraps(t *testing.T) {
	f := newFixture(t, stream.Options{}, 0)
	tc := f.server.(*net.TCPConn)
	tests := []struct {
		name string
		conn net.Conn
		want *net.TCPConn
	}{
		{"tcp", tc, tc},
		{"guarded", inner{tc}, tc},
		{"tls over guarded", tls.Server(inner{tc}, &tls.Config{}), tc},
		{"pipe", func() net.Conn { a, b := net.Pipe(); b.Close(); return a }(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tcpConn(tt.conn); got != tt.want {
				t.Errorf("tcpConn = %v, want %v", got, tt.want)
			}
		})
	}
}
