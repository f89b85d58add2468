package playout

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tsstream/tsstream/internal/mpegts"
	"github.com/tsstream/tsstream/internal/stream"
)

// TestMain checks that no viewer leaves a goroutine behind (the stream
// context's AfterFunc, the test's own pumps and drains).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ioTimeout bounds every wait, so that a broken viewer fails the test
// instead of hanging it.
const ioTimeout = 5 * time.Second

// testFraming is a WebSocket-like framing: a 2-byte big-endian length before
// each batch, CRLF after it, and "END <reason>" when the server ends.
var testFraming = Framing{
	Header:  func(dst []byte, n int) []byte { return binary.BigEndian.AppendUint16(dst, uint16(n)) },
	Trailer: []byte("\r\n"),
	End:     func(dst []byte, reason string) []byte { return append(append(dst, "END "...), reason...) },
}

// frame returns what testFraming puts on the wire for one batch.
func frame(payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(payload)))
	return append(append(b, payload...), "\r\n"...)
}

// fixture is one raw stream with a publisher, one reader, and a loopback TCP
// connection: server is the viewer's socket, client the remote player.
type fixture struct {
	hub    *stream.Hub
	pub    *stream.Publisher
	r      *stream.Reader
	server net.Conn
	client net.Conn
	log    bytes.Buffer // the viewer's log, text; read it after Run returns
}

// newFixture sets up a stream with opts (always raw bytes). A clientBuf
// above 0 shrinks the client's receive buffer and the server's send buffer,
// so that a client that does not read stalls the server's writes after a
// few kilobytes instead of megabytes.
func newFixture(t testing.TB, opts stream.Options, clientBuf int) *fixture {
	t.Helper()
	opts.Format = mpegts.FormatRaw
	f := &fixture{hub: stream.NewHub(stream.Config{Options: func(string) stream.Options { return opts }})}
	t.Cleanup(f.hub.Close)
	var err error
	if f.pub, err = f.hub.Publish("live", stream.PublisherInfo{Protocol: "test", Remote: "publisher"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.pub.Close("test over") })

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d := net.Dialer{Timeout: ioTimeout}
	if clientBuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error { return setReceiveBuffer(c, clientBuf) }
	}
	if f.client, err = d.Dial("tcp", l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.client.Close() })
	if f.server, err = l.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.server.Close() })
	if clientBuf > 0 {
		if err := f.server.(*net.TCPConn).SetWriteBuffer(clientBuf); err != nil {
			t.Fatal(err)
		}
	}
	info := stream.ReaderInfo{Protocol: "test", Remote: f.client.LocalAddr().String()}
	if f.r, err = f.hub.NewReader("live", info); err != nil {
		t.Fatal(err)
	}
	return f
}

func setReceiveBuffer(c syscall.RawConn, size int) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
	})
	return errors.Join(err, serr)
}

// run starts a viewer of framing fr on the fixture and returns its session.
// At cleanup the session is ended (hub closed, sockets closed) and Run must
// have returned.
func (f *fixture) run(t *testing.T, ctx context.Context, fr Framing) *session {
	t.Helper()
	v := New(f.server, f.r, fr, slog.New(slog.NewTextHandler(&f.log, nil)))
	s := &session{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		start := time.Now()
		s.reason = v.Run(ctx)
		s.took = time.Since(start)
	}()
	t.Cleanup(func() {
		f.hub.Close()
		f.server.Close()
		f.client.Close()
		select {
		case <-s.done:
		case <-time.After(ioTimeout):
			t.Errorf("Run still running %v after the hub and sockets closed", ioTimeout)
		}
	})
	return s
}

// session is one Run of a viewer; reason and took are set when done closes.
type session struct {
	done   chan struct{}
	reason string
	took   time.Duration
}

// wait returns the reason Run returned, failing the test if it takes over
// ioTimeout.
func (s *session) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-s.done:
		return s.reason
	case <-time.After(ioTimeout):
		t.Fatalf("Run did not return within %v", ioTimeout)
		return ""
	}
}

