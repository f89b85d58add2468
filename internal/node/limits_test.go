package node

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/guard"
	"github.com/tsstream/tsstream/internal/tstest"
)

// wsStatus dials url and returns the status of a refused handshake, or 101.
func wsStatus(t *testing.T, url string) int {
	t.Helper()
	conn, resp, err := (&websocket.Dialer{HandshakeTimeout: ioTimeout}).Dial(url, nil)
	if err == nil {
		t.Cleanup(func() { conn.Close() })
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode
}

// TestStreamAndViewerLimits: past limits.max_streams a new stream is
// refused, past a stream's max_viewers a viewer is, each with 503 and
// counted; a viewer that leaves gives its place back.
func TestStreamAndViewerLimits(t *testing.T) {
	cfg := testConfig("live")
	cfg.Limits.MaxStreams = 3 // live, few and one more
	cfg.Streams["few"] = config.StreamOptions{MaxViewers: 2}
	n := startNode(t, cfg)
	base := addr(t, n, "http", "http", "")
	for i, want := range []int{101, 101, 503} {
		if got := wsStatus(t, wsURL(base, "/ws/few")); got != want {
			t.Errorf("viewer %d of few: %d, want %d", i+1, got, want)
		}
	}
	if got := wsStatus(t, wsURL(base, "/ws/other")); got != 101 {
		t.Errorf("the third stream: %d, want 101", got)
	}
	if got := wsStatus(t, wsURL(base, "/ws/fourth")); got != 503 {
		t.Errorf("a fourth stream: %d, want 503", got)
	}
	status, _ := post(t, httpClient(t), httpURL(base, "/publish/fifth"), tstest.Packets(0, 10))
	if status != 503 {
		t.Errorf("publishing a fifth stream: %d, want 503", status)
	}
	g := n.Guard()
	if g.Refused(guard.MaxStreamViewers) != 1 || g.Refused(guard.MaxStreams) != 2 {
		t.Errorf("counted %d max_stream_viewers, %d max_streams; want 1, 2", g.Refused(guard.MaxStreamViewers), g.Refused(guard.MaxStreams))
	}
	if n.Hub().Get("fourth") != nil || n.Hub().Get("fifth") != nil {
		t.Error("a refused stream was created")
	}
}

// TestConnsPerIP: a source past limits.conns_per_ip is closed on accept,
// before it is read; closing one of its connections lets the next in.
func TestConnsPerIP(t *testing.T) {
	cfg := testConfig("live")
	cfg.Limits.ConnsPerIP = 5
	cfg.Limits.ConnsPerIPExempt = []string{} // count loopback too
	n := startNode(t, cfg)
	base := addr(t, n, "http", "http", "")
	var held []net.Conn
	for range 5 {
		held = append(held, dialTCP(t, base))
	}
	waitFor(t, ioTimeout, func() bool {
		c := dialTCP(t, base)
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		_, err := c.Read(make([]byte, 1))
		c.Close()
		return err != nil && n.Guard().Refused(guard.ConnsPerIP) >= 1
	}, func() string { return "the sixth connection was not closed" })
	held[0].Close()
	waitFor(t, ioTimeout, func() bool {
		status, _ := httpGetNoFail(base + "/healthz")
		return status == http.StatusOK
	}, func() string { return "no connection after one of five closed" })
	for _, c := range held[1:] { // the five still work
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		buf := make([]byte, 12)
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		if _, err := c.Read(buf); err != nil || !bytes.HasPrefix(buf, []byte("HTTP/1.1 200")) {
			t.Errorf("a held connection: %q %v", buf, err)
		}
	}
}

// httpGetNoFail is GET url (host:port/path) without keep-alive.
func httpGetNoFail(url string) (int, error) {
	resp, err := plainGet.Get("http://" + url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

var plainGet = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// TestPublisherIdleAndRate: a TCP publisher that falls silent is cut after
// publish_idle_timeout, and an HTTP publisher at 10x max_publish_rate is
// cut with 429; viewers get exactly what came in before the cut.
func TestPublisherIdleAndRate(t *testing.T) {
	cfg := testConfig("quiet")
	cfg.Streams["quiet"] = config.StreamOptions{PublishIdleTimeout: config.Duration(300 * time.Millisecond)}
	cfg.Streams["fast"] = config.StreamOptions{MaxPublishRate: 100 * config.KiB}
	n := startNode(t, cfg)
	base := addr(t, n, "http", "http", "")

	pub := dialTCP(t, addr(t, n, "ingest", "tcp", "quiet"))
	pub.Write(tstest.Packets(0, 10))
	start := time.Now()
	expectClosedByServer(t, "silent publisher", pub, ioTimeout)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("silent publisher cut after %v, before its 300ms", d)
	}
	if n.Guard().Refused(guard.PublishIdle) != 1 {
		t.Errorf("publish_idle counted %d times", n.Guard().Refused(guard.PublishIdle))
	}

	view := dialWS(t, wsURL(base, "/ws/fast"), true)
	waitViewers(t, n, "fast", map[string]int{"ws": 1})
	flood := tstest.Packets(0, 20*(100<<10)/188) // 2 MB: 20 s at the ceiling, sent at once
	status, body := post(t, httpClient(t), httpURL(base, "/publish/fast"), flood)
	if status != http.StatusTooManyRequests || !strings.Contains(body, "max_publish_rate") {
		t.Errorf("flooding publisher: %d %q, want 429 naming max_publish_rate", status, body)
	}
	in := stats(t, n, "fast").BytesIn
	if in == 0 || in > 1<<20 {
		t.Errorf("%d bytes entered before the cut; want some, at most the 256 KiB burst plus a read", in)
	}
	got, err := readN(view, int(in))
	if err != nil {
		t.Fatal(err)
	}
	tstest.SameBytes(t, "viewer of the cut stream", got, flood[:in])
	if n.Guard().Refused(guard.PublishRate) != 1 {
		t.Errorf("publish_rate counted %d times", n.Guard().Refused(guard.PublishRate))
	}
}
