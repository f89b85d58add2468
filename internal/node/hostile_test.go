package node_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/tstest"
)

// TestHostileInput attacks a node on loopback while a legitimate TCP
// publisher and WebSocket viewer of stream "good" run alongside. After each
// attack the viewer must have received exactly the published bytes, the
// node must answer /healthz, and its log must not mention a panic.
func TestHostileInput(t *testing.T) {
	for _, tc := range []struct {
		name   string
		attack func(*testing.T, *harness)
	}{
		{"random bytes into every ingest", randomIngest},
		{"ts with garbage and a cut publisher", garbageTS},
		{"connect churn", connectChurn},
		{"invalid websocket frames", badFrames},
		{"huge and slow request headers", hugeAndSlowHeaders},
		{"hostile stream names", hostileNames},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tc.attack(t, h)
			h.good.finish(t)
			resp, err := plainClient.Get("http://" + h.http + "/healthz")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("healthz after the attack: %v %v", resp, err)
			}
			resp.Body.Close()
		})
	}
}

// staticStreams are the streams newHarness's configuration names.
var staticStreams = []string{"churn", "good", "junk", "junkudp", "tsjunk"}

// plainClient leaves no idle connection (nor goroutine) behind.
var plainClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func randomIngest(t *testing.T, h *harness) {
	junkView, httpView := h.viewWS(t, "/ws/junk", 0), h.viewWS(t, "/ws/junkhttp", 0)
	tcpJunk, httpJunk := randomBytes(1<<20), randomBytes(1<<20)
	publishInPieces(t, h.addr(t, "ingest", "tcp", "junk"), tcpJunk)
	udpSent := sendDatagrams(t, h.addr(t, "ingest", "udp", "junkudp"), 1500)
	resp, err := plainClient.Post("http://"+h.http+"/publish/junkhttp", "video/mp2t", bytes.NewReader(httpJunk))
	if err != nil {
		t.Fatalf("http publish: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "published 1048576 bytes") {
		t.Errorf("http publish of 1 MiB of random bytes: %s %q", resp.Status, body)
	}

	// Random bytes make a raw stream, relayed as they came.
	for name, v := range map[string]struct {
		view *collector
		sent []byte
	}{"junk": {junkView, tcpJunk}, "junkhttp": {httpView, httpJunk}} {
		tstest.SameBytes(t, "viewer of "+name, v.view.wait(t, name, func(b []byte) bool { return len(b) >= len(v.sent) }), v.sent)
		h.streamState(t, name, func(format string, in, dropped int64) string {
			if format != "raw" || in != 1<<20 || dropped != 0 {
				return fmt.Sprintf("%s: format %s, bytes_in %d, dropped_in %d; want raw, %d, 0", name, format, in, dropped, 1<<20)
			}
			return ""
		})
		v.view.stop()
	}
	eventually(t, 5*time.Second, func() string {
		if h.n.Hub().Get("junkhttp") != nil {
			return "stream junkhttp is still in the hub after its publisher and viewer left"
		}
		return ""
	})

	// UDP on loopback may lose a datagram under load: allow 10%.
	eventually(t, 5*time.Second, func() string {
		st := h.n.Hub().Get("junkudp").Stats()
		if st.Format != "raw" || st.DroppedIn != 0 || st.BytesIn > udpSent || st.BytesIn < udpSent*9/10 {
			return fmt.Sprintf("junkudp: format %s, bytes_in %d, dropped_in %d; want raw, about %d, 0", st.Format, st.BytesIn, st.DroppedIn, udpSent)
		}
		return ""
	})
}

// sendDatagrams sends count datagrams of 1 to 1500 random bytes and
// returns the bytes sent.
func sendDatagrams(t *testing.T, addr string, count int) (sent int64) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range count {
		n, err := c.Write(randomBytes(1 + mrand.IntN(1500)))
		if err != nil {
			t.Fatalf("udp datagram %d: %v", i, err)
		}
		sent += int64(n)
		if i%16 == 15 {
			time.Sleep(time.Millisecond) // stay within the socket buffer
		}
	}
	return sent
}