// pump publishes size-byte writes every millisecond until stop is closed,
// and closes the returned channel when it has stopped.
func (f *fixture) pump(stop <-chan struct{}, size int) <-chan struct{} {
	done := make(chan struct{})
	data := bytes.Repeat([]byte{0x5a}, size)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			if _, err := f.pub.Write(data); err != nil {
				return
			}
		}
	}()
	return done
}

// readFull reads exactly len(b) bytes from the client within ioTimeout.
func (f *fixture) readFull(t *testing.T, b []byte) {
	t.Helper()
	f.client.SetReadDeadline(time.Now().Add(ioTimeout))
	if n, err := io.ReadFull(f.client, b); err != nil {
		t.Fatalf("client read %d of %d bytes: %v", n, len(b), err)
	}
}

// checkEnd checks that the stream counted exactly one cut, for reason, and
// that the viewer logged its end once, with that reason.
func (f *fixture) checkEnd(t *testing.T, reason string) {
	t.Helper()
	if cuts := f.r.Stream().Stats().Cuts; len(cuts) != 1 || cuts[reason] != 1 {
		t.Errorf("stream cuts %v, want one %q", cuts, reason)
	}
	log := f.log.String()
	value := reason
	if strings.Contains(value, " ") {
		value = strconv.Quote(value)
	}
	want := fmt.Sprintf("msg=\"viewer disconnected\" stream=live protocol=test remote=%s reason=%s ",
		f.client.LocalAddr(), value)
	if strings.Count(log, "viewer disconnected") != 1 || !strings.Contains(log, want) {
		t.Errorf("viewer log:\n%s\nwant one line containing %s", log, want)
	}
}

// TestFraming checks the exact bytes a client gets: header, payload and
// trailer for each batch, in lockstep and in bursts that batch several
// chunks, and the End bytes when the hub closes.
func TestFraming(t *testing.T) {
	f := newFixture(t, stream.Options{}, 0)
	s := f.run(t, context.Background(), testFraming)

	// Lockstep: each publish is one chunk and one batch, read before the
	// next is published.
	for i, size := range []int{1, 188, 1316, 7, 65535} {
		payload := make([]byte, size)
		for j := range payload {
			payload[j] = byte(i*31 + j)
		}
		if _, err := f.pub.Write(payload); err != nil {
			t.Fatal(err)
		}
		want := frame(payload)
		got := make([]byte, len(want))
		f.readFull(t, got)
		if !bytes.Equal(got, want) {
			t.Fatalf("publish %d (%d bytes): client got % x…, want % x…", i, size, got[:min(8, len(got))], want[:min(8, len(want))])
		}
	}

	// Burst: a viewer that is behind gets several chunks in one frame. At
	// most 64 chunks of up to 1000 bytes keeps a frame's length in 2 bytes.
	var published []byte
	for i := range 500 {
		payload := bytes.Repeat([]byte{byte(i)}, 1+i*7%1000)
		published = append(published, payload...)
		if _, err := f.pub.Write(payload); err != nil {
			t.Fatal(err)
		}
	}
	var got []byte
	frames := 0
	for len(got) < len(published) {
		var hdr [2]byte
		f.readFull(t, hdr[:])
		n := int(binary.BigEndian.Uint16(hdr[:]))
		body := make([]byte, n+2)
		f.readFull(t, body)
		if n == 0 || string(body[n:]) != "\r\n" {
			t.Fatalf("frame %d: length %d, trailer %q: want a non-empty batch and CRLF", frames, n, body[n:])
		}
		got = append(got, body[:n]...)
		frames++
	}
	if !bytes.Equal(got, published) {
		t.Fatalf("burst: client got %d bytes in %d frames, not the %d published", len(got), frames, len(published))
	}
	t.Logf("500 publishes arrived in %d frames", frames)

	// Shutdown: the End bytes follow the last frame, then nothing more.
	f.hub.Close()
	if reason := s.wait(t); reason != ReasonShutdown {
		t.Errorf("Run returned %q, want %q", reason, ReasonShutdown)
	}
	f.server.Close() // Run leaves the connection to its caller
	f.client.SetReadDeadline(time.Now().Add(ioTimeout))
	rest, err := io.ReadAll(f.client)
	if err != nil || string(rest) != "END shutdown" {
		t.Errorf("after the hub closed the client read %q, %v: want exactly %q then EOF", rest, err, "END shutdown")
	}
	f.checkEnd(t, ReasonShutdown)
}

