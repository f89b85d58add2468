package node

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/tstest"

	"github.com/tsstream/tsstream/internal/config"
)

// TestPushToOtherNodes: deployment 4 in one process. Node A forwards its
// stream to node B's TCP ingest and to node C's HTTP publish; viewers of B
// and C get exactly what was published to A, and A's API shows both links
// up with the bytes they carried.
func TestPushToOtherNodes(t *testing.T) {
	raw := config.StreamOptions{Format: config.FormatRaw}
	cfgB := testConfig("relay")
	cfgB.Name, cfgB.Streams["relay"] = "B", raw
	b := startNode(t, cfgB)
	cfgC := testConfig("relay")
	cfgC.Name, cfgC.Streams["relay"] = "C", raw
	c := startNode(t, cfgC)

	cfgA := testConfig("relay")
	cfgA.Name = "A"
	pushed := raw
	pushed.Push = []string{
		"tcp://" + addr(t, b, "ingest", "tcp", "relay"),
		"http://" + addr(t, c, "http", "http", "") + "/publish/relay",
	}
	cfgA.Streams["relay"] = pushed
	a := startNode(t, cfgA)

	client := httpClient(t)
	viewB := dialWS(t, wsURL(addr(t, b, "http", "http", ""), "/ws/relay"), false)
	viewC := dialHTTPTS(t, client, httpURL(addr(t, c, "http", "http", ""), "/live/relay.ts"), "application/octet-stream")
	for _, l := range a.links() {
		if l.State != "idle" {
			t.Errorf("link %s is %s before A has a publisher, want idle", l.URL, l.State)
		}
	}
	// Pushes connect once the stream has a publisher.
	pub := dialTCP(t, addr(t, a, "ingest", "tcp", "relay"))
	linksUp := func() bool {
		links := a.links()
		return len(links) == 2 && links[0].State == "up" && links[1].State == "up"
	}
	waitFor(t, 5*time.Second, linksUp, func() string { return fmt.Sprintf("links %+v", a.links()) })

	want := bytes.Repeat([]byte("relay me, byte for byte\n"), 40000) // about 1 MB
	writeInPieces(t, pub, want)

	for name, v := range map[string]viewer{"B (pushed over TCP)": viewB, "C (pushed over HTTP)": viewC} {
		got, err := readN(v, len(want))
		if err != nil {
			t.Fatalf("viewer of %s: %v", name, err)
		}
		tstest.SameBytes(t, "viewer of "+name, got, want)
	}
	// The counters move once a write returns, maybe after the viewers read.
	sent := func() bool {
		for _, l := range a.links() {
			if l.Kind != "push" || l.BytesSent != int64(len(want)) || l.Reconnects != 0 {
				return false
			}
		}
		return true
	}
	waitFor(t, 5*time.Second, sent, func() string {
		return fmt.Sprintf("links %+v: want push, %d bytes sent, no reconnect", a.links(), len(want))
	})
	if st := stats(t, c, "relay"); st.Publisher == nil || st.Publisher.Protocol != "http" {
		t.Errorf("node C's publisher: %+v, want the HTTP push", st.Publisher)
	}
}