func garbageTS(t *testing.T, h *harness) {
	ws, hts := h.viewWS(t, "/ws/tsjunk", 188), h.viewHTTPTS(t, "tsjunk")
	ingest := h.addr(t, "ingest", "tcp", "tsjunk")

	// Publisher 1: garbage without sync bytes between runs of at least 3
	// packets, so that the aligner must keep every packet; then it is cut
	// 100 bytes into a packet.
	a, seq, garbage := appendPackets(nil, 0, 20), 20, 0
	for range 40 {
		junk := bytes.ReplaceAll(randomBytes(1+mrand.IntN(600)), []byte{0x47}, []byte{0})
		k := 3 + mrand.IntN(10)
		a, seq, garbage = appendPackets(append(a, junk...), seq, k), seq+k, garbage+len(junk)
	}
	cut := seq
	a, seq = append(a, packet(cut)[:100]...), seq+1
	publishInPieces(t, ingest, a)
	h.streamState(t, "tsjunk", func(_ string, _, dropped int64) string {
		if dropped != int64(garbage+100) {
			return fmt.Sprintf("tsjunk after publisher 1: dropped_in %d, want %d (garbage and the cut packet)", dropped, garbage+100)
		}
		return ""
	})

	// Publisher 2: random garbage, sync bytes included, between runs of 5
	// to 10 packets: only the first packet after a run may be lost.
	first2, mayLose := seq, map[int]bool{}
	b := appendPackets(nil, seq, 10)
	seq += 10
	for range 30 {
		mayLose[seq] = true
		k := 5 + mrand.IntN(6)
		b, seq = appendPackets(append(b, randomBytes(1+mrand.IntN(1500))...), seq, k), seq+k
	}
	b, seq = appendPackets(b, seq, 10), seq+10
	publishInPieces(t, ingest, b)

	hasLast := func(got []byte) bool { return bytes.HasSuffix(got, packet(seq-1)) }
	gotWS := ws.wait(t, "websocket viewer of tsjunk", hasLast)
	tstest.SameBytes(t, "HTTP-TS viewer of tsjunk (against the websocket viewer)", hts.wait(t, "HTTP-TS viewer of tsjunk", hasLast), gotWS)
	got, prev, bogus := map[int]bool{}, -1, 0
	for i := 0; i < len(gotWS); i += 188 {
		p := gotWS[i:min(i+188, len(gotWS))]
		if len(p) < 188 || p[0] != 0x47 {
			t.Fatalf("viewer of tsjunk: %d bytes at byte %d starting with %#x are not a whole packet", len(p), i, p[0])
		}
		switch s := seqOf(p); {
		case s < 0 && prev < first2:
			t.Errorf("packet %d (after our packet %d) is not ours, though publisher 1 sent no sync bytes in its garbage", i/188, prev)
		case s < 0:
			bogus++
		case s <= prev:
			t.Errorf("packet %d arrived after packet %d", s, prev)
		default:
			got[s], prev = true, s
		}
	}
	lost := 0
	for s := range seq {
		switch {
		case s == cut && got[s]:
			t.Errorf("packet %d, cut mid-way by its publisher, was delivered", s)
		case s == cut || got[s]:
		case s < first2 || !mayLose[s]:
			t.Errorf("packet %d was lost", s)
		default:
			lost++
		}
	}
	t.Logf("random garbage: %d of %d packets after a run lost, %d false packets (garbage that looked like TS)", lost, len(mayLose), bogus)
	h.streamState(t, "tsjunk", func(_ string, _, dropped int64) string {
		if dropped <= int64(garbage+100) {
			return fmt.Sprintf("tsjunk after publisher 2: dropped_in %d, want more than %d", dropped, garbage+100)
		}
		return ""
	})
}

// publishInPieces sends b to a TCP ingest in writes of random sizes and
// hangs up.
func publishInPieces(t *testing.T, addr string, b []byte) {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	for len(b) > 0 {
		n := min(len(b), 1+mrand.IntN(3000))
		if _, err := c.Write(b[:n]); err != nil {
			t.Fatalf("publish: %v", err)
		}
		b = b[n:]
	}
}

