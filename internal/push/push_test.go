package push

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/tstest"

	"go.uber.org/goleak"

	"github.com/tsstream/tsstream/internal/stream"
)

// TestMain checks that Close leaves no goroutine behind: targets, their
// helper readers, the cutters' AfterFuncs, test servers.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ioTimeout bounds every wait, so that a broken pusher fails the test
// instead of hanging it.
const ioTimeout = 5 * time.Second

// testLogLevel shows the pusher's state changes in `go test -v` output.
const testLogLevel = slog.LevelInfo

// newHub returns a hub whose streams have opts; it is closed at cleanup.
func newHub(t *testing.T, opts stream.Options) *stream.Hub {
	t.Helper()
	h := stream.NewHub(stream.Config{Options: func(string) stream.Options { return opts }})
	t.Cleanup(h.Close)
	return h
}

// publish makes the publisher of stream name, closed at cleanup.
func publish(t *testing.T, h *stream.Hub, name string) *stream.Publisher {
	t.Helper()
	p, err := h.Publish(name, stream.PublisherInfo{Protocol: "test", Remote: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close("test over") })
	return p
}

// write publishes b in pieces of at most n bytes.
func write(t *testing.T, p *stream.Publisher, b []byte, n int) {
	t.Helper()
	for len(b) > 0 {
		k := min(n, len(b))
		if _, err := p.Write(b[:k]); err != nil {
			t.Fatal(err)
		}
		b = b[k:]
	}
}

// targets parses urls.
func targets(t *testing.T, urls ...string) []Target {
	t.Helper()
	var list []Target
	for _, u := range urls {
		tg, err := ParseTarget(u)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, tg)
	}
	return list
}

// startPusher starts a pusher with quick test timings where cfg leaves
// them zero, logging to the test, and closes it at cleanup.
func startPusher(t *testing.T, cfg Config) *Pusher {
	t.Helper()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 400 * time.Millisecond
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel}))
	}
	p := New(cfg)
	p.Start()
	t.Cleanup(p.Close)
	return p
}

// waitFor polls cond every 5 ms until it holds or timeout passes; then it
// fails with what describes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState waits until target i of p is in state.
// waitSent waits until target i of p counts n bytes sent: the counter moves
// once a write returns, which may be after the receiver has the bytes.
func waitSent(t *testing.T, p *Pusher, i int, n int64) {
	t.Helper()
	waitFor(t, ioTimeout, func() bool { return p.Stats()[i].BytesSent == n },
		func() string { return fmt.Sprintf("target %d: %d bytes sent, want %d", i, p.Stats()[i].BytesSent, n) })
}

func waitState(t *testing.T, p *Pusher, i int, state string) TargetStats {
	t.Helper()
	var st TargetStats
	waitFor(t, ioTimeout, func() bool {
		st = p.Stats()[i]
		return st.State == state
	}, func() string { return fmt.Sprintf("target %d: %+v, want state %s", i, st, state) })
	return st
}

// readers returns how many readers of protocol stream name has.
func readers(h *stream.Hub, name, protocol string) int {
	s := h.Get(name)
	if s == nil {
		return 0
	}
	return s.Stats().Readers[protocol]
}

// listen opens a TCP listener on address, closed at cleanup.
func listen(t *testing.T, address string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// accept waits for one connection on l, closed at cleanup.
func accept(t *testing.T, l net.Listener, timeout time.Duration) net.Conn {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(timeout):
		l.Close() // ends the Accept
		<-ch
		t.Fatalf("no connection on %s within %v", l.Addr(), timeout)
		return nil
	}
}

// readN reads n bytes from c within ioTimeout.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	b := make([]byte, n)
	m, err := io.ReadFull(c, b)
	if err != nil {
		t.Fatalf("read %d of %d bytes: %v", m, n, err)
	}
	return b
}

// nothingMore fails if c yields any byte within d.
func nothingMore(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	var b [188]byte
	if n, err := c.Read(b[:]); n > 0 {
		t.Errorf("%d unexpected bytes (packet number %d); err %v", n, tstest.Number(b[:n]), err)
	}
}

// readStream reads n bytes from a stream reader within ioTimeout.
func readStream(t *testing.T, r *stream.Reader, n int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	var got []byte
	for len(got) < n {
		b, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", len(got), n, err)
		}
		for _, p := range b.Bufs {
			got = append(got, p...)
		}
	}
	return got
}

