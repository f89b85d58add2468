package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/tstest"

	gws "github.com/gorilla/websocket"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/node"
)

type harness struct {
	n              *node.Node
	http           string // address of the HTTP server
	good           *goodFlow
	baseGoroutines int // counted after Start, before the good flow
	baseFDs        int
	logs           *logSink
}

// newHarness starts a node with every listener on 127.0.0.1:0 and the good
// flow, and shuts the node down when the test ends.
func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith is newHarness with the configuration changed by mod
// (listeners, streams, auth) before the node starts.
func newHarnessWith(t *testing.T, mod func(*config.Config)) *harness {
	t.Helper()
	const lo = "127.0.0.1:0"
	cfg := config.Default()
	cfg.Name, cfg.DefaultStream = "hostile", "good"
	cfg.HTTP.Listen = lo
	cfg.HTTP.ReadHeaderTimeout = config.Duration(time.Second)
	tcp, udp := []string{"tcp"}, []string{"udp"}
	cfg.Ingest = []config.Ingest{
		{Listen: lo, Stream: "good", Protocols: tcp}, {Listen: lo, Stream: "junk", Protocols: tcp},
		{Listen: lo, Stream: "junkudp", Protocols: udp}, {Listen: lo, Stream: "tsjunk", Protocols: tcp},
		{Listen: lo, Stream: "churn", Protocols: tcp},
	}
	cfg.Play = []config.Play{{Listen: lo, Stream: "good", Protocol: "ws"}, {Listen: lo, Stream: "good", Protocol: "tcp"}}
	cfg.Streams = map[string]config.StreamOptions{"tsjunk": {Format: "ts"}}
	if mod != nil {
		mod(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	logs := &logSink{}
	h := &harness{logs: logs}
	n := node.New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), "test")
	if err := n.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { // registered before Shutdown's, so it runs after it
		if lines := logs.matching("panic"); len(lines) > 0 {
			t.Errorf("the node logged a panic:\n%s", strings.Join(lines, ""))
		}
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	h.n, h.http, h.baseGoroutines, h.baseFDs = n, n.Addr("http", "http"), runtime.NumGoroutine(), openFDs(t)
	h.good = h.startGood(t)
	return h
}

// addr returns the address of the listener with role, protocol and stream.
func (h *harness) addr(t *testing.T, role, protocol, name string) string {
	t.Helper()
	for _, l := range h.n.Listeners() {
		if l.Role == role && l.Protocol == protocol && l.Stream == name {
			return l.Address
		}
	}
	t.Fatalf("no %s %s listener of stream %q", role, protocol, name)
	return ""
}

// eventually polls cond until it returns "" (satisfied); on timeout it
// fails with cond's last description of what is still wrong.
func eventually(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, why)
		}
	}
}

// streamState waits until stream name has no publisher and check, given
// its stats, returns "".
func (h *harness) streamState(t *testing.T, name string, check func(format string, in, dropped int64) string) {
	t.Helper()
	eventually(t, 5*time.Second, func() string {
		s := h.n.Hub().Get(name)
		if s == nil {
			return "no stream " + name
		}
		st := s.Stats()
		if st.Publisher != nil {
			return "stream " + name + " still has its publisher"
		}
		return check(st.Format, st.BytesIn, st.DroppedIn)
	})
}

// logSink is the node's log, kept in memory.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// matching returns the lines that contain word, ignoring case.
func (s *logSink) matching(word string) (lines []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for line := range strings.Lines(s.buf.String()) {
		if strings.Contains(strings.ToLower(line), word) {
			lines = append(lines, line)
		}
	}
	return lines
}

// Test packets: a TS header, the counter as 16 letters a-p, and a filler
// derived from the counter. No byte but the first is 0x47, so garbage next
// to them can fake a packet start only with its own bytes.
func appendPackets(dst []byte, from, n int) []byte {
	for seq := from; seq < from+n; seq++ {
		dst = append(dst, 0x47, 0x01, 0x00, 0x10|byte(seq&0xf))
		for shift := 60; shift >= 0; shift -= 4 {
			dst = append(dst, 'a'+byte(seq>>shift&0xf))
		}
		for i := 20; i < 188; i++ {
			b := byte(seq*31 + i)
			if b == 0x47 {
				b++
			}
			dst = append(dst, b)
		}
	}
	return dst
}

func packet(seq int) []byte { return appendPackets(nil, seq, 1) }