func connectChurn(t *testing.T, h *harness) {
	targets := churnTargets{h.addr(t, "ingest", "tcp", "churn"), h.addr(t, "play", "tcp", "good"),
		h.addr(t, "play", "ws", "good"), h.http}
	const cycles, workers = 10000, 8
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < cycles; i = int(next.Add(1) - 1) {
				if err := targets.cycle(i); err != nil && failed.Add(1) == 1 {
					firstErr.Store(fmt.Errorf("cycle %d: %w", i, err))
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d connect cycles in %v", cycles, time.Since(start).Round(time.Millisecond))
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d connect cycles failed; first: %v", n, cycles, firstErr.Load())
	}
	h.good.finish(t)

	// Every viewer of good must have been closed and counted: the TCP play
	// cycles, the handshakes on the WebSocket play listener, the good viewer.
	wantCuts := int64(1)
	for i := range cycles {
		if kind, mode := i%4, i/4%3; kind == 1 || kind == 2 && mode != 0 && i/4%2 == 0 {
			wantCuts++
		}
	}
	const slack = 5
	eventually(t, 15*time.Second, func() string {
		g, fds := runtime.NumGoroutine(), openFDs(t)
		var dynamic []string
		for _, s := range h.n.Hub().Streams() {
			if !slices.Contains(staticStreams, s.Name()) {
				dynamic = append(dynamic, s.Name())
			}
		}
		st := h.n.Hub().Get("good").Stats()
		var cuts int64
		for _, n := range st.Cuts {
			cuts += n
		}
		if g <= h.baseGoroutines+slack && fds <= h.baseFDs+slack && len(dynamic) == 0 && len(st.Readers) == 0 && cuts == wantCuts {
			return ""
		}
		var dump bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&dump, 1)
		return fmt.Sprintf("goroutines %d (started with %d), open fds %d (started with %d), dynamic streams left %q, "+
			"readers of good %v, viewers of good closed %d of %d %v\n%.8000s",
			g, h.baseGoroutines, fds, h.baseFDs, dynamic, st.Readers, cuts, wantCuts, st.Cuts, dump.String())
	})
}

func openFDs(t *testing.T) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("counting open files: %v", err)
	}
	return len(fds)
}

type churnTargets struct{ ingest, tcpPlay, wsPlay, http string }

// cycle connects to one of the four targets (by i%4) and hangs up: at once,
// or after a packet or a handshake, closing or resetting the connection.
func (ct churnTargets) cycle(i int) error {
	kind, mode := i%4, i/4%3 // mode 0: hang up at once; 1: after; 2: reset after
	addr, wsPath := [4]string{ct.ingest, ct.tcpPlay, ct.wsPlay, ct.http}[kind], "/"
	if kind == 2 && i/4%2 == 1 {
		addr, wsPath = ct.http, fmt.Sprintf("/ws/churn-%d", i%5)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if mode == 0 {
		return nil
	}
	if mode == 2 {
		defer c.(*net.TCPConn).SetLinger(0)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	switch kind {
	case 0:
		_, err = c.Write(packet(i))
	case 2:
		_, err = wsHandshake(c, wsPath)
	case 3:
		var resp *http.Response
		if resp, _, err = rawRequest(c, "GET", fmt.Sprintf("/live/churn-%d.ts", i%5), "", ""); err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("HTTP-TS play: %s", resp.Status)
		}
	}
	return err
}

// rawRequest writes a request by hand and reads the response header.
func rawRequest(c net.Conn, method, path, header, body string) (*http.Response, *bufio.Reader, error) {
	if body != "" {
		header += fmt.Sprintf("Content-Length: %d\r\n", len(body))
	}
	if _, err := io.WriteString(c, method+" "+path+" HTTP/1.1\r\nHost: tsstream.test\r\n"+header+"\r\n"+body); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	return resp, br, err
}

const upgradeHeader = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"

// wsHandshake does a WebSocket opening handshake by hand and checks the
// answer; it returns the reader of the server's frames.
func wsHandshake(c net.Conn, path string) (*bufio.Reader, error) {
	key := base64.StdEncoding.EncodeToString(randomBytes(16))
	resp, br, err := rawRequest(c, "GET", path, upgradeHeader+"Sec-WebSocket-Key: "+key+"\r\n", "")
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if want := base64.StdEncoding.EncodeToString(sum[:]); resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != want {
		return nil, fmt.Errorf("websocket handshake on %s: %s, accept %q; want 101, %q", path, resp.Status, resp.Header.Get("Sec-WebSocket-Accept"), want)
	}
	return br, nil
}

// clientFrame is a masked client frame whose header declares n payload
// bytes, followed by payload.
func clientFrame(b0 byte, n int, payload []byte) []byte {
	f := []byte{b0, 0x80 | byte(n)}
	switch {
	case n > 0xffff:
		f = binary.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, uint64(n))
	case n > 125:
		f = binary.BigEndian.AppendUint16([]byte{b0, 0x80 | 126}, uint16(n))
	}
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	f = append(f, mask[:]...)
	for i, c := range payload {
		f = append(f, c^mask[i&3])
	}
	return f
}

