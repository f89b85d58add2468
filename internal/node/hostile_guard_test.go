package node_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/guard"
	"github.com/tsstream/tsstream/internal/stream"
	"github.com/tsstream/tsstream/internal/tstest"
)

// TestHostileGuarded attacks the guard of a node that has keys, tokens, an
// allow-listed ingest and rate ceilings, while the good flow of the core
// suite runs alongside and a probe measures how long its packets take to
// reach a viewer. After each attack: the good viewer got exactly the
// published bytes, /healthz answers, the heap stayed within its bound, and
// every refusal was counted. The figures go to the test log (-v) and to
// docs/security.md.
func TestHostileGuarded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mod    func(*config.Config)
		attack func(*testing.T, *harness)
	}{
		{"wrong keys and tokens on every protocol", nil, refusedEverywhere},
		{"5000 idle connections", func(c *config.Config) { c.HTTP.ReadHeaderTimeout = config.Duration(time.Minute) }, idleConns},
		{"5000 connections from one address over conns_per_ip", func(c *config.Config) {
			c.HTTP.ReadHeaderTimeout = config.Duration(time.Minute)
			c.Limits.ConnsPerIP, c.Limits.ConnsPerIPExempt = 200, []string{}
		}, overConnsPerIP},
		{"refused connection churn", nil, refusedChurn},
		{"udp floods", nil, udpFloods},
		{"100 MB websocket frame from a viewer", nil, hugeViewerFrame},
		{"publishers at 10x the ceiling", nil, tenTimesCeiling},
		{"hostile names with keys and tokens", nil, hostileGuardedNames},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessWith(t, func(c *config.Config) {
				guardedConfig(c)
				if tc.mod != nil {
					tc.mod(c)
				}
			})
			p := h.startProbe(t)
			heapBefore := heapInuse()
			tc.attack(t, h)
			delays := p.finish(t)
			h.good.finish(t)
			// The attack's connections are closed, but the server may not
			// have seen every close yet: with conns_per_ip at its limit a
			// new connection from the same address is still refused.
			eventually(t, 5*time.Second, func() string {
				resp, err := plainClient.Get("http://" + h.http + "/healthz")
				if err != nil {
					return fmt.Sprintf("healthz after the attack: %v", err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Sprintf("healthz after the attack: %s", resp.Status)
				}
				return ""
			})
			t.Logf("probe delay during the attack: %s; heap %d -> %d MiB, peak RSS %d MiB",
				delays, heapBefore>>20, heapInuse()>>20, peakRSS(t)>>20)
		})
	}
}

const hostileSecret = "hostile-token-secret-0123"

// guardedConfig adds to the harness: stream keyed (publish key), paid
// (play token, with an any-path WebSocket listener), locked (TCP and UDP
// ingest that allows only 127.0.0.2, so the test's 127.0.0.1 is refused),
// capped and cappedudp (256 KiB/s ceilings) and probe.
func guardedConfig(c *config.Config) {
	const lo = "127.0.0.1:0"
	c.Ingest = append(c.Ingest,
		config.Ingest{Listen: lo, Stream: "locked", Protocols: []string{"tcp", "udp"}, Allow: []string{"127.0.0.2"}},
		config.Ingest{Listen: lo, Stream: "capped", Protocols: []string{"tcp"}},
		config.Ingest{Listen: lo, Stream: "cappedudp", Protocols: []string{"udp"}},
		config.Ingest{Listen: lo, Stream: "paid", Protocols: []string{"tcp"}},
		config.Ingest{Listen: lo, Stream: "probe", Protocols: []string{"tcp"}},
	)
	c.Play = append(c.Play, config.Play{Listen: lo, Stream: "paid", Protocol: "ws"})
	c.Auth.TokenSecret = hostileSecret
	c.Streams["keyed"] = config.StreamOptions{PublishKey: "k3y"}
	c.Streams["paid"] = config.StreamOptions{PlayToken: config.On}
	c.Streams["capped"] = config.StreamOptions{MaxPublishRate: 256 * config.KiB, Format: "ts"}
	c.Streams["cappedudp"] = config.StreamOptions{MaxPublishRate: 256 * config.KiB, Format: "ts"}
	c.Streams["probe"] = config.StreamOptions{Format: "ts"} // no format detection: one packet goes through at once
}

