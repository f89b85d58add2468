package push

import (
	"bytes"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/tstest"

	"github.com/tsstream/tsstream/internal/mpegts"
	"github.com/tsstream/tsstream/internal/stream"
)

// udpReceiver listens on 127.0.0.1:0 with a large receive buffer.
func udpReceiver(t *testing.T) *net.UDPConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	uc := pc.(*net.UDPConn)
	uc.SetReadBuffer(4 << 20)
	return uc
}

// readDatagrams reads datagrams until they hold n bytes.
func readDatagrams(t *testing.T, c *net.UDPConn, n int) [][]byte {
	t.Helper()
	var list [][]byte
	total := 0
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	for total < n {
		m, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d datagrams, %d of %d bytes: %v", len(list), total, n, err)
		}
		list = append(list, bytes.Clone(buf[:m]))
		total += m
	}
	return list
}

// TestUDPDatagramsAreWholePackets: every datagram is at most 7 TS packets,
// whole ones, and together they are the stream, in order.
func TestUDPDatagramsAreWholePackets(t *testing.T) {
	hub := newHub(t, stream.Options{Format: mpegts.FormatTS})
	pub := publish(t, hub, "live")
	rc := udpReceiver(t)
	p := startPusher(t, Config{Hub: hub, Stream: "live", Targets: targets(t, "udp://"+rc.LocalAddr().String())})
	waitState(t, p, 0, StateUp)
	waitFor(t, ioTimeout, func() bool { return readers(hub, "live", "push-udp") == 1 },
		func() string { return "no push-udp reader" })

	var want []byte
	next := 0
	for _, n := range []int{1, 3, 7, 10, 50, 2, 13, 6, 8, 100, 1} { // packets per write
		b := tstest.Packets(next, n)
		next += n
		want = append(want, b...)
		write(t, pub, b, len(b))
	}
	var got []byte
	for i, d := range readDatagrams(t, rc, len(want)) {
		if len(d) > maxDatagram || len(d)%mpegts.PacketSize != 0 || d[0] != mpegts.SyncByte {
			t.Fatalf("datagram %d: %d bytes starting % x; want whole TS packets, at most %d bytes", i, len(d), d[:min(4, len(d))], maxDatagram)
		}
		got = append(got, d...)
	}
	tstest.SameBytes(t, "datagrams", got, want)
	// The counter moves once the send returns, maybe after the receiver
	// already has the datagram.
	waitFor(t, ioTimeout, func() bool { st := p.Stats()[0]; return st.BytesSent == int64(len(want)) && st.SendErrors == 0 },
		func() string { return fmt.Sprintf("stats %+v: want %d bytes sent, no errors", p.Stats()[0], len(want)) })
}

// TestUDPRawPieces: a raw stream goes out in 1316-byte pieces, the last
// piece of a batch shorter.
func TestUDPRawPieces(t *testing.T) {
	hub := newHub(t, stream.Options{Format: mpegts.FormatRaw})
	pub := publish(t, hub, "live")
	rc := udpReceiver(t)
	p := startPusher(t, Config{Hub: hub, Stream: "live", Targets: targets(t, "udp://"+rc.LocalAddr().String())})
	waitState(t, p, 0, StateUp)
	waitFor(t, ioTimeout, func() bool { return readers(hub, "live", "push-udp") == 1 },
		func() string { return "no push-udp reader" })

	for _, n := range []int{5000, 100, 1316} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		write(t, pub, b, n) // one chunk, one batch: wait for it before the next
		var sizes []int
		var got []byte
		for _, d := range readDatagrams(t, rc, n) {
			sizes = append(sizes, len(d))
			got = append(got, d...)
		}
		var want []int
		for left := n; left > 0; left -= maxDatagram {
			want = append(want, min(left, maxDatagram))
		}
		if fmt.Sprint(sizes) != fmt.Sprint(want) || !bytes.Equal(got, b) {
			t.Errorf("%d bytes went out as datagrams of %v, want %v (same bytes: %v)", n, sizes, want, bytes.Equal(got, b))
		}
	}
}

