package push

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/tstest"

	"github.com/tsstream/tsstream/internal/mpegts"
	"github.com/tsstream/tsstream/internal/stream"
)

// TestTCPForwardsAndReconnects: a receiver gets exactly the bytes published
// while it is connected; killed and restarted on the same port, it is
// reconnected within the backoff and gets the stream again from where a
// new reader starts (the live edge here: no PAT/PMT), not the bytes
// published while it was down.
func TestTCPForwardsAndReconnects(t *testing.T) {
	hub := newHub(t, stream.Options{Format: mpegts.FormatTS})
	pub := publish(t, hub, "live")
	l := listen(t, "127.0.0.1:0")
	addr := l.Addr().String()
	p := startPusher(t, Config{Hub: hub, Stream: "live", Targets: targets(t, "tcp://"+addr)})

	c1 := accept(t, l, ioTimeout)
	waitState(t, p, 0, StateUp)
	if n := readers(hub, "live", "push-tcp"); n != 1 {
		t.Fatalf("%d push-tcp readers, want 1", n)
	}
	first := tstest.Packets(0, 700)
	write(t, pub, first, 7*188)
	tstest.SameBytes(t, "first connection", readN(t, c1, len(first)), first)
	nothingMore(t, c1, 50*time.Millisecond)

	// Kill the receiver mid-stream.
	l.Close()
	c1.Close()
	st := waitState(t, p, 0, StateBackoff)
	if st.Reconnects != 0 || st.BytesSent != int64(len(first)) || st.LastError == "" {
		t.Errorf("after the receiver died: %+v; want no reconnects, %d bytes sent, an error", st, len(first))
	}
	write(t, pub, tstest.Packets(700, 100), 188*10) // lost to the target: nobody listens
	time.Sleep(100 * time.Millisecond)              // a refused attempt or two

	restarted := time.Now()
	l2 := listen(t, addr)
	c2 := accept(t, l2, p.cfg.MaxBackoff+time.Second)
	st = waitState(t, p, 0, StateUp)
	t.Logf("reconnected %v after the restart", time.Since(restarted).Round(time.Millisecond))
	if st.Reconnects != 1 {
		t.Errorf("Reconnects = %d, want 1 (%+v)", st.Reconnects, st)
	}
	if n := readers(hub, "live", "push-tcp"); n != 1 {
		t.Errorf("%d push-tcp readers after the reconnect, want 1 (the old one closed)", n)
	}
	second := tstest.Packets(800, 500)
	write(t, pub, second, 188*20)
	tstest.SameBytes(t, "second connection", readN(t, c2, len(second)), second)
	nothingMore(t, c2, 50*time.Millisecond)
	waitSent(t, p, 0, int64(len(first)+len(second)))
	if st := p.Stats()[0]; st.BytesSent != int64(len(first)+len(second)) || st.Drops != 0 {
		t.Errorf("stats %+v: want %d bytes sent, no drops", st, len(first)+len(second))
	}
}

// TestTCPStartsAtKeyframe: a target that connects to a TS video stream
// starts cleanly, like a viewer: PAT, PMT, then the stream from a keyframe
// (the GOP cache), so that the downstream can decode from its first byte.
func TestTCPStartsAtKeyframe(t *testing.T) {
	data, err := os.ReadFile("../mpegts/testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	var x mpegts.Indexer
	keys := map[int64]bool{}
	for _, k := range x.Feed(data) {
		keys[k*mpegts.PacketSize] = true
	}
	if len(keys) < 2 {
		t.Fatalf("%d keyframes in the test file, want 2 or more", len(keys))
	}

	hub := newHub(t, stream.Options{Format: mpegts.FormatTS})
	pub := publish(t, hub, "live")
	write(t, pub, data, 188*7)
	l := listen(t, "127.0.0.1:0")
	startPusher(t, Config{Hub: hub, Stream: "live", Targets: targets(t, "tcp://"+l.Addr().String())})
	c := accept(t, l, ioTimeout)

	psi := readN(t, c, 2*mpegts.PacketSize)
	if pid := int(psi[1]&0x1f)<<8 | int(psi[2]); psi[0] != mpegts.SyncByte || pid != 0 {
		t.Fatalf("first packet: PID %#x, want the PAT (0)", pid)
	}
	// Then the file from one of its keyframes.
	got := readN(t, c, mpegts.PacketSize)
	start := bytes.Index(data, got)
	for start >= 0 && !keys[int64(start)] {
		next := bytes.Index(data[start+1:], got)
		if next < 0 {
			start = -1
			break
		}
		start += 1 + next
	}
	if start < 0 {
		t.Fatalf("the packet after the PAT/PMT is not a keyframe of the file")
	}
	got = append(got, readN(t, c, len(data)-start-len(got))...)
	tstest.SameBytes(t, "from the keyframe", got, data[start:])
	nothingMore(t, c, 50*time.Millisecond)
}

// TestTCPFrozenTargetIsCut: a target that accepts and never reads stalls
// nobody. The other targets get every byte promptly; the publisher never
// waits; the frozen one is cut (write timeout) and reconnected; Close
// cuts a write stuck on it at once.
func TestTCPFrozenTargetIsCut(t *testing.T) {
	hub := newHub(t, stream.Options{Format: mpegts.FormatTS, RingBytes: 16 << 20})
	pub := publish(t, hub, "live")
	good := listen(t, "127.0.0.1:0")
	frozen := listenSmallBuffer(t)
	p := startPusher(t, Config{Hub: hub, Stream: "live", WriteTimeout: 500 * time.Millisecond,
		Targets: targets(t, "tcp://"+good.Addr().String(), "tcp://"+frozen.Addr().String())})
	g := accept(t, good, ioTimeout)
	accept(t, frozen, ioTimeout) // never read
	waitState(t, p, 0, StateUp)
	waitState(t, p, 1, StateUp)

	// The good receiver reads as it comes, in the background.
	const packets = 40000 // 7.5 MB, more than the socket buffers take
	want := tstest.Packets(0, packets)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(want))
		g.SetReadDeadline(time.Now().Add(3 * ioTimeout))
		n, _ := io.ReadFull(g, b)
		got <- b[:n]
	}()
	var slowest time.Duration
	for off := 0; off < len(want); off += 348 * 188 {
		start := time.Now()
		write(t, pub, want[off:min(off+348*188, len(want))], 348*188)
		slowest = max(slowest, time.Since(start))
		time.Sleep(time.Millisecond)
	}
	published := time.Now()
	select {
	case b := <-got:
		tstest.SameBytes(t, "good target", b, want)
		if d := time.Since(published); d > time.Second {
			t.Errorf("good target had everything %v after the last write, want under 1s", d)
		}
	case <-time.After(3 * ioTimeout):
		t.Fatal("good target: no data")
	}
	if slowest > 100*time.Millisecond {
		t.Errorf("a publisher write took %v: the frozen target slowed the stream", slowest)
	}
	waitSent(t, p, 0, int64(len(want)))
	st := p.Stats()
	if st[0].Drops != 0 || st[0].Reconnects != 0 || st[0].BytesSent != int64(len(want)) {
		t.Errorf("good target: %+v; want no drops or reconnects, %d bytes", st[0], len(want))
	}
	waitFor(t, ioTimeout, func() bool {
		st = p.Stats()
		return st[1].Drops >= 1 && st[1].Reconnects >= 1
	}, func() string { return fmt.Sprintf("frozen target: %+v; want a drop and a reconnect", st[1]) })
	t.Logf("frozen target: %+v", st[1])

	// The reconnected frozen target gets stuck again in a write (the ring
	// holds what it has not sent): Close must cut it at once instead of
	// waiting for the write timeout.
	before := p.Stats()[1].BytesSent
	more := tstest.Packets(packets, 40000)
	write(t, pub, more, 348*188)
	time.Sleep(50 * time.Millisecond)
	if st := p.Stats()[1]; st.State != StateUp || st.BytesSent-before >= int64(len(more)) {
		t.Fatalf("frozen target took everything or was cut already, not stuck: %+v", st)
	}
	start := time.Now()
	p.Close()
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("Close took %v with a write stuck on a frozen target", d)
	}
}