func TestBackoff(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, 2 * time.Second
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	cases := []struct {
		name string
		n    int
		rnd  float64
		hold bool
		want time.Duration
	}{
		{"first, no jitter drawn", 1, 0, false, ms(100)},
		{"first, top of jitter", 1, 1, false, ms(200)},
		{"second, top", 2, 1, false, ms(400)},
		{"third, top", 3, 1, false, ms(800)},
		{"fourth, top", 4, 1, false, ms(1600)},
		{"fifth, capped", 5, 1, false, ms(2000)},
		{"fifth, middle", 5, 0.5, false, ms(1050)},
		{"second, middle", 2, 0.5, false, ms(250)},
		{"many, never below lo", 40, 0, false, ms(100)},
		{"overflow-sized n, capped", 1000, 0.999, false, lo + time.Duration(0.999*float64(hi-lo))},
		{"hold (409/508): at least hi/4", 1, 0, true, ms(500)},
		{"hold, higher when jitter says so", 5, 1, true, ms(2000)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := backoff(c.n, lo, hi, c.rnd, c.hold); got != c.want {
				t.Errorf("backoff(%d, rnd %v, hold %v) = %v, want %v", c.n, c.rnd, c.hold, got, c.want)
			}
		})
	}
	// Growth: with any jitter, each wait is within [lo, min(hi, lo·2ⁿ)].
	for n := 1; n < 12; n++ {
		for _, rnd := range []float64{0, 0.3, 0.7, 0.999} {
			got := backoff(n, lo, hi, rnd, false)
			if got < lo || got > min(hi, lo<<n) {
				t.Errorf("backoff(%d, rnd %v) = %v, outside [%v, %v]", n, rnd, got, lo, min(hi, lo<<n))
			}
		}
	}
}

// TestBackoffUsesRand dials a port nobody listens on: the waits between
// attempts follow Config.Rand, so attempts in a fixed time tell the
// schedule apart.
func TestBackoffUsesRand(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close() // refused from now on
	hub := newHub(t, stream.Options{})
	cases := []struct {
		name     string
		rnd      float64
		min, max int64
	}{
		// 20ms each time: about 50 in a second.
		{"no jitter: always MinBackoff", 0, 20, 60},
		// 40, 80, 160, then 160ms: about 8 in a second.
		{"top of jitter: doubling to MaxBackoff", 1, 4, 11},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := startPusher(t, Config{Hub: hub, Stream: "live", Targets: targets(t, "tcp://"+addr),
				MinBackoff: 20 * time.Millisecond, MaxBackoff: 160 * time.Millisecond,
				Rand: func() float64 { return c.rnd }})
			time.Sleep(time.Second)
			p.Close()
			st := p.Stats()[0]
			if st.Failures < c.min || st.Failures > c.max {
				t.Errorf("%d failed attempts in 1s, want %d to %d", st.Failures, c.min, c.max)
			}
			if st.State != StateStopped || st.Reconnects != 0 || st.BytesSent != 0 {
				t.Errorf("after Close: %+v, want stopped, no reconnects, no bytes", st)
			}
		})
	}
}

// TestStreamCloseStopsTargets: when the hub closes (node shutdown), every
// target stops on its own; Close returns at once.
func TestStreamCloseStopsTargets(t *testing.T) {
	hub := newHub(t, stream.Options{})
	l := listen(t, "127.0.0.1:0")
	p := startPusher(t, Config{Hub: hub, Stream: "live", Targets: targets(t, "tcp://"+l.Addr().String())})
	c := accept(t, l, ioTimeout)
	waitState(t, p, 0, StateUp)
	hub.Close()
	waitState(t, p, 0, StateStopped)
	// The target hung up.
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("target read %d bytes, %v; want EOF", n, err)
	}
	start := time.Now()
	p.Close()
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Close took %v after the targets stopped", d)
	}
}

// TestBadURLReportedNotStarted: New takes targets as they come; one that
// does not parse is stopped with the error, the others run.
func TestBadURLReportedNotStarted(t *testing.T) {
	hub := newHub(t, stream.Options{})
	l := listen(t, "127.0.0.1:0")
	p := startPusher(t, Config{Hub: hub, Stream: "live",
		Targets: []Target{{URL: "ftp://x"}, {URL: "tcp://" + l.Addr().String()}}})
	accept(t, l, ioTimeout)
	waitState(t, p, 1, StateUp)
	st := p.Stats()[0]
	if st.State != StateStopped || st.LastError != `push target "ftp://x": use tcp://, udp:// or http://` {
		t.Errorf("bad target: %+v", st)
	}
}