// TestUDPCoalesces: small chunks of one batch share datagrams; a chunk
// bigger than a datagram is cut on packet boundaries.
func TestUDPCoalesces(t *testing.T) {
	rc := udpReceiver(t)
	p := New(Config{Targets: targets(t, "udp://"+rc.LocalAddr().String())})
	l, err := p.targets[0].dialUDP(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	pk := func(first, n int) []byte { return tstest.Packets(first, n) }
	b := stream.Batch{Bufs: [][]byte{pk(0, 3), pk(3, 10), pk(13, 1), pk(14, 16), pk(30, 2)}}
	for _, p := range b.Bufs {
		b.Len += len(p)
	}
	n, err := l.write(b)
	if err != nil || n != b.Len {
		t.Fatalf("write: %d of %d bytes, %v", n, b.Len, err)
	}
	var sizes []int
	var got []byte
	for _, d := range readDatagrams(t, rc, b.Len) {
		sizes = append(sizes, len(d)/mpegts.PacketSize)
		got = append(got, d...)
	}
	// 3+4 | 6+1 | 7 | 7 | 2+2
	if want := "[7 7 7 7 4]"; fmt.Sprint(sizes) != want {
		t.Errorf("packets per datagram %v, want %s", sizes, want)
	}
	tstest.SameBytes(t, "coalesced", got, pk(0, 32))
}

// TestUDPSendErrorsCounted: nobody listens (ICMP port unreachable comes
// back on loopback); the target stays up, counts the failed sends and
// keeps sending.
func TestUDPSendErrorsCounted(t *testing.T) {
	hub := newHub(t, stream.Options{Format: mpegts.FormatTS})
	pub := publish(t, hub, "live")
	rc := udpReceiver(t)
	addr := rc.LocalAddr().String()
	rc.Close()
	p := startPusher(t, Config{Hub: hub, Stream: "live", Targets: targets(t, "udp://"+addr)})
	waitState(t, p, 0, StateUp)
	waitFor(t, ioTimeout, func() bool { return readers(hub, "live", "push-udp") == 1 },
		func() string { return "no push-udp reader" })
	var st TargetStats
	waitFor(t, ioTimeout, func() bool {
		write(t, pub, tstest.Packets(0, 7), 7*188)
		st = p.Stats()[0]
		return st.SendErrors >= 2
	}, func() string { return fmt.Sprintf("stats %+v: want 2 send errors or more", st) })
	if st.State != StateUp || st.Reconnects != 0 || st.LastError == "" {
		t.Errorf("stats %+v: want up, no reconnects, the last error", st)
	}
}

// TestUDPMulticastOptions: ttl= and iface= are set on the socket before it
// connects; with iface=lo the group's datagrams come back on loopback.
func TestUDPMulticastOptions(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no lo interface: %v", err)
	}
	group := net.IPv4(239, 255, 42, 99)
	rc, err := net.ListenMulticastUDP("udp4", lo, &net.UDPAddr{IP: group})
	if err != nil {
		t.Skipf("cannot join a multicast group on lo here: %v", err)
	}
	defer rc.Close()
	port := rc.LocalAddr().(*net.UDPAddr).Port
	p := New(Config{Targets: targets(t, fmt.Sprintf("udp://%s:%d?ttl=3&iface=lo", group, port))})
	l, err := p.targets[0].dialUDP(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	u := l.(*udpLink)
	raw, err := u.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ttl int
	var ifaddr [4]byte
	raw.Control(func(fd uintptr) {
		ttl, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL)
		a, _ := syscall.GetsockoptInet4Addr(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF)
		ifaddr = a
	})
	if ttl != 3 || ifaddr != [4]byte{127, 0, 0, 1} {
		t.Errorf("IP_MULTICAST_TTL %d, IP_MULTICAST_IF %v; want 3 and 127.0.0.1", ttl, ifaddr)
	}
	want := tstest.Packets(0, 7)
	b := stream.Batch{Bufs: [][]byte{want}, Len: len(want)}
	if _, err := l.write(b); err != nil {
		t.Fatal(err)
	}
	rc.SetReadBuffer(1 << 20)
	got := readDatagrams(t, rc, len(want))
	tstest.SameBytes(t, "multicast", bytes.Join(got, nil), want)
}