// TestReasons ends a viewer each way it can end and checks the reason Run
// returns, the stream's cut counter and the log line.
func TestReasons(t *testing.T) {
	for _, tc := range []struct {
		name      string
		clientBuf int // see newFixture
		end       func(t *testing.T, f *fixture, cancel context.CancelCauseFunc) (stop func())
		want      string
	}{
		{"client hangs up, server writes", 0, func(_ *testing.T, f *fixture, _ context.CancelCauseFunc) func() {
			f.client.Close()
			stop := make(chan struct{})
			pumped := f.pump(stop, 1316)
			return func() { close(stop); <-pumped }
		}, ReasonClientGone},
		{"client hangs up, protocol reads EOF", 0, func(_ *testing.T, f *fixture, cancel context.CancelCauseFunc) func() {
			// As the TCP and HTTP-TS outputs do: a reader of the socket
			// cancels with ErrClientClosed when the client goes.
			read := make(chan struct{})
			go func() {
				defer close(read)
				io.Copy(io.Discard, f.server)
				cancel(ErrClientClosed)
			}()
			f.client.Close()
			return func() { <-read }
		}, ReasonClientClosed},
		{"client hangs up mid-write, protocol saw it", 4096, func(t *testing.T, f *fixture, cancel context.CancelCauseFunc) func() {
			// The write error comes after the cancel: the cause names it.
			f.stall(t)
			cancel(ErrClientClosed)
			f.client.Close() // with unread data: a reset
			return func() {}
		}, ReasonClientClosed},
		{"protocol error", 0, func(_ *testing.T, _ *fixture, cancel context.CancelCauseFunc) func() {
			cancel(ErrProtocol)
			return func() {}
		}, ReasonProtocol},
		{"cancelled without a cause", 0, func(_ *testing.T, _ *fixture, cancel context.CancelCauseFunc) func() {
			cancel(nil)
			return func() {}
		}, ReasonShutdown},
		{"hub closes", 0, func(_ *testing.T, f *fixture, _ context.CancelCauseFunc) func() {
			f.hub.Close()
			return func() {}
		}, ReasonShutdown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, stream.Options{}, tc.clientBuf)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			s := f.run(t, ctx, testFraming)
			// One batch first, so that the viewer is running for sure.
			if _, err := f.pub.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(frame([]byte("hello"))))
			f.readFull(t, got)

			stop := tc.end(t, f, cancel)
			reason := s.wait(t)
			stop()
			if reason != tc.want {
				t.Errorf("Run returned %q, want %q", reason, tc.want)
			}
			f.checkEnd(t, tc.want)
		})
	}
}

// TestShutdownWritesEnd: the End bytes follow a shutdown every time. The
// stream's close also runs Run's AfterFunc, which cuts writes with a past
// deadline; if it ran after end set its own deadline, the End write would
// fail at once. The race is narrow, hence the rounds.
func TestShutdownWritesEnd(t *testing.T) {
	const rounds = 500
	failed := 0
	for range rounds {
		f := newFixture(t, stream.Options{}, 0)
		s := f.run(t, context.Background(), testFraming)
		if _, err := f.pub.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		f.readFull(t, make([]byte, len(frame([]byte("hello")))))
		f.hub.Close()
		s.wait(t)
		f.server.Close()
		f.client.SetReadDeadline(time.Now().Add(ioTimeout))
		if rest, err := io.ReadAll(f.client); err != nil || string(rest) != "END shutdown" {
			failed++
		}
		f.client.Close()
	}
	if failed > 0 {
		t.Errorf("%d of %d shutdowns lost the End bytes", failed, rounds)
	}
}