// readClose skips the server's data frames and returns the code of its
// close frame.
func readClose(br *bufio.Reader) (int, error) {
	for {
		var h [10]byte
		if _, err := io.ReadFull(br, h[:2]); err != nil {
			return 0, err
		}
		n, ext := uint64(h[1]&0x7f), 0
		if n > 125 {
			ext = 2 + 6*int(n-126) // 126: 2 bytes of length, 127: 8
		}
		if _, err := io.ReadFull(br, h[2:2+ext]); err != nil {
			return 0, err
		}
		if ext > 0 {
			n = binary.BigEndian.Uint64(append(make([]byte, 8-ext), h[2:2+ext]...))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return 0, err
		}
		if h[0]&0x0f == 8 {
			if n < 2 {
				return 0, errors.New("close frame without a code")
			}
			return int(binary.BigEndian.Uint16(p)), nil
		}
	}
}

func badFrames(t *testing.T, h *harness) {
	cases := []struct {
		name  string
		frame []byte
		code  int
	}{
		{"unmasked binary", append([]byte{0x82, 5}, "hello"...), 1002},
		{"reserved bits", clientFrame(0xc2, 5, []byte("hello")), 1002},
		{"100 MB length, 4 KB sent", clientFrame(0x82, 100<<20, randomBytes(4096)), 1009},
		{"fragmented ping", clientFrame(0x09, 4, []byte("ping")), 1002},
		{"fragments over 64 KiB", append(clientFrame(0x01, 60000, make([]byte, 60000)), clientFrame(0x80, 10000, make([]byte, 10000))...), 1009},
	}
	cutsBefore := h.n.Hub().Get("good").Stats().Cuts["protocol error"]
	for _, target := range []struct{ name, addr, path string }{
		{"http", h.http, "/ws/good"}, {"ws play", h.addr(t, "play", "ws", "good"), "/any/path"},
	} {
		for _, tc := range cases {
			t.Run(target.name+"/"+tc.name, func(t *testing.T) {
				c := dial(t, target.addr)
				br, err := wsHandshake(c, target.path)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				c.SetDeadline(start.Add(2 * time.Second))
				if _, err := c.Write(tc.frame); err != nil {
					t.Fatalf("sending the frame: %v", err)
				}
				code, err := readClose(br)
				if err != nil {
					t.Fatalf("no close frame within 2s: %v", err)
				}
				if code != tc.code {
					t.Errorf("close code %d, want %d", code, tc.code)
				}
				if _, err = io.Copy(io.Discard, br); errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("the server sent its close frame but kept the connection open for 2s")
				}
				t.Logf("close code %d after %v, then %v", code, time.Since(start).Round(time.Millisecond), err)
			})
		}
	}
	eventually(t, 5*time.Second, func() string {
		if n := h.n.Hub().Get("good").Stats().Cuts["protocol error"] - cutsBefore; n != int64(2*len(cases)) {
			return fmt.Sprintf("%d viewers of good closed for a protocol error, want %d", n, 2*len(cases))
		}
		return ""
	})
}

func hugeAndSlowHeaders(t *testing.T, h *harness) {
	for _, target := range []struct{ name, addr string }{{"http", h.http}, {"ws play", h.addr(t, "play", "ws", "good")}} {
		t.Run(target.name+"/1 MB of header", func(t *testing.T) {
			c := dial(t, target.addr)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			// Write errors are expected: the server may hang up mid-way.
			io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: tsstream.test\r\n")
			for range 16 {
				io.WriteString(c, strings.Repeat("X-Hostile: "+strings.Repeat("a", 1000)+"\r\n", 64))
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				t.Errorf("the server neither answered nor closed the connection within 5s")
			case err == nil && resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge:
				t.Errorf("response %s, want 431 or the connection closed", resp.Status)
			}
		})
		t.Run(target.name+"/slowloris", func(t *testing.T) {
			c := dial(t, target.addr)
			start := time.Now()
			io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: tsstream.test\r\nX-Slow: ")
			var got []byte
			for buf := make([]byte, 512); ; {
				c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					break // closed by the server
				}
				if time.Since(start) > 5*time.Second {
					t.Fatalf("a client sending one header byte per 100ms was still connected after 5s")
				}
				c.Write([]byte("a"))
			}
			if elapsed := time.Since(start); elapsed < 900*time.Millisecond || elapsed > 3*time.Second {
				t.Errorf("closed after %v, want about the 1s read_header_timeout", elapsed)
			}
			if bytes.HasPrefix(got, []byte("HTTP/1.1 2")) {
				t.Errorf("the unfinished request was answered: %q", got)
			}
		})
	}
}

