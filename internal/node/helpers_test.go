package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/stream"
)

// Every listener of a test node binds 127.0.0.1:0.
const anyPort = "127.0.0.1:0"

// ioTimeout bounds every read a test waits on, so that a broken server fails
// the test instead of hanging it.
const ioTimeout = 10 * time.Second

// testConfig returns a node configuration with the HTTP server, TCP and UDP
// ingest of stream name, and WebSocket and TCP play of stream name, all on
// 127.0.0.1:0.
func testConfig(name string) *config.Config {
	cfg := config.Default()
	cfg.Name = "test"
	cfg.DefaultStream = name
	cfg.HTTP.Listen = anyPort
	cfg.Ingest = []config.Ingest{{Listen: anyPort, Stream: name, Protocols: []string{"tcp", "udp"}}}
	cfg.Play = []config.Play{
		{Listen: anyPort, Stream: name, Protocol: "ws"},
		{Listen: anyPort, Stream: name, Protocol: "tcp"},
	}
	return cfg
}

// startNode validates cfg, starts a node and shuts it down at cleanup.
// Warnings and errors of the node go to the test log.
func startNode(t *testing.T, cfg *config.Config) *Node {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel}))
	n := New(cfg, log, "test")
	if err := n.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Shutdown(ctx) // a test may have shut it down already
	})
	return n
}

// addr returns the address of n's listener with role and protocol serving
// stream name.
func addr(t *testing.T, n *Node, role, protocol, name string) string {
	t.Helper()
	for _, l := range n.Listeners() {
		if l.Role == role && l.Protocol == protocol && (l.Stream == name || role == "http") {
			return l.Address
		}
	}
	t.Fatalf("no %s %s listener for stream %q in %v", role, protocol, name, n.Listeners())
	return ""
}

// httpClient returns a client whose idle connections are closed at cleanup
// (goleak checks for their goroutines) and which does not follow redirects.
func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// stats returns the stream's counters; the stream must exist.
func stats(t *testing.T, n *Node, name string) stream.Stats {
	t.Helper()
	s := n.Hub().Get(name)
	if s == nil {
		t.Fatalf("stream %q does not exist", name)
	}
	return s.Stats()
}

// waitFor polls cond every 5 ms until it holds or timeout passes; then it
// fails with the description what returns.
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