// TestWriteTimeout: a client that never reads, fed by a fast publisher, is
// dropped once one write has waited WriteTimeout.
func TestWriteTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	f := newFixture(t, stream.Options{WriteTimeout: timeout}, 4096)
	s := f.run(t, context.Background(), testFraming)
	stop := make(chan struct{})
	pumped := f.pump(stop, 16<<10)
	defer func() { close(stop); <-pumped }()

	if reason := s.wait(t); reason != ReasonWriteTimeout {
		t.Errorf("Run returned %q, want %q", reason, ReasonWriteTimeout)
	}
	if s.took < timeout || s.took > time.Second {
		t.Errorf("Run took %v, want between the write timeout %v and 1s", s.took, timeout)
	}
	f.checkEnd(t, ReasonWriteTimeout)
}

// TestShutdownCutsFrozenWrite: when the hub closes, a write stuck on a
// client that does not read is cut at once, not at its deadline, and no End
// bytes follow the half-written frame.
func TestShutdownCutsFrozenWrite(t *testing.T) {
	const timeout = 5 * time.Second
	f := newFixture(t, stream.Options{WriteTimeout: timeout}, 4096)
	s := f.run(t, context.Background(), testFraming)
	st := f.stall(t)

	start := time.Now()
	f.hub.Close()
	reason := s.wait(t)
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Run returned %v after the hub closed, want under 500ms (write timeout %v)", took, timeout)
	}
	if reason != ReasonShutdown {
		t.Errorf("Run returned %q, want %q", reason, ReasonShutdown)
	}
	f.checkEnd(t, ReasonShutdown)

	f.server.Close()
	f.client.SetReadDeadline(time.Now().Add(ioTimeout))
	rest, err := io.ReadAll(f.client)
	if err != nil {
		t.Fatalf("client read after the close: %v", err)
	}
	// Whole frames carry exactly the bytes counted as sent; what follows is
	// the cut frame, short of its end, and no End bytes.
	payload, frames, tail := splitFrames(rest)
	if payload != st.BytesOut {
		t.Errorf("client got %d payload bytes in %d whole frames, stream counted %d sent", payload, frames, st.BytesOut)
	}
	if bytes.Contains(tail, []byte("END")) {
		t.Errorf("%d bytes after the last whole frame contain End bytes: written after a cut write", len(tail))
	}
}

// stall publishes 2 MiB, far more than the two socket buffers of a fixture
// with a small clientBuf hold and all in the ring, and waits until the
// viewer is stuck writing: its bytes sent stop moving, short of those
// published. It returns the stream's counters then.
func (f *fixture) stall(t *testing.T) stream.Stats {
	t.Helper()
	chunk := bytes.Repeat([]byte{0x5a}, 64<<10)
	for range 32 {
		if _, err := f.pub.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	st := f.r.Stream().Stats()
	for still, deadline := 0, time.Now().Add(ioTimeout); still < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("viewer not stuck: %d of %d bytes sent", st.BytesOut, st.BytesIn)
		}
		time.Sleep(50 * time.Millisecond)
		prev := st.BytesOut
		st = f.r.Stream().Stats()
		if st.BytesOut == prev && st.BytesOut < st.BytesIn {
			still++
		} else {
			still = 0
		}
	}
	return st
}

// splitFrames parses b as testFraming frames and returns the payload bytes
// and number of the whole frames, and what follows them.
func splitFrames(b []byte) (payload int64, frames int, tail []byte) {
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n+2 || string(b[2+n:2+n+2]) != "\r\n" {
			break
		}
		payload += int64(n)
		frames++
		b = b[2+n+2:]
	}
	return payload, frames, b
}

