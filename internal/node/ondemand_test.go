package node

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/stream"
	"github.com/tsstream/tsstream/internal/tstest"
)

// feeder publishes numbered TS packets into a stream, 7 every 2 ms.
type feeder struct {
	p    *stream.Publisher
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	sent int // packets
}

// feed starts a feeder of stream name of hub, stopped at cleanup.
func feed(t *testing.T, hub *stream.Hub, name string) *feeder {
	t.Helper()
	p, err := hub.Publish(name, stream.PublisherInfo{Protocol: "test", Remote: "feed"})
	if err != nil {
		t.Fatal(err)
	}
	f := &feeder{p: p, stop: make(chan struct{}), done: make(chan struct{})}
	go f.run()
	t.Cleanup(func() {
		f.Stop()
		p.Close("test over")
	})
	return f
}

func (f *feeder) run() {
	defer close(f.done)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		f.mu.Lock()
		n := f.sent
		f.sent += 7
		f.mu.Unlock()
		if _, err := f.p.Write(tstest.Packets(n, 7)); err != nil {
			return
		}
	}
}

// Stop ends the feed (the publisher stays) and returns the packets sent.
func (f *feeder) Stop() int {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent
}

// consecutive reads n packets from v and checks that their numbers follow
// one another (a relay lost, repeated or reordered none).
func consecutive(t *testing.T, what string, v viewer, n int) {
	t.Helper()
	b, err := readN(v, n*188)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	first := tstest.Number(b)
	for i := 0; i < n; i++ {
		if got := tstest.Number(b[i*188:]); got != first+int64(i) {
			t.Fatalf("%s: packet %d is number %d, want %d", what, i, got, first+int64(i))
		}
	}
}

// edgeConfig is a node that pulls any stream on demand from the origins.
func edgeConfig(name string, linger time.Duration, origins ...string) *config.Config {
	cfg := testConfig("local")
	cfg.Name = name
	var from []string
	for _, o := range origins {
		from = append(from, "http://"+o+"/live/{stream}.ts")
	}
	cfg.Pulls = []config.Pull{{Stream: "*", From: from, Linger: config.Duration(linger),
		StartTimeout: config.Duration(2 * time.Second)}}
	return cfg
}

func linkStates(n *Node) string {
	var b strings.Builder
	for _, l := range n.links() {
		if l.Kind == "pull" {
			fmt.Fprintf(&b, "%s %s %s; ", l.Stream, l.URL, l.State)
		}
	}
	return b.String()
}

// TestOnDemandPull: an edge pulls a stream only while it has viewers: the
// first viewer starts the pull, the stream stops Linger after the last one
// left, and the next viewer starts it again.
func TestOnDemandPull(t *testing.T) {
	cfgA := testConfig("cam")
	cfgA.Name = "A"
	a := startNode(t, cfgA)
	feed(t, a.Hub(), "cam")
	b := startNode(t, edgeConfig("B", 300*time.Millisecond, addr(t, a, "http", "http", "")))
	bAddr := addr(t, b, "http", "http", "")

	if n := a.Hub().Readers("cam"); n != 0 {
		t.Fatalf("origin has %d readers before any edge viewer", n)
	}
	if s := linkStates(b); !strings.Contains(s, "idle") {
		t.Fatalf("edge links before a viewer: %s, want the rule idle", s)
	}
	start := time.Now()
	v := dialHTTPTS(t, httpClient(t), httpURL(bAddr, "/live/cam.ts"), "video/mp2t")
	t.Logf("on-demand start took %v", time.Since(start))
	consecutive(t, "edge viewer", v, 300)
	waitViewers(t, a, "cam", map[string]int{"http": 1})
	if s := linkStates(b); !strings.Contains(s, "cam http://"+addr(t, a, "http", "http", "")+"/live/cam.ts up") {
		t.Errorf("edge links: %s, want cam's pull up", s)
	}
	st := stats(t, b, "cam")
	if st.Publisher == nil || strings.Join(st.Publisher.Path, ",") != "A" {
		t.Errorf("edge publisher %+v, want the pull with relay path A", st.Publisher)
	}

	v.Close()
	waitFor(t, ioTimeout, func() bool { return a.Hub().Readers("cam") == 0 },
		func() string { return "the origin still serves the edge after its last viewer left" })
	if s := linkStates(b); !strings.Contains(s, "idle") {
		t.Errorf("edge links after the linger: %s, want idle", s)
	}

	// A viewer again: a new pull, over WebSocket this time.
	ws := dialWS(t, wsURL(bAddr, "/ws/cam"), true)
	consecutive(t, "edge viewer after restart", ws, 300)
}