// TestPushRingSettles: a misconfigured ring A → B → C → A of HTTP pushes.
// The relay path header makes A refuse C's push (508): the stream reaches
// B and C once, and A takes in only what its publisher sent.
func TestPushRingSettles(t *testing.T) {
	raw := config.StreamOptions{Format: config.FormatRaw}
	nodes := map[string]*Node{}
	cfgs := map[string]*config.Config{}
	for _, name := range []string{"A", "B", "C"} {
		cfg := testConfig("ring")
		cfg.Name, cfg.Streams["ring"] = name, raw
		cfgs[name] = cfg
	}
	// Each push needs its target's address: start A without a push, C
	// pushing to A, B pushing to C, then restart A on the same HTTP port
	// with its push to B, which closes the ring.
	nodes["A"] = startNode(t, withPush(cfgs["A"], "ring", ""))
	nodes["C"] = startNode(t, withPush(cfgs["C"], "ring", "http://"+addr(t, nodes["A"], "http", "http", "")+"/publish/ring"))
	nodes["B"] = startNode(t, withPush(cfgs["B"], "ring", "http://"+addr(t, nodes["C"], "http", "http", "")+"/publish/ring"))
	nodes["A"].Shutdown(t.Context())
	cfgs["A"].HTTP.Listen = addr(t, nodes["A"], "http", "http", "")
	cfgs["A"].Ingest[0].Listen = "127.0.0.1:0"
	nodes["A"] = startNode(t, withPush(cfgs["A"], "ring", "http://"+addr(t, nodes["B"], "http", "http", "")+"/publish/ring"))

	want := bytes.Repeat([]byte("once around, not forever\n"), 4000)
	pub := dialTCP(t, addr(t, nodes["A"], "ingest", "tcp", "ring"))
	// The pushes connect hop by hop as each stream gets its publisher.
	for _, name := range []string{"A", "B"} {
		up := func() bool { l := nodes[name].links(); return len(l) == 1 && l[0].State == "up" }
		waitFor(t, 5*time.Second, up, func() string { return fmt.Sprintf("%s's links %+v", name, nodes[name].links()) })
	}
	writeInPieces(t, pub, want)

	refused := func() bool {
		for _, l := range nodes["C"].links() {
			if l.State == "backoff" && bytes.Contains([]byte(l.LastError), []byte("508")) {
				return true
			}
		}
		return false
	}
	waitFor(t, 5*time.Second, refused, func() string { return fmt.Sprintf("C's links %+v", nodes["C"].links()) })
	for _, name := range []string{"B", "C"} {
		waitFor(t, 5*time.Second, func() bool { return stats(t, nodes[name], "ring").BytesIn == int64(len(want)) },
			func() string {
				return fmt.Sprintf("%s took in %d bytes, want %d", name, stats(t, nodes[name], "ring").BytesIn, len(want))
			})
	}
	if st := stats(t, nodes["C"], "ring"); len(st.Publisher.Path) != 2 || st.Publisher.Path[0] != "A" || st.Publisher.Path[1] != "B" {
		t.Errorf("C's publisher path %v, want [A B]", st.Publisher.Path)
	}
	time.Sleep(200 * time.Millisecond) // time for any amplification to show
	if st := stats(t, nodes["A"], "ring"); st.BytesIn != int64(len(want)) || st.Publisher.Protocol != "tcp" {
		t.Errorf("A took in %d bytes from %s, want %d from its TCP publisher", st.BytesIn, st.Publisher.Protocol, len(want))
	}
}

// TestRelayPathRefusals: an HTTP publish whose Tsstream-Path holds this node
// or is longer than max_hops gets 508 with the reason, and no data enters.
func TestRelayPathRefusals(t *testing.T) {
	cfg := testConfig("x")
	cfg.Name, cfg.MaxHops = "me", 2
	n := startNode(t, cfg)
	c := httpClient(t)
	for _, tc := range []struct{ path, reason string }{
		{"a,me", "already on the relay path"},
		{"a,b,c", "more than max_hops 2"},
	} {
		req, _ := http.NewRequest(http.MethodPost, httpURL(addr(t, n, "http", "http", ""), "/publish/x"), bytes.NewReader(tstest.Packets(0, 10)))
		req.Header.Set("Tsstream-Path", tc.path)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusLoopDetected || !bytes.Contains(body, []byte(tc.reason)) {
			t.Errorf("path %q: %s %q; want 508 saying %q", tc.path, resp.Status, body, tc.reason)
		}
	}
	if st := stats(t, n, "x"); st.BytesIn != 0 || st.Publishes != 0 {
		t.Errorf("refused pushes put %d bytes in (%d publishers)", st.BytesIn, st.Publishes)
	}
	// A pull whose path holds this node is refused the same way.
	req, _ := http.NewRequest(http.MethodGet, httpURL(addr(t, n, "http", "http", ""), "/live/x.ts"), nil)
	req.Header.Set("Tsstream-Path", "edge-2,me")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusLoopDetected {
		t.Errorf("pull with this node on its path: %s, want 508", resp.Status)
	}
	if st := stats(t, n, "x"); len(st.Readers) != 0 {
		t.Errorf("refused pull left readers %v", st.Readers)
	}
}

// withPush returns cfg with stream's push targets set to target (none if "").
func withPush(cfg *config.Config, stream, target string) *config.Config {
	o := cfg.Streams[stream]
	o.Push = nil
	if target != "" {
		o.Push = []string{target}
	}
	cfg.Streams[stream] = o
	return cfg
}