func hostileNames(t *testing.T, h *harness) {
	long := strings.Repeat("A", 10<<10)
	const ws = upgradeHeader + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	const rule = "stream name"                 // what the 400 of a bad name explains
	redirect := []int{301, 307, 308, 400, 404} // ServeMux cleans paths with dot segments
	cases := []struct {
		method, path, header, body string
		want                       []int
		reason                     string
	}{
		// Controls: the same requests with a good name succeed.
		{"GET", "/live/ok-name.ts", "", "", []int{200}, ""},
		{"GET", "/ws/ok.name", ws, "", []int{101}, ""},
		{"POST", "/publish/ok_name", "", "x", []int{200}, ""},

		{"GET", "/live/..%2F..%2Fetc%2Fpasswd.ts", "", "", []int{400}, rule},
		{"GET", "/ws/..%2F..%2Fetc%2Fpasswd", ws, "", []int{400}, rule},
		{"POST", "/publish/..%2F..%2Fetc%2Fpasswd", "", "x", []int{400}, rule},
		{"PUT", "/publish/%2Fetc%2Fpasswd", "", "x", []int{400}, rule},
		{"GET", "/api/v1/streams/..%2F..%2Fetc%2Fpasswd", "", "", []int{404}, ""},
		{"GET", "/live/../../etc/passwd.ts", "", "", redirect, ""},
		{"GET", "/ws/%2e%2e", ws, "", redirect, ""},
		{"GET", "/live/%2e%2e.ts", "", "", []int{400}, rule},
		{"GET", "/live/.hidden.ts", "", "", []int{400}, rule},
		{"GET", "/live/" + long + ".ts", "", "", []int{400}, rule},
		{"GET", "/ws/" + long, ws, "", []int{400}, rule},
		{"POST", "/publish/" + long, "", "x", []int{400}, rule},
		{"GET", "/api/v1/streams/" + long, "", "", []int{404}, ""},
		{"GET", "/live/a%00b.ts", "", "", []int{400}, rule},
		{"GET", "/live/a\x00b.ts", "", "", []int{400}, ""},
		{"GET", "/live/a%0D%0ASet-Cookie:%20x=1.ts", "", "", []int{400}, rule},
		{"GET", "/ws/%E2%80%AEevil", ws, "", []int{400}, rule},
		{"GET", "/live/caf%C3%A9.ts", "", "", []int{400}, rule},
		{"GET", "/live/caf\xc3\xa9.ts", "", "", []int{400}, ""},
		{"GET", "/live/%FF%FE.ts", "", "", []int{400}, rule},
		{"GET", "/live/%EF%BC%8E%EF%BC%8E.ts", "", "", []int{400}, rule},
		{"GET", "/live/a%2Fb.ts", "", "", []int{400}, rule},
		{"POST", "/publish/a%2Fb", "", "x", []int{400}, rule},
		{"GET", "/live/a%20b.ts", "", "", []int{400}, rule},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path[:min(len(tc.path), 40)], func(t *testing.T) {
			c := dial(t, h.http)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			resp, _, err := rawRequest(c, tc.method, tc.path, tc.header, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(tc.want, resp.StatusCode) {
				t.Errorf("%s, want one of %v", resp.Status, tc.want)
			}
			if loc := resp.Header.Get("Location"); strings.Contains(loc, "..") || resp.Header.Get("Set-Cookie") != "" {
				t.Errorf("redirect to %q, Set-Cookie %q", loc, resp.Header.Get("Set-Cookie"))
			}
			if tc.reason != "" {
				if body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096)); !strings.Contains(string(body), tc.reason) {
					t.Errorf("body %q does not say what is wrong (%q)", body, tc.reason)
				}
			}
		})
	}
	eventually(t, 5*time.Second, func() string {
		var left []string
		for _, s := range h.n.Hub().Streams() {
			if !slices.Contains(staticStreams, s.Name()) {
				left = append(left, s.Name())
			}
		}
		if len(left) > 0 {
			return fmt.Sprintf("streams left in the hub: %q", left)
		}
		return ""
	})
}