// TestOnDemandErrors: a viewer of a stream that cannot start gets a clear
// error: 404 when the origin has no such stream, 504 when it never sends
// data within the start timeout, and a WebSocket close with the reason.
func TestOnDemandErrors(t *testing.T) {
	cfgA := testConfig("cam")
	cfgA.Name = "A"
	cfgA.Streams["silent"] = config.StreamOptions{} // declared, never published
	a := startNode(t, cfgA)
	cfgB := edgeConfig("B", 100*time.Millisecond, addr(t, a, "http", "http", ""))
	cfgB.Pulls[0].StartTimeout = config.Duration(500 * time.Millisecond)
	b := startNode(t, cfgB)
	bAddr := addr(t, b, "http", "http", "")
	c := httpClient(t)
	for _, tc := range []struct {
		path   string
		status int
		text   string
		within time.Duration
	}{
		{"/live/nope.ts", http.StatusNotFound, `stream "nope": no upstream has it`, 400 * time.Millisecond},
		{"/live/silent.ts", http.StatusGatewayTimeout, `stream "silent" did not start within 500ms`, 2 * time.Second},
	} {
		t.Run(tc.path, func(t *testing.T) {
			start := time.Now()
			code, body := httpGet(t, c, httpURL(bAddr, tc.path))
			took := time.Since(start)
			if code != tc.status || !strings.Contains(body, tc.text) {
				t.Errorf("GET %s: %d %q, want %d and %q", tc.path, code, body, tc.status, tc.text)
			}
			if took > tc.within {
				t.Errorf("GET %s answered after %v, want within %v", tc.path, took, tc.within)
			}
		})
	}
	t.Run("websocket", func(t *testing.T) {
		d := &websocket.Dialer{HandshakeTimeout: ioTimeout}
		conn, _, err := d.Dial(wsURL(bAddr, "/ws/nope"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(ioTimeout))
		_, _, err = conn.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 1013 || !strings.Contains(ce.Text, "no upstream has it") {
			t.Fatalf("read: %v, want close 1013 with the reason", err)
		}
	})
	// Nothing is left running once the viewers are gone.
	waitFor(t, ioTimeout, func() bool { return len(b.demand.Links()) == 0 },
		func() string { return "edge links still running: " + linkStates(b) })
}

// TestOnDemandRingSettles: three edges that pull every stream from each
// other, A from B, B from C, C from A. A viewer's request goes round and
// comes back to A, which refuses it (508): every node answers at once, and
// nothing keeps running.
func TestOnDemandRingSettles(t *testing.T) {
	proxies := []*tstest.Proxy{tstest.NewProxy(t, ""), tstest.NewProxy(t, ""), tstest.NewProxy(t, "")}
	var nodes []*Node
	for i, name := range []string{"A", "B", "C"} {
		n := startNode(t, edgeConfig(name, 200*time.Millisecond, proxies[(i+1)%3].Addr()))
		proxies[i].SetTarget(addr(t, n, "http", "http", ""))
		nodes = append(nodes, n)
	}
	start := time.Now()
	code, body := httpGet(t, httpClient(t), httpURL(addr(t, nodes[0], "http", "http", ""), "/live/x.ts"))
	if code != http.StatusLoopDetected || !strings.Contains(body, "relay path A -> B -> C") {
		t.Errorf("viewer of the ring: %d %q, want 508 naming the path", code, body)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the ring answered after %v, want at once", took)
	}
	for _, n := range nodes {
		waitFor(t, ioTimeout, func() bool { return len(n.demand.Links()) == 0 && n.Hub().Readers("x") == 0 },
			func() string { return "a node of the ring still pulls: " + linkStates(n) })
	}
	for i, p := range proxies {
		if c := p.Conns(); c != 0 {
			t.Errorf("link %d holds %d connections after settling", i, c)
		}
	}
}

// TestOnDemandLeavesLocalStreamsAlone: a stream published into the edge
// itself is served as it is; its viewers start no pull.
func TestOnDemandLeavesLocalStreamsAlone(t *testing.T) {
	b := startNode(t, edgeConfig("B", time.Second, "127.0.0.1:1")) // nothing listens upstream
	feed(t, b.Hub(), "cam")
	v := dialHTTPTS(t, httpClient(t), httpURL(addr(t, b, "http", "http", ""), "/live/cam.ts"), "video/mp2t")
	consecutive(t, "viewer of the local stream", v, 300)
	if n := len(b.demand.Links()); n != 0 {
		t.Errorf("%d pulls run for a stream published here: %s", n, linkStates(b))
	}
}