func heapInuse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// peakRSS is the test process's peak resident set (server and clients).
func peakRSS(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// checkHeap fails when the heap grew past bound during an attack.
func checkHeap(t *testing.T, before uint64, bound uint64, what string) {
	t.Helper()
	if now := heapInuse(); now > before+bound {
		t.Errorf("%s: heap in use grew from %d to %d MiB, more than %d MiB", what, before>>20, now>>20, bound>>20)
	}
}

// probe measures, every 20 ms, how long a packet takes from a TCP
// publisher of stream probe to a WebSocket viewer.
type probe struct {
	stop, done chan struct{}
	mu         sync.Mutex
	delays     []time.Duration
	err        error
	st         func() stream.Stats
}

func (h *harness) startProbe(t *testing.T) *probe {
	t.Helper()
	conn, _, err := gws.DefaultDialer.Dial("ws://"+h.http+"/ws/probe", nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := dial(t, h.addr(t, "ingest", "tcp", "probe"))
	p := &probe{stop: make(chan struct{}), done: make(chan struct{}), st: h.n.Hub().Get("probe").Stats}
	eventually(t, 5*time.Second, func() string {
		if st := h.n.Hub().Get("probe").Stats(); st.Readers["ws"] != 1 {
			return "the probe viewer is not counted"
		}
		return ""
	})
	go func() {
		defer close(p.done)
		defer conn.Close()
		for seq := 0; ; seq++ {
			select {
			case <-p.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			// Out of sync, the TS aligner holds packets until three sync
			// bytes in a row confirm them: send four, wait for the first.
			start := time.Now()
			if _, err := pub.Write(appendPackets(nil, 4*seq, 4)); err != nil {
				p.fail(err)
				return
			}
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			for got := -1; got < 4*seq; {
				_, msg, err := conn.ReadMessage()
				if err != nil {
					p.fail(fmt.Errorf("probe packet %d: %w", seq, err))
					return
				}
				for i := 0; i+188 <= len(msg); i += 188 {
					got = seqOf(msg[i : i+188])
				}
			}
			p.mu.Lock()
			p.delays = append(p.delays, time.Since(start))
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { p.halt() })
	return p
}

func (p *probe) fail(err error) {
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
}

func (p *probe) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// finish stops the probe and describes its delays.
func (p *probe) finish(t *testing.T) string {
	t.Helper()
	p.halt()
	if p.err != nil {
		t.Errorf("probe: %v; %+v", p.err, p.st())
	}
	d := slices.Clone(p.delays)
	if len(d) == 0 {
		return "no probe"
	}
	slices.Sort(d)
	q := func(f float64) time.Duration {
		return d[min(len(d)-1, int(f*float64(len(d))))].Round(10 * time.Microsecond)
	}
	return fmt.Sprintf("%d probes, median %v, p99 %v, max %v", len(d), q(0.5), q(0.99), d[len(d)-1].Round(10*time.Microsecond))
}

// refusedEverywhere: missing, wrong and expired keys and tokens on every
// protocol are refused before any byte moves, and each is counted.
func refusedEverywhere(t *testing.T, h *harness) {
	g := h.n.Guard()
	bad := appendPackets(nil, 0, 100)
	for _, tc := range []struct {
		method, query string
		status        int
	}{{"POST", "", 401}, {"PUT", "?key=", 401}, {"POST", "?key=wrong", 403}, {"PUT", "?key=K3Y", 403}, {"POST", "?token=k3y", 401}} {
		req, _ := http.NewRequest(tc.method, "http://"+h.http+"/publish/keyed"+tc.query, strings.NewReader(string(bad)))
		resp, err := plainClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s /publish/keyed%s: %s, want %d", tc.method, tc.query, resp.Status, tc.status)
		}
	}
	for range 20 {
		c := dial(t, h.addr(t, "ingest", "tcp", "locked"))
		c.Write(bad)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("a refused TCP publisher could read from the server")
		}
	}
	u, err := net.Dial("udp", h.addr(t, "ingest", "udp", "locked"))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for i := range 2000 {
		u.Write(appendPackets(nil, i*7, 7))
	}

	now := time.Now()
	good := guard.SignToken([]byte(hostileSecret), "paid", now.Add(time.Hour), netip.Addr{})
	tokens := []struct {
		name, token string
		status      int
		reason      guard.Reason
	}{
		{"missing", "", 401, guard.TokenMissing},
		{"expired", guard.SignToken([]byte(hostileSecret), "paid", now.Add(-time.Minute), netip.Addr{}), 403, guard.TokenExpired},
		{"forged", good[:len(good)-4] + "AAAA", 403, guard.TokenInvalid},
		{"other stream", guard.SignToken([]byte(hostileSecret), "good", now.Add(time.Hour), netip.Addr{}), 403, guard.TokenInvalid},
		{"other address", guard.SignToken([]byte(hostileSecret), "paid", now.Add(time.Hour), netip.MustParseAddr("127.0.0.2")), 403, guard.TokenInvalid},
		{"other secret", guard.SignToken([]byte("another-secret-0123456"), "paid", now.Add(time.Hour), netip.Addr{}), 403, guard.TokenInvalid},
	}
	targets := []struct{ name, addr, path string }{
		{"ws", h.http, "/ws/paid"}, {"ws on /live", h.http, "/live/paid.ts"}, {"any-path ws", h.addr(t, "play", "ws", "paid"), "/x/y"},
	}
	before := make(map[guard.Reason]int64)
	for _, tk := range tokens {
		before[tk.reason] = g.Refused(tk.reason)
	}
	pub := dial(t, h.addr(t, "ingest", "tcp", "paid"))
	pub.Write(appendPackets(nil, 0, 1000)) // media is there to be stolen
	for _, tk := range tokens {
		for _, tg := range targets {
			c := dial(t, tg.addr)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			resp, _, err := rawRequest(c, "GET", tg.path+"?token="+tk.token,
				upgradeHeader+"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")
			if err != nil || resp.StatusCode != tk.status {
				t.Errorf("%s with a %s token: %v %v, want %d", tg.name, tk.name, resp, err, tk.status)
			}
		}
		resp, err := plainClient.Get("http://" + h.http + "/live/paid.ts?token=" + tk.token)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != tk.status || strings.IndexByte(string(body), 0x47) >= 0 {
			t.Errorf("HTTP-TS with a %s token: %s, %d bytes of body (%q)", tk.name, resp.Status, len(body), body[:min(len(body), 60)])
		}
	}
	want := map[guard.Reason]int64{}
	for _, tk := range tokens {
		want[tk.reason] += int64(len(targets) + 1)
	}
	for r, n := range want {
		if got := g.Refused(r) - before[r]; got != n {
			t.Errorf("%v counted %d times, want %d", r, got, n)
		}
	}
	eventually(t, 5*time.Second, func() string {
		if n := g.Refused(guard.IngestSource); n < 20+1000 {
			return fmt.Sprintf("ingest_source counted %d times, want at least 20 connections and half the 2000 datagrams", n)
		}
		return ""
	})
	for _, name := range []string{"keyed", "locked"} {
		if st := h.n.Hub().Get(name).Stats(); st.BytesIn != 0 || st.Publishes != 0 {
			t.Errorf("stream %s took %d bytes from %d refused publishers", name, st.BytesIn, st.Publishes)
		}
	}
	if st := h.n.Hub().Get("paid").Stats(); st.BytesOut != 0 || len(st.Readers) != 0 {
		t.Errorf("stream paid sent %d bytes to refused viewers %v", st.BytesOut, st.Readers)
	}
	if lines := h.logs.matching("ingest source refused"); len(lines) != 2 {
		t.Errorf("%d log lines for the refused sources, want 2 (tcp, udp):\n%s", len(lines), strings.Join(lines, ""))
	}
	resp, err := plainClient.Get("http://" + h.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, r := range []string{"publish_key_missing", "publish_key_wrong", "ingest_source", "token_missing", "token_expired", "token_invalid"} {
		if line := fmt.Sprintf(`tsstream_refused_total{reason=%q} %d`, r, g.Refused(reasonByName(r))); !strings.Contains(string(metrics), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

func reasonByName(name string) guard.Reason {
	for r := guard.Reason(0); r.String() != "unknown"; r++ {
		if r.String() == name {
			return r
		}
	}
	return -1
}

// openConns opens n TCP connections to addr with 16 dialers and returns
// them; connections the server closes on accept are returned too.
func openConns(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	if firstErr != nil {
		t.Fatalf("dialing %d connections: %v", n, firstErr)
	}
	return conns
}

// stillOpen counts the connections the server has not closed: a read with
// a short deadline times out on those.
func stillOpen(conns []net.Conn) int {
	open := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				open++
			}
		}
	}
	return open
}

// idleConns: 5000 connections that send nothing are held (the read header
// timeout would end them after a minute) while the good flow and the
// probe keep going and /healthz answers on a new connection.
func idleConns(t *testing.T, h *harness) {
	heap := heapInuse()
	start := time.Now()
	conns := openConns(t, h.http, 5000)
	opened := time.Since(start)
	time.Sleep(500 * time.Millisecond) // the good flow and the probe run under the load
	held := stillOpen(conns)
	if held != len(conns) {
		t.Errorf("%d of %d idle connections held, want all", held, len(conns))
	}
	resp, err := plainClient.Get("http://" + h.http + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz with 5000 idle connections: %v %v", resp, err)
	}
	resp.Body.Close()
	checkHeap(t, heap, 256<<20, "5000 idle connections")
	t.Logf("5000 idle connections opened in %v, %d held; heap %d -> %d MiB; open fds %d",
		opened.Round(time.Millisecond), held, heap>>20, heapInuse()>>20, openFDs(t))
}

// overConnsPerIP: with loopback counted, one address gets 200 connections
// and the other 4800 are closed on accept and counted.
func overConnsPerIP(t *testing.T, h *harness) {
	g := h.n.Guard()
	before := g.Refused(guard.ConnsPerIP)
	conns := openConns(t, h.http, 5000)
	eventually(t, 20*time.Second, func() string {
		if n := g.Refused(guard.ConnsPerIP) - before; n < 4800-50 {
			// the good flow's and the probe's own connections count too
			return fmt.Sprintf("conns_per_ip counted %d refusals, want about 4800", n)
		}
		return ""
	})
	held := stillOpen(conns)
	if held > 200 || held < 150 {
		t.Errorf("%d connections held, want at most 200 (conns_per_ip) less the harness's own", held)
	}
	t.Logf("5000 connections from 127.0.0.1: %d held, %d refused on accept", held, g.Refused(guard.ConnsPerIP)-before)
	for _, c := range conns {
		if c != nil {
			c.Close() // the attack is over: the node must serve again
		}
	}
}

// refusedChurn: 3000 connect-write-close cycles on an ingest listener that
// refuses the source: each is closed on accept and counted, one log line
// in all.
func refusedChurn(t *testing.T, h *harness) {
	g := h.n.Guard()
	before := g.Refused(guard.IngestSource)
	addr := h.addr(t, "ingest", "tcp", "locked")
	var wg sync.WaitGroup
	start := time.Now()
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < 3000; i += 8 {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Errorf("cycle %d: %v", i, err)
					return
				}
				c.Write(packet(i))
				c.Close()
			}
		})
	}
	wg.Wait()
	eventually(t, 10*time.Second, func() string {
		if n := g.Refused(guard.IngestSource) - before; n != 3000 {
			return fmt.Sprintf("%d of 3000 refused connections counted", n)
		}
		return ""
	})
	if lines := h.logs.matching("ingest source refused"); len(lines) != 1 {
		t.Errorf("%d log lines for one refused source, want 1", len(lines))
	}
	if st := h.n.Hub().Get("locked").Stats(); st.BytesIn != 0 {
		t.Errorf("%d bytes entered from a refused source", st.BytesIn)
	}
	t.Logf("3000 refused connect cycles in %v", time.Since(start).Round(time.Millisecond))
}