// waitViewers waits until stream name has exactly the viewers want, by
// protocol.
func waitViewers(t *testing.T, n *Node, name string, want map[string]int) {
	t.Helper()
	var got map[string]int
	waitFor(t, ioTimeout, func() bool {
		s := n.Hub().Get(name)
		if s == nil {
			return false
		}
		got = s.Stats().Readers
		if len(got) != len(want) {
			return false
		}
		for p, c := range want {
			if got[p] != c {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("stream %q viewers %v, want %v", name, got, want) })
}

// TS test packets: PID 0x100, the continuity counter running, and a payload
// of the packet's number as 4-byte big-endian words, so that a lost,
// repeated or reordered packet shows in a comparison.

// A viewer is a connected client of one output; Read yields the stream's
// bytes with the protocol's framing removed, and Close hangs up.
type viewer = io.ReadCloser

// readN reads n bytes from v, hanging up on it if they do not come within
// ioTimeout.
func readN(v viewer, n int) ([]byte, error) {
	timer := time.AfterFunc(ioTimeout, func() { v.Close() })
	defer timer.Stop()
	b := make([]byte, n)
	m, err := io.ReadFull(v, b)
	if err != nil {
		return b[:m], fmt.Errorf("after %d of %d bytes: %w", m, n, err)
	}
	return b, nil
}

// wsViewer reads a WebSocket play session with gorilla/websocket, checking
// every message as it comes.
type wsViewer struct {
	conn *websocket.Conn
	ts   bool // check that each message is whole TS packets
	msg  []byte
	msgs int
}

// dialWS opens a WebSocket viewer of url (ws://host/path). With ts, every
// binary message must be a run of whole 188-byte packets.
func dialWS(t *testing.T, url string, ts bool) *wsViewer {
	t.Helper()
	return dialWSWith(t, url, ts, &websocket.Dialer{HandshakeTimeout: ioTimeout})
}

func dialWSWith(t *testing.T, url string, ts bool, d *websocket.Dialer) *wsViewer {
	t.Helper()
	conn, resp, err := d.Dial(url, nil)
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("websocket %s: %v %s", url, err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return &wsViewer{conn: conn, ts: ts}
}

func (v *wsViewer) Read(p []byte) (int, error) {
	for len(v.msg) == 0 {
		typ, msg, err := v.conn.ReadMessage()
		if err != nil {
			return 0, err
		}
		v.msgs++
		if typ != websocket.BinaryMessage {
			return 0, fmt.Errorf("message %d: type %d, want binary", v.msgs, typ)
		}
		if v.ts && (len(msg)%188 != 0 || len(msg) == 0 || msg[0] != 0x47) {
			return 0, fmt.Errorf("message %d: %d bytes starting % x: not whole TS packets", v.msgs, len(msg), msg[:min(len(msg), 4)])
		}
		v.msg = msg
	}
	n := copy(p, v.msg)
	v.msg = v.msg[n:]
	return n, nil
}

func (v *wsViewer) Close() error { return v.conn.Close() }

// dialHTTPTS opens an HTTP-TS viewer of url and checks the response head;
// Read yields the de-chunked body.
func dialHTTPTS(t *testing.T, c *http.Client, url, contentType string) io.ReadCloser {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != contentType {
		t.Errorf("GET %s: Content-Type %q, want %q", url, ct, contentType)
	}
	if te := resp.TransferEncoding; len(te) != 1 || te[0] != "chunked" {
		t.Errorf("GET %s: Transfer-Encoding %v, want chunked", url, te)
	}
	return resp.Body
}

// dialTCP opens a TCP connection (a TCP play viewer or a TCP publisher),
// closed at cleanup.
func dialTCP(t *testing.T, address string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", address, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// smallReceiveBuffer is a dialer option that shrinks the socket's receive
// buffer before connecting, so that a viewer that stops reading stalls the
// server's writes after a few kilobytes instead of megabytes.
func smallReceiveBuffer(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	})
	if err != nil {
		return err
	}
	return serr
}

// dialFrozen opens a TCP connection with a small receive buffer, sends
// hello (a request, or nothing) and never reads: a viewer that froze. It is
// closed at cleanup.
func dialFrozen(t *testing.T, address, hello string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: ioTimeout, Control: smallReceiveBuffer}
	c, err := d.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, hello); err != nil {
		t.Fatal(err)
	}
	return c
}

// readTimed reads want from every viewer concurrently, comparing as it
// reads without keeping a copy, and notes when each batch of batchSize
// bytes was complete; a viewer is hung up on after ioTimeout. wait blocks
// until all are done and returns the times by viewer and batch, and why
// each viewer stopped short.
func readTimed(views []viewer, want []byte, batchSize int) (wait func() ([][]time.Time, []error)) {
	batches := len(want) / batchSize
	arrived := make([][]time.Time, len(views))
	errs := make([]error, len(views))
	var wg sync.WaitGroup
	for i, v := range views {
		arrived[i] = make([]time.Time, batches)
		wg.Add(1)
		go func() {
			defer wg.Done()
			timer := time.AfterFunc(ioTimeout, func() { v.Close() })
			defer timer.Stop()
			buf := make([]byte, 32<<10)
			for off, next := 0, 0; off < len(want); {
				m, err := v.Read(buf[:min(len(buf), len(want)-off)])
				if !bytes.Equal(buf[:m], want[off:off+m]) {
					errs[i] = fmt.Errorf("bytes differ from the published ones in %d..%d (packet %d)", off, off+m, off/188)
					return
				}
				off += m
				for ; next < batches && off >= (next+1)*batchSize; next++ {
					arrived[i][next] = time.Now()
				}
				if err != nil {
					errs[i] = fmt.Errorf("after %d of %d bytes: %w", off, len(want), err)
					return
				}
			}
		}()
	}
	return func() ([][]time.Time, []error) {
		wg.Wait()
		return arrived, errs
	}
}