// TestTCPSlowTargetJumpsAhead: a target that falls out of the ring jumps
// ahead to where a new reader would start, like a viewer; Drops and
// DroppedBytes account for exactly what it missed.
func TestTCPSlowTargetJumpsAhead(t *testing.T) {
	hub := newHub(t, stream.Options{Format: mpegts.FormatTS, RingBytes: 256 << 10, MaxSkips: 1000})
	pub := publish(t, hub, "live")
	l := listenSmallBuffer(t)
	p := startPusher(t, Config{Hub: hub, Stream: "live", WriteTimeout: ioTimeout, Targets: targets(t, "tcp://"+l.Addr().String())})
	c := accept(t, l, ioTimeout)
	waitState(t, p, 0, StateUp)

	// First packets, sent, so that the pusher knows where the target is
	// in the stream; then 8 MB while the target does not read: more than
	// the socket buffers and the ring hold.
	const burst = 45000
	all := tstest.Packets(0, burst)
	write(t, pub, all[:10*188], 10*188)
	waitFor(t, ioTimeout, func() bool { return p.Stats()[0].BytesSent > 0 }, // the aligner may hold the last packet
		func() string { return fmt.Sprintf("first packets not sent: %+v", p.Stats()[0]) })
	write(t, pub, all[10*188:], 348*188)
	// Now it reads; whatever it gets is the stream with gaps.
	got := make(chan []byte, 1)
	go func() {
		var b []byte
		buf := make([]byte, 64<<10)
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		for len(b) < 188 || tstest.Number(b[len(b)-188:]) != burst+99 {
			n, err := c.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- b
	}()
	// Once it has caught up, the last 100 packets.
	time.Sleep(200 * time.Millisecond)
	write(t, pub, tstest.Packets(burst, 100), 100*188)
	b := <-got
	if len(b)%188 != 0 || len(b) == 0 || tstest.Number(b[len(b)-188:]) != burst+99 {
		t.Fatalf("target got %d bytes, not up to the last packet", len(b))
	}
	// Packet numbers only go up; the gaps are what it missed.
	missed := 0
	for i, prev := 0, int64(-1); i < len(b); i += 188 {
		n := tstest.Number(b[i:])
		if n <= prev {
			t.Fatalf("packet %d is number %d after %d", i/188, n, prev)
		}
		missed += int(n - prev - 1)
		prev = n
	}
	waitSent(t, p, 0, int64(len(b)))
	st := p.Stats()[0]
	t.Logf("missed %d packets; %+v", missed, st)
	total := int64((burst + 100) * 188)
	if st.Drops < 1 || st.DroppedBytes != int64(missed*188) || st.BytesSent != int64(len(b)) || st.BytesSent+st.DroppedBytes != total {
		t.Errorf("stats %+v: want drops, %d bytes dropped, %d sent, adding up to %d", st, missed*188, len(b), total)
	}
}

// listenSmallBuffer opens a TCP listener whose connections have a 4 KiB
// receive buffer, so that a receiver that does not read stalls the
// sender after kilobytes instead of megabytes.
func listenSmallBuffer(t *testing.T) net.Listener {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