// seqOf returns the counter of one of our packets, or -1 for anything else.
func seqOf(p []byte) int {
	seq := 0
	for _, c := range p[4:20] {
		if c < 'a' || c > 'a'+15 {
			return -1
		}
		seq = seq<<4 | int(c-'a')
	}
	if !bytes.Equal(p, packet(seq)) {
		return -1
	}
	return seq
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// collector gathers what a viewer receives until read fails.
type collector struct {
	mu   sync.Mutex
	buf  []byte
	err  error // why receiving ended
	done chan struct{}
	stop func() // closes the viewer and waits for the read loop
}

func collect(t *testing.T, read func() ([]byte, error), closer func() error) *collector {
	c := &collector{done: make(chan struct{})}
	var once sync.Once
	c.stop = func() { once.Do(func() { closer(); <-c.done }) }
	go func() {
		defer close(c.done)
		for err := error(nil); err == nil; {
			var b []byte
			b, err = read()
			c.mu.Lock()
			c.buf, c.err = append(c.buf, b...), err
			c.mu.Unlock()
		}
	}()
	t.Cleanup(c.stop)
	return c
}

// wait returns what was received once ok holds for it.
func (c *collector) wait(t *testing.T, who string, ok func([]byte) bool) (got []byte) {
	t.Helper()
	eventually(t, 10*time.Second, func() string {
		c.mu.Lock()
		defer c.mu.Unlock()
		if got = c.buf[:len(c.buf):len(c.buf)]; ok(got) {
			return ""
		}
		return fmt.Sprintf("%s: got %d bytes (receiving ended: %v)", who, len(got), c.err)
	})
	return got
}

// viewWS plays path of the HTTP server with a real WebSocket client; with
// align > 0, every message must be a run of align-byte packets.
func (h *harness) viewWS(t *testing.T, path string, align int) *collector {
	t.Helper()
	conn, _, err := gws.DefaultDialer.Dial("ws://"+h.http+path, nil)
	if err != nil {
		t.Fatalf("websocket viewer of %s: %v", path, err)
	}
	return collect(t, func() ([]byte, error) {
		typ, msg, err := conn.ReadMessage()
		if err == nil && (typ != gws.BinaryMessage || align > 0 && len(msg)%align != 0) {
			return nil, fmt.Errorf("message of type %d and %d bytes; want binary runs of %d-byte packets", typ, len(msg), align)
		}
		return msg, err
	}, conn.Close)
}

func (h *harness) viewHTTPTS(t *testing.T, name string) *collector {
	t.Helper()
	resp, err := plainClient.Get("http://" + h.http + "/live/" + name + ".ts")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP-TS viewer of %s: %v %v", name, resp, err)
	}
	buf := make([]byte, 32<<10)
	return collect(t, func() ([]byte, error) {
		n, err := resp.Body.Read(buf)
		return buf[:n], err
	}, resp.Body.Close)
}

// goodFlow is the legitimate publisher and viewer of stream "good".
type goodFlow struct {
	view       *collector
	pub        net.Conn
	sent       atomic.Int64 // packets written
	err        error        // write error, set before done closes
	stop, done chan struct{}
	once       sync.Once
	finished   bool
}

// startGood connects the viewer, then publishes 7 packets every 2 ms.
func (h *harness) startGood(t *testing.T) *goodFlow {
	t.Helper()
	g := &goodFlow{view: h.viewWS(t, "/ws/good", 188), stop: make(chan struct{}), done: make(chan struct{})}
	g.pub = dial(t, h.addr(t, "ingest", "tcp", "good"))
	go func() {
		defer close(g.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		var buf []byte
		for {
			select {
			case <-g.stop:
				return
			case <-tick.C:
			}
			seq := int(g.sent.Load())
			if _, g.err = g.pub.Write(appendPackets(buf[:0], seq, 7)); g.err != nil {
				return
			}
			g.sent.Store(int64(seq + 7))
		}
	}()
	t.Cleanup(g.halt)
	return g
}

func (g *goodFlow) halt() { g.once.Do(func() { close(g.stop); <-g.done; g.pub.Close() }) }

// finish ends the publisher once it has run a while and checks that the
// viewer got every byte published, in order, and nothing else.
func (g *goodFlow) finish(t *testing.T) {
	t.Helper()
	if g.finished {
		return
	}
	g.finished = true
	eventually(t, 10*time.Second, func() string {
		if n := g.sent.Load(); n < 140 {
			return fmt.Sprintf("the good publisher wrote only %d packets", n)
		}
		return ""
	})
	g.halt()
	if g.err != nil {
		t.Errorf("good publisher: %v", g.err)
	}
	want := appendPackets(nil, 0, int(g.sent.Load()))
	tstest.SameBytes(t, "viewer of good", g.view.wait(t, "viewer of good", func(b []byte) bool { return len(b) >= len(want) }), want)
	g.view.stop()
}
