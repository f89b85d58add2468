package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/tstest"
)

// TestChainOfFiveEdges: deployment 5 in depth. N1 has the publisher; N2 to
// N5 are edges, each pulling any stream on demand from the one before. One
// viewer at N5 starts the whole chain; it gets an unbroken stream, and N5
// knows the way its data came.
func TestChainOfFiveEdges(t *testing.T) {
	cfg := testConfig("local")
	cfg.Name = "N1"
	prev := startNode(t, cfg)
	feed(t, prev.Hub(), "cam")
	nodes := []*Node{prev}
	for i := 2; i <= 5; i++ {
		n := startNode(t, edgeConfig(fmt.Sprintf("N%d", i), time.Second, addr(t, prev, "http", "http", "")))
		nodes = append(nodes, n)
		prev = n
	}
	start := time.Now()
	v := dialHTTPTS(t, httpClient(t), httpURL(addr(t, prev, "http", "http", ""), "/live/cam.ts"), "video/mp2t")
	t.Logf("a viewer at the 5th node started the chain in %v", time.Since(start).Round(time.Millisecond))
	consecutive(t, "viewer at N5", v, 1000)
	if p := stats(t, prev, "cam").Publisher; p == nil || strings.Join(p.Path, ",") != "N1,N2,N3,N4" {
		t.Errorf("N5's publisher %+v, want relay path N1,N2,N3,N4", p)
	}
	for i, n := range nodes[:4] {
		if got := n.Hub().Readers("cam"); got != 1 {
			t.Errorf("N%d has %d readers of cam, want 1 (the next edge)", i+1, got)
		}
	}
}

// TestTreeOneThreeNine: deployment 5 in width. A root, three nodes that
// always pull from it, nine edges (three under each) that pull on demand;
// a viewer at each of the nine gets an unbroken stream, and the root sends
// the stream three times, not twelve.
func TestTreeOneThreeNine(t *testing.T) {
	cfg := testConfig("local")
	cfg.Name = "root"
	root := startNode(t, cfg)
	feed(t, root.Hub(), "cam")
	var leaves []*Node
	for i := range 3 {
		mid := testConfig("local")
		mid.Name = fmt.Sprintf("mid%d", i)
		mid.Pulls = []config.Pull{{Stream: "cam", Static: true,
			From: []string{"http://" + addr(t, root, "http", "http", "") + "/live/cam.ts"}}}
		m := startNode(t, mid)
		for j := range 3 {
			leaves = append(leaves, startNode(t, edgeConfig(fmt.Sprintf("leaf%d%d", i, j), time.Second,
				addr(t, m, "http", "http", ""))))
		}
	}
	c := httpClient(t)
	var views []viewer
	for _, l := range leaves {
		views = append(views, dialHTTPTS(t, c, httpURL(addr(t, l, "http", "http", ""), "/live/cam.ts"), "video/mp2t"))
	}
	for i, v := range views {
		consecutive(t, fmt.Sprintf("viewer at leaf %d", i), v, 500)
	}
	waitViewers(t, root, "cam", map[string]int{"http": 3})
	if p := stats(t, leaves[8], "cam").Publisher; p == nil || strings.Join(p.Path, ",") != "root,mid2" {
		t.Errorf("leaf 8's publisher %+v, want relay path root,mid2", p)
	}
}

// TestStaticRingSettles: three nodes that always pull stream x from each
// other in a ring (A from B, B from C, C from A), and a publisher at A.
// The data goes A → C → B once; A's pull from B is refused as a loop
// (508), so nothing circulates and no node takes in more than was
// published. Either C's pull comes up first, or B's does, while C has no
// source yet and answers with the short path "C": then C ends B's answer
// when its own pull comes up, and B asks again and hears "A,C".
func TestStaticRingSettles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bFirst bool
	}{
		{"C's pull first", false},
		{"B's pull first", true},
	} {
		t.Run(tc.name, func(t *testing.T) { testStaticRing(t, tc.bFirst) })
	}
}

func testStaticRing(t *testing.T, bFirst bool) {
	proxies := []*tstest.Proxy{tstest.NewProxy(t, ""), tstest.NewProxy(t, ""), tstest.NewProxy(t, "")}
	var nodes []*Node
	for i, name := range []string{"A", "B", "C"} {
		cfg := testConfig("local")
		cfg.Name = name
		cfg.Pulls = []config.Pull{{Stream: "x", Static: true,
			From: []string{"http://" + proxies[(i+1)%3].Addr() + "/live/x.ts"}}}
		n := startNode(t, cfg)
		if !bFirst || name != "A" {
			proxies[i].SetTarget(addr(t, n, "http", "http", ""))
		}
		nodes = append(nodes, n)
		if name == "A" {
			feed(t, n.Hub(), "x")
		}
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	if bFirst {
		// C cannot reach A yet: B's pull comes up with C's short path.
		waitFor(t, ioTimeout, func() bool {
			p := stats(t, b, "x").Publisher
			return p != nil && strings.Join(p.Path, ",") == "C"
		}, func() string {
			return fmt.Sprintf("B's publisher %+v, want the pull from C with relay path C", stats(t, b, "x").Publisher)
		})
		proxies[0].SetTarget(addr(t, a, "http", "http", ""))
	}
	start := time.Now()
	waitFor(t, 3*ioTimeout, func() bool {
		l := pullLink(a, "x")
		return l.State != "up" && strings.Contains(l.LastError, "508") && pullLink(b, "x").Path == "A,C"
	}, func() string { return fmt.Sprintf("A's link %+v, B's %+v", pullLink(a, "x"), pullLink(b, "x")) })
	t.Logf("settled %v after the ring could close; B's link %+v", time.Since(start).Round(time.Millisecond), pullLink(b, "x"))
	if p := stats(t, b, "x").Publisher; p == nil || strings.Join(p.Path, ",") != "A,C" {
		t.Errorf("B's publisher %+v, want the pull with relay path A,C", p)
	}
	// Over a second, each node takes in at most what A's publisher sent.
	in := func() (int64, int64, int64) {
		return stats(t, a, "x").BytesIn, stats(t, b, "x").BytesIn, stats(t, c, "x").BytesIn
	}
	a0, b0, c0 := in()
	time.Sleep(time.Second)
	a1, b1, c1 := in()
	pub := a1 - a0
	if pub <= 0 || b1-b0 > pub+64<<10 || c1-c0 > pub+64<<10 {
		t.Errorf("over 1s A took in %d bytes, B %d, C %d: the ring amplifies", pub, b1-b0, c1-c0)
	}
	if b1-b0 < pub/2 {
		t.Errorf("over 1s A took in %d bytes, B only %d: B should get the stream through C", pub, b1-b0)
	}
	if got := a.Hub().Readers("x"); got != 1 {
		t.Errorf("A has %d readers, want 1 (C's pull)", got)
	}
	if l := pullLink(a, "x"); l.State == "up" || !strings.Contains(l.LastError, "508") {
		t.Errorf("A's link %+v, want it refused with 508 still", l)
	}
}