// udpFloods: 50,000 1-byte datagrams and 20,000 garbage datagrams at the
// refusing listener, and 20,000 1-byte datagrams at an open one.
func udpFloods(t *testing.T, h *harness) {
	g := h.n.Guard()
	heap := heapInuse()
	flood := func(addr string, n int, payload func(int) []byte) {
		u, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		for i := range n {
			u.Write(payload(i))
		}
	}
	one := func(int) []byte { return []byte{0x47} }
	junk := randomBytes(1316)
	start := time.Now()
	flood(h.addr(t, "ingest", "udp", "locked"), 50000, one)
	flood(h.addr(t, "ingest", "udp", "locked"), 20000, func(i int) []byte { junk[i%1316]++; return junk })
	flood(h.addr(t, "ingest", "udp", "junkudp"), 20000, one)
	took := time.Since(start)
	time.Sleep(200 * time.Millisecond)
	refused := g.Refused(guard.IngestSource)
	if refused < 10000 {
		t.Errorf("only %d of 70000 refused datagrams counted (the kernel may drop some, not most)", refused)
	}
	if st := h.n.Hub().Get("locked").Stats(); st.BytesIn != 0 {
		t.Errorf("%d bytes entered from a refused source", st.BytesIn)
	}
	if lines := h.logs.matching("ingest source refused"); len(lines) != 1 {
		t.Errorf("%d log lines for one flooding source, want 1:\n%s", len(lines), strings.Join(lines, ""))
	}
	checkHeap(t, heap, 64<<20, "udp floods")
	t.Logf("90000 datagrams sent in %v; %d refused and counted; open listener took %d bytes",
		took.Round(time.Millisecond), refused, h.n.Hub().Get("junkudp").Stats().BytesIn)
}