// drained returns a fixture whose client reads and discards everything,
// and a viewer of it that the caller drives with write.
func drained(tb testing.TB) (*fixture, *Viewer) {
	tb.Helper()
	f := newFixture(tb, stream.Options{}, 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			if _, err := f.client.Read(buf); err != nil {
				return
			}
		}
	}()
	tb.Cleanup(func() { f.client.Close(); <-done })
	return f, New(f.server, f.r, testFraming, nil)
}

// TestWriteAllocatesNothing: publishing a chunk and writing it to a viewer,
// framed, costs no allocation (the ring's 64 KiB block per 64 KiB of data
// rounds to zero per chunk).
func TestWriteAllocatesNothing(t *testing.T) {
	f, v := drained(t)
	data := bytes.Repeat([]byte{0x47}, 1316)
	ctx := context.Background()
	cycle := func() {
		if _, err := f.pub.Write(data); err != nil {
			t.Fatal(err)
		}
		b, err := f.r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.Len != len(data) || len(b.Bufs) != 1 {
			t.Fatalf("batch of %d bytes in %d chunks, want one of %d", b.Len, len(b.Bufs), len(data))
		}
		if err := v.write(b); err != nil {
			t.Fatal(err)
		}
	}
	cycle() // warm up: the first block, the poller's iovec slice
	// AllocsPerRun makes one more, unmeasured, call first.
	if allocs := testing.AllocsPerRun(1000, cycle); allocs != 0 {
		t.Errorf("%.2f allocations per publish and write, want 0", allocs)
	}
	if got, want := f.r.Stream().Stats().BytesOut, int64((1+1+1000)*len(data)); got != want {
		t.Errorf("stream counted %d bytes out, want %d", got, want)
	}
}

// BenchmarkViewerWrite measures one 1316-byte chunk (7 TS packets, a UDP
// datagram's worth) published, taken by the reader and written framed to a
// loopback connection.
func BenchmarkViewerWrite(b *testing.B) {
	f, v := drained(b)
	data := bytes.Repeat([]byte{0x47}, 1316)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		f.pub.Write(data)
		batch, err := f.r.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := v.write(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// slowReader reads at most 512 bytes a millisecond.
type slowReader struct{ c net.Conn }

func (r slowReader) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	return r.c.Read(p[:min(len(p), 512)])
}

// TestShortWritesStayExact: a viewer whose socket buffer fills while the
// stream's deliverer writes to it (the client pauses) gets every byte once,
// in order and framed whole, when the client reads again.
func TestShortWritesStayExact(t *testing.T) {
	f := newFixture(t, stream.Options{}, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.run(t, ctx, testFraming)
	var writes [][]byte
	var want []byte
	for i := range 400 {
		data := bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 50+i%50)
		writes = append(writes, data)
		want = append(want, data...)
	}
	go func() {
		for _, data := range writes {
			f.pub.Write(data)
			time.Sleep(200 * time.Microsecond)
		}
	}()
	// The client reads a third slower than the stream comes: the socket
	// fills, and the deliverer's writes are short or find no room.
	var got []byte
	f.client.SetReadDeadline(time.Now().Add(ioTimeout))
	br := bufio.NewReaderSize(slowReader{f.client}, 16)
	for len(got) < len(want) {
		var hdr [2]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
		p := make([]byte, int(binary.BigEndian.Uint16(hdr[:]))+2)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
		if !bytes.HasSuffix(p, []byte("\r\n")) {
			t.Fatalf("after %d bytes: a frame of %d bytes does not end in CRLF", len(got), len(p)-2)
		}
		got = append(got, p[:len(p)-2]...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("client got %d bytes, differing from the %d published", len(got), len(want))
	}
	// The last write is counted just after the client could read it.
	for deadline := time.Now().Add(ioTimeout); ; time.Sleep(time.Millisecond) {
		n := f.r.Stream().Stats().BytesOut
		if n == int64(len(want)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream counts %d bytes out, want %d", n, len(want))
		}
	}
}
