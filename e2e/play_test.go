package e2e

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// capture is one viewer's copy of a stream, filled by a goroutine until the
// server ends the session.
type capture struct {
	name string
	done chan struct{}

	mu       sync.Mutex
	data     bytes.Buffer
	messages int
	badMsg   string // first WebSocket message that was not whole TS packets
	err      error  // how the session ended: nil for a clean HTTP end
}

func (c *capture) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data.Len()
}

// wait waits for the session to end and returns what was received.
func (c *capture) wait(t *testing.T, timeout time.Duration) []byte {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("%s: session still open %v after the server stopped", c.name, timeout)
	}
	return c.data.Bytes()
}

// playHTTP reads an HTTP-TS play URL until the response ends.
func playHTTP(t *testing.T, label, url string) *capture {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp2t" {
		t.Fatalf("GET %s: %s, Content-Type %q; want 200 video/mp2t", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	c := &capture{name: label, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			c.mu.Lock()
			c.data.Write(buf[:n])
			if err != nil {
				if !errors.Is(err, io.EOF) {
					c.err = err
				}
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// playWS reads a WebSocket play URL until the connection ends, checking
// that every message is a run of whole TS packets.
func playWS(t *testing.T, label, url string) *capture {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("WebSocket %s: %v (response %v)", url, err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	c := &capture{name: label, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			typ, msg, err := conn.ReadMessage()
			c.mu.Lock()
			if err != nil {
				c.err = err
				c.mu.Unlock()
				return
			}
			c.messages++
			if bad := tsPacketsProblem(msg); bad != "" && c.badMsg == "" {
				c.badMsg = fmt.Sprintf("message %d: %s", c.messages, bad)
			}
			if typ != websocket.BinaryMessage && c.badMsg == "" {
				c.badMsg = fmt.Sprintf("message %d: type %d, want binary", c.messages, typ)
			}
			c.data.Write(msg)
			c.mu.Unlock()
		}
	}()
	return c
}

// tsPacketsProblem says what keeps b from being whole 188-byte TS packets.
func tsPacketsProblem(b []byte) string {
	if len(b) == 0 || len(b)%188 != 0 {
		return fmt.Sprintf("%d bytes, not a multiple of 188", len(b))
	}
	for i := 0; i < len(b); i += 188 {
		if b[i] != 0x47 {
			return fmt.Sprintf("packet at byte %d starts with %#x, not the 0x47 sync byte", i, b[i])
		}
	}
	return ""
}

// waitViewers waits until the stream has the given number of viewers by
// protocol.
func waitViewers(t *testing.T, s *server, name string, want map[string]int) {
	t.Helper()
	waitUntil(t, 10*time.Second, fmt.Sprintf("viewers %v on %q", want, name), func() bool {
		got := s.stats(t, name).Viewers
		for proto, n := range want {
			if got[proto] != n {
				return false
			}
		}
		return true
	})
}

// TestWebSocketMatchesHTTP plays one session to an HTTP-TS viewer and three
// WebSocket viewers (/ws/NAME, /live/NAME.ts with an upgrade, the -ws
// listener on any path), all connected before the publisher: each gets
// the same bytes, the published stream from its first keyframe on,
// WebSocket messages being whole TS packets, and a 1001 close when the
// server stops.
func TestWebSocketMatchesHTTP(t *testing.T) {
	requireFFmpeg(t)
	s := startServer(t)
	ref := playHTTP(t, "http-ts", "http://"+s.HTTP+"/live/live.ts")
	viewers := []*capture{
		playWS(t, "ws-path", "ws://"+s.HTTP+"/ws/live"),
		playWS(t, "live-ts-upgrade", "ws://"+s.HTTP+"/live/live.ts"),
		playWS(t, "ws-listener", "ws://"+s.WS+"/any/path?x=1"),
	}
	waitViewers(t, s, "live", map[string]int{"http": 1, "ws": len(viewers)})

	pub := startProc(t, "ffmpeg", publishArgs(mpeg1, "tcp://"+s.TCP)...)
	if code, stderr := pub.wait(t, 30*time.Second); code != 0 || stderr != "" {
		t.Fatalf("publisher: exit %d, stderr:\n%s", code, stderr)
	}
	published := s.waitDelivered(t, "live", 1+len(viewers))
	if err := s.stop(5 * time.Second); err != nil {
		t.Fatalf("tsstream: %v\n%s", err, s.log)
	}

	want := ref.wait(t, 3*time.Second)
	if ref.err != nil {
		t.Errorf("HTTP-TS viewer: %v, want a clean end of the chunked response", ref.err)
	}
	if d := published - int64(len(want)); d < 0 || d > joinLoss || published < 100<<10 {
		t.Fatalf("HTTP-TS viewer got %d bytes, server published %d (want all but at most %d, at least 100 KiB)",
			len(want), published, joinLoss)
	}
	if p := tsPacketsProblem(want); p != "" {
		t.Errorf("HTTP-TS capture: %s", p)
	}
	wantSum := sha256.Sum256(want)
	for _, v := range viewers {
		t.Run(v.name, func(t *testing.T) {
			got := v.wait(t, 3*time.Second)
			if v.badMsg != "" {
				t.Errorf("%s", v.badMsg)
			}
			if !websocket.IsCloseError(v.err, websocket.CloseGoingAway) {
				t.Errorf("session ended with %v, want close 1001 (going away)", v.err)
			}
			if len(got) != len(want) {
				t.Errorf("got %d bytes in %d messages, HTTP-TS viewer %d", len(got), v.messages, len(want))
			}
			n := min(len(got), len(want))
			if sha256.Sum256(got[:n]) != sha256.Sum256(want[:n]) {
				t.Errorf("first %d bytes differ from the HTTP-TS viewer's (first difference at byte %d)", n, firstDiff(got, want))
			}
			if len(got) == len(want) && sha256.Sum256(got) != wantSum {
				t.Errorf("capture differs from the HTTP-TS viewer's")
			}
			t.Logf("%d bytes in %d messages", len(got), v.messages)
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestGracefulShutdown sends SIGTERM while ffmpeg publishes and an HTTP-TS
// and a WebSocket viewer play: the process exits 0 within 3 s, the
// WebSocket viewer gets close 1001, the HTTP-TS viewer a clean end, and
// each viewer's end is logged once with reason=shutdown.
func TestGracefulShutdown(t *testing.T) {
	requireFFmpeg(t)
	s := startServer(t)
	httpView := playHTTP(t, "http-ts", "http://"+s.HTTP+"/live/live.ts")
	wsView := playWS(t, "ws-listener", "ws://"+s.WS+"/")
	waitViewers(t, s, "live", map[string]int{"http": 1, "ws": 1})

	long := mpeg1
	long.input = []string{"-f", "lavfi", "-i", "testsrc=size=640x480:rate=25:duration=60"}
	startProc(t, "ffmpeg", publishArgs(long, "tcp://"+s.TCP)...)
	waitUntil(t, 10*time.Second, "both viewers receiving", func() bool {
		return httpView.size() > 64<<10 && wsView.size() > 64<<10
	})

	if err := s.stop(3 * time.Second); err != nil {
		t.Fatalf("SIGTERM with a publisher and viewers: %v\n%s", err, s.log)
	}
	t.Logf("exited %v after SIGTERM", s.stopped)

	t.Run("http-ts viewer", func(t *testing.T) {
		got := httpView.wait(t, 2*time.Second)
		if httpView.err != nil {
			t.Errorf("response ended with %v, want the last chunk (clean end)", httpView.err)
		}
		if p := tsPacketsProblem(got); p != "" {
			t.Errorf("capture: %s", p)
		}
	})
	t.Run("websocket viewer", func(t *testing.T) {
		got := wsView.wait(t, 2*time.Second)
		if !websocket.IsCloseError(wsView.err, websocket.CloseGoingAway) {
			t.Errorf("session ended with %v, want close 1001 (going away)", wsView.err)
		}
		if wsView.badMsg != "" {
			t.Errorf("%s", wsView.badMsg)
		}
		// Both joined before the publisher: the shorter copy is a prefix of
		// the longer one.
		ref := httpView.wait(t, 2*time.Second)
		n := min(len(got), len(ref))
		if sha256.Sum256(got[:n]) != sha256.Sum256(ref[:n]) {
			t.Errorf("first %d bytes differ from the HTTP-TS viewer's (at byte %d)", n, firstDiff(got, ref))
		}
	})
	t.Run("logs", func(t *testing.T) {
		lines := s.log.matching(`msg="viewer disconnected"`)
		if len(lines) != 2 {
			t.Fatalf("want 2 viewer disconnected lines, got %d:\n%s", len(lines), strings.Join(lines, "\n"))
		}
		for _, proto := range []string{"http", "ws"} {
			m := s.log.matching(`msg="viewer disconnected"`, "protocol="+proto+" ", "reason=shutdown ")
			if len(m) != 1 {
				t.Errorf("want one %s viewer disconnected line with reason=shutdown, got:\n%s", proto, strings.Join(lines, "\n"))
			}
		}
	})
}