// A publisher sends a stream's bytes to an ingest; Close ends the session
// and reports how the server answered it.
type publisher interface {
	io.Writer
	Close() error
}

// udpPublisher sends its writes as datagrams of 1316 bytes (7 TS packets),
// as ffmpeg's udp://…?pkt_size=1316 does.
type udpPublisher struct {
	conn net.Conn
	sent int
}

func dialUDP(t *testing.T, address string) *udpPublisher {
	t.Helper()
	c, err := net.Dial("udp", address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPublisher{conn: c}
}

func (p *udpPublisher) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), 1316)
		if _, err := p.conn.Write(b[:k]); err != nil {
			return n, err
		}
		n += k
		b = b[k:]
		// Loopback drops datagrams only when the server's 4 MB socket
		// buffer is full; a pause now and then keeps it far from that.
		if p.sent++; p.sent%64 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	return n, nil
}

func (p *udpPublisher) Close() error { return p.conn.Close() }

// httpPublisher streams its writes as the body of one POST or PUT request.
type httpPublisher struct {
	pw   *io.PipeWriter
	done chan struct{}
	resp *http.Response
	body []byte
	err  error
}

// dialHTTPPublish starts a publishing request to url. length -1 sends the
// body chunked (as ffmpeg does); otherwise it is the Content-Length and
// exactly that many bytes must be written.
func dialHTTPPublish(t *testing.T, c *http.Client, method, url string, length int64) *httpPublisher {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(method, url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	p := &httpPublisher{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.resp, p.err = c.Do(req)
		if p.err == nil {
			p.body, _ = io.ReadAll(p.resp.Body)
			p.resp.Body.Close()
		}
		pr.CloseWithError(fmt.Errorf("request ended"))
	}()
	t.Cleanup(func() { pw.Close(); <-p.done })
	return p
}

func (p *httpPublisher) Write(b []byte) (int, error) { return p.pw.Write(b) }

// Close ends the body and waits for the response, which must be 200.
func (p *httpPublisher) Close() error {
	p.pw.Close()
	select {
	case <-p.done:
	case <-time.After(ioTimeout):
		return fmt.Errorf("no response %v after the body ended", ioTimeout)
	}
	if p.err != nil {
		return p.err
	}
	if p.resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", p.resp.Status, p.body)
	}
	return nil
}

// writeInPieces writes b to w in pieces of odd sizes, so that packets are
// split across reads and chunks on the way.
func writeInPieces(t *testing.T, w io.Writer, b []byte) {
	t.Helper()
	sizes := []int{1000, 4096, 7, 188 * 7, 65536, 333}
	for i := 0; len(b) > 0; i++ {
		k := min(len(b), sizes[i%len(sizes)])
		if _, err := w.Write(b[:k]); err != nil {
			t.Fatalf("publish: %v", err)
		}
		b = b[k:]
	}
}

// expectClosedByServer reads from c until the server closes it (EOF or a
// reset) and fails if that takes longer than timeout.
func expectClosedByServer(t *testing.T, what string, c net.Conn, timeout time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("%s: still open after %v, want it closed by the server", what, timeout)
	}
}

// readAll reads every viewer concurrently until it has n bytes, and
// returns what each got and why it stopped short.
func readAll(views []viewer, n int) ([][]byte, []error) {
	got := make([][]byte, len(views))
	errs := make([]error, len(views))
	var wg sync.WaitGroup
	for i, v := range views {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = readN(v, n)
		}()
	}
	wg.Wait()
	return got, errs
}

// httpGet returns the status and body of GET url.
func httpGet(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// wsURL turns host:port and a path into a ws:// URL.
func wsURL(address, path string) string { return "ws://" + address + path }

// httpURL turns host:port and a path into an http:// URL.
func httpURL(address, path string) string {
	return "http://" + address + "/" + strings.TrimPrefix(path, "/")
}

// testLogLevel is the level of the node's log in tests.
var testLogLevel = slog.LevelWarn