// hugeViewerFrame: a viewer announces a 100 MB binary frame and keeps
// sending it; the server closes with 1009 after the header, long before
// 100 MB, and counts it.
func hugeViewerFrame(t *testing.T, h *harness) {
	g := h.n.Guard()
	before := g.Refused(guard.ViewerMessage)
	heap := heapInuse()
	c := dial(t, h.http)
	br, err := wsHandshake(c, "/ws/good")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan int, 1)
	go func() {
		code, _ := readClose(bufio.NewReader(br))
		closed <- code
	}()
	chunk := clientFrame(0x82, 100<<20, randomBytes(1<<20))
	sent, start := 0, time.Now()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for sent < 100<<20 {
		n, err := c.Write(chunk)
		sent += n
		if err != nil {
			break
		}
		chunk = randomBytes(1 << 20)
	}
	select {
	case code := <-closed:
		if code != 1009 {
			t.Errorf("close code %d, want 1009", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no close frame")
	}
	if sent >= 100<<20 {
		t.Errorf("the server read all %d MB", sent>>20)
	}
	if g.Refused(guard.ViewerMessage)-before != 1 {
		t.Errorf("viewer_message counted %d times", g.Refused(guard.ViewerMessage)-before)
	}
	checkHeap(t, heap, 32<<20, "100 MB frame")
	t.Logf("100 MB frame: the server closed after the client wrote %d KiB, in %v", sent>>10, time.Since(start).Round(time.Millisecond))
}

// tenTimesCeiling: a TCP publisher at 10x max_publish_rate is cut, with
// its viewer getting exactly what came in; a UDP publisher at 10x has the
// excess dropped.
func tenTimesCeiling(t *testing.T, h *harness) {
	const ceiling = 256 << 10
	g := h.n.Guard()
	view := h.viewWS(t, "/ws/capped", 188)
	eventually(t, 5*time.Second, func() string {
		if h.n.Hub().Get("capped").Stats().Readers["ws"] != 1 {
			return "no viewer of capped"
		}
		return ""
	})
	pub := dial(t, h.addr(t, "ingest", "tcp", "capped"))
	sent, start := 0, time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	for time.Since(start) < 5*time.Second {
		<-tick.C
		b := appendPackets(nil, sent/188, 10*ceiling/100/188) // 10x the ceiling, every 10 ms
		pub.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := pub.Write(b)
		sent += n
		if err != nil {
			break
		}
	}
	tick.Stop()
	cutAfter := time.Since(start)
	if g.Refused(guard.PublishRate) < 1 {
		t.Fatalf("a TCP publisher at 10x the ceiling ran %v and was not cut", cutAfter)
	}
	in := h.n.Hub().Get("capped").Stats().BytesIn
	want := appendPackets(nil, 0, int(in)/188)
	tstest.SameBytes(t, "viewer of capped", view.wait(t, "viewer of capped", func(b []byte) bool { return len(b) >= len(want) }), want)

	u, err := net.Dial("udp", h.addr(t, "ingest", "udp", "cappedudp"))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	dropsBefore := g.Refused(guard.PublishRate)
	start = time.Now()
	var usent int
	for i := 0; time.Since(start) < 2*time.Second; i++ {
		u.Write(appendPackets(nil, i*7, 7))
		usent += 7 * 188
		if i%20 == 19 {
			time.Sleep(10 * time.Millisecond) // about 2.6 MB/s
		}
	}
	elapsed := time.Since(start).Seconds()
	time.Sleep(100 * time.Millisecond)
	uin := h.n.Hub().Get("cappedudp").Stats().BytesIn
	if limit := int64(2*ceiling + elapsed*ceiling + 64<<10); uin > limit {
		t.Errorf("UDP at %.1f MB/s put %d bytes in over %.1fs, more than the ceiling allows (%d)", float64(usent)/elapsed/1e6, uin, elapsed, limit)
	}
	if g.Refused(guard.PublishRate) == dropsBefore {
		t.Error("no UDP datagram over the ceiling was counted")
	}
	t.Logf("TCP at 10x: cut after %v and %d KiB in; UDP at %.1f MB/s: %d of %d KiB taken, %d datagrams dropped",
		cutAfter.Round(time.Millisecond), in>>10, float64(usent)/elapsed/1e6, uin>>10, usent>>10, g.Refused(guard.PublishRate)-dropsBefore)
}

// hostileGuardedNames: odd names in keyed and token URLs get 400 or a
// refusal, never a stream.
func hostileGuardedNames(t *testing.T, h *harness) {
	tok := guard.SignToken([]byte(hostileSecret), "paid", time.Now().Add(time.Hour), netip.Addr{})
	for _, path := range []string{
		"/publish/..%2Fkeyed?key=k3y", "/publish/keyed%00?key=k3y", "/publish/%E2%80%AEkeyed?key=k3y",
		"/publish/keyed?key=k3y%00", "/publish/keyed?key=%E2%80%AE", "/publish/keyed?key=x&key=k3y",
		"/live/paid%2F..%2F.ts?token=" + tok, "/live/paid.ts?token=" + tok + "%00", "/live/paid.ts?token=%FF%FE",
		"/live/paid.ts?token=" + strings.Repeat("9", 10000), "/ws/paid?token=..%2F..%2F", "/ws/pa%C3%AFd?token=" + tok,
	} {
		method := "GET"
		if strings.HasPrefix(path, "/publish/") {
			method = "POST"
		}
		c := dial(t, h.http)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		resp, _, err := rawRequest(c, method, path, "", "x")
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s %s: %s, want a 4xx", method, path, resp.Status)
		}
	}
	if st := h.n.Hub().Get("keyed").Stats(); st.BytesIn != 0 {
		t.Errorf("keyed took %d bytes", st.BytesIn)
	}
}
