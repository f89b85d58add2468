package node

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/httpserver"
	"github.com/tsstream/tsstream/internal/stream"
	"github.com/tsstream/tsstream/internal/tstest"
)

// reliableConfig is a node that always pulls stream name from the
// upstream at host:port, reliably.
func reliableConfig(node, name, upstream string) *config.Config {
	cfg := testConfig("local")
	cfg.Name = node
	cfg.Pulls = []config.Pull{{Stream: name, From: []string{"http://" + upstream + "/live/" + name + ".ts"},
		Static: true, Reliable: true}}
	return cfg
}

// pullLink returns n's pull link of stream name.
func pullLink(n *Node, name string) httpserver.Link {
	for _, l := range n.links() {
		if l.Kind == "pull" && l.Stream == name {
			return l
		}
	}
	return httpserver.Link{}
}

func waitLinkUp(t *testing.T, n *Node, name string) {
	t.Helper()
	waitFor(t, ioTimeout, func() bool { return pullLink(n, name).State == "up" },
		func() string { return fmt.Sprintf("link %+v, want up", pullLink(n, name)) })
}

// exactCollector keeps every byte of a stream from offset 0.
type exactCollector struct {
	mu  sync.Mutex
	got []byte
	err error
}

func collectExact(t *testing.T, hub *stream.Hub, name string) *exactCollector {
	t.Helper()
	rd, served, err := hub.NewReaderAt(name, stream.ReaderInfo{Protocol: "test"}, "", 0)
	if err != nil || served != 0 {
		t.Fatalf("exact reader: served %d, %v", served, err)
	}
	c := &exactCollector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b, err := rd.Next(ctx)
			c.mu.Lock()
			if err != nil {
				c.err = err
				c.mu.Unlock()
				return
			}
			for _, p := range b.Bufs {
				c.got = append(c.got, p...)
			}
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		rd.Close("test over")
	})
	return c
}

func (c *exactCollector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// TestReliableChainLosesNothingAcrossOutage: A → B → C, reliable pulls,
// the link A–B cut for 2 s mid-stream. B resumes at the exact byte from
// A's ring, C never notices, and the bytes at C hash the same as the bytes
// published at A. C's real-time viewer stays connected throughout.
func TestReliableChainLosesNothingAcrossOutage(t *testing.T) {
	cfgA := testConfig("local")
	cfgA.Name = "A"
	cfgA.Streams["r"] = config.StreamOptions{Format: config.FormatTS}
	a := startNode(t, cfgA)
	link := tstest.NewProxy(t, addr(t, a, "http", "http", ""))
	b := startNode(t, reliableConfig("B", "r", link.Addr()))
	c := startNode(t, reliableConfig("C", "r", addr(t, b, "http", "http", "")))
	leaf := collectExact(t, c.Hub(), "r")
	waitLinkUp(t, b, "r")
	waitLinkUp(t, c, "r")
	view := dialWS(t, wsURL(addr(t, c, "http", "http", ""), "/ws/r"), true)

	f := feed(t, a.Hub(), "r")
	waitFor(t, ioTimeout, func() bool { return leaf.len() > 200<<10 },
		func() string { return fmt.Sprintf("leaf has %d bytes", leaf.len()) })
	link.Cut(true)
	time.Sleep(2 * time.Second) // the outage
	link.Restore()
	restored := time.Now()
	waitFor(t, 10*time.Second, func() bool { return pullLink(b, "r").Resumes >= 1 },
		func() string { return fmt.Sprintf("B's link %+v, want a resume", pullLink(b, "r")) })
	t.Logf("B resumed %v after the link came back", time.Since(restored).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond) // more data after the resume
	sent := f.Stop()
	want := tstest.Packets(0, sent)
	waitFor(t, ioTimeout, func() bool { return leaf.len() >= len(want) },
		func() string { return fmt.Sprintf("leaf has %d of %d bytes", leaf.len(), len(want)) })

	leaf.mu.Lock()
	got := leaf.got
	leaf.mu.Unlock()
	if sha256.Sum256(got) != sha256.Sum256(want) {
		tstest.SameBytes(t, "bytes at the leaf", got, want)
	}
	if l := pullLink(b, "r"); l.Gaps != 0 || l.LostBytes != 0 {
		t.Errorf("B's link %+v: gaps or lost bytes", l)
	}
	if l := pullLink(c, "r"); l.Gaps != 0 || l.LostBytes != 0 {
		t.Errorf("C's link %+v: gaps or lost bytes", l)
	}
	if st := stats(t, c, "r"); st.Publishes != 1 {
		t.Errorf("C's stream had %d publisher sessions, want 1: the outage must not show downstream", st.Publishes)
	}
	// The real-time viewer at C is still there and got the stream's end.
	if _, err := readN(view, 188*1000); err != nil {
		t.Errorf("C's viewer: %v", err)
	}
}

// TestReliableGapCounted: when the upstream's ring no longer holds the
// byte a reliable link needs, the link says so and counts the bytes lost.
func TestReliableGapCounted(t *testing.T) {
	cfgA := testConfig("local")
	cfgA.Name = "A"
	cfgA.Streams["r"] = config.StreamOptions{Format: config.FormatTS, RingBytes: 64 * config.KiB}
	a := startNode(t, cfgA)
	link := tstest.NewProxy(t, addr(t, a, "http", "http", ""))
	b := startNode(t, reliableConfig("B", "r", link.Addr()))
	waitLinkUp(t, b, "r")
	pub, err := a.Hub().Publish("r", stream.PublisherInfo{Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close("test over")
	pub.Write(tstest.Packets(0, 100))
	waitFor(t, ioTimeout, func() bool { return stats(t, b, "r").BytesIn == 100*188 },
		func() string { return fmt.Sprintf("B has %d bytes", stats(t, b, "r").BytesIn) })
	link.Cut(true)
	waitFor(t, ioTimeout, func() bool { return pullLink(b, "r").State != "up" },
		func() string { return "B's link is still up" })
	pub.Write(tstest.Packets(100, 1000)) // 188000 bytes: three times A's ring
	link.Restore()
	waitLinkUp(t, b, "r")
	l := pullLink(b, "r")
	// B had the first 100 packets; A's ring starts at its oldest byte held.
	held := stats(t, a, "r").RingBytes
	if wantLost := 1100*188 - held - 100*188; l.Gaps != 1 || l.LostBytes != wantLost || held > 64<<10 {
		t.Errorf("B's link: %d gaps, %d bytes lost; want 1 and %d (A holds %d bytes)", l.Gaps, l.LostBytes, wantLost, held)
	}
	// The link is up before the bytes A still held have arrived.
	waitFor(t, ioTimeout, func() bool { st := stats(t, b, "r"); return st.BytesIn == 100*188+held && st.Publishes == 2 },
		func() string {
			st := stats(t, b, "r")
			return fmt.Sprintf("B has %d bytes in %d sessions, want %d in 2: a gap starts a new session",
				st.BytesIn, st.Publishes, 100*188+held)
		})
}

// TestLiveOffsetRequests: the exact-offset form of GET /live/NAME.ts, as a
// reliable link uses it, and the relay path on every answer.
func TestLiveOffsetRequests(t *testing.T) {
	cfg := testConfig("local")
	cfg.Name = "A"
	cfg.Streams["r"] = config.StreamOptions{Format: config.FormatTS}
	a := startNode(t, cfg)
	pub, err := a.Hub().Publish("r", stream.PublisherInfo{Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close("test over")
	pub.Write(tstest.Packets(0, 100))
	ring := a.Hub().Get("r").RingID()
	base := httpURL(addr(t, a, "http", "http", ""), "/live/r.ts")
	c := httpClient(t)
	for _, tc := range []struct {
		query        string
		status       int
		offset, from string // Tsstream-Offset, and the first packet's number
	}{
		{"?offset=1880", 200, "1880", "10"},
		{"?offset=1880&ring=" + ring, 200, "1880", "10"},
		{"?offset=1880&ring=other", 200, "0", "0"}, // another ring: from the oldest byte
		{"?offset=0", 200, "0", "0"},
		{"?offset=abc", 400, "", ""},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp, err := c.Get(base + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != 200 {
				return
			}
			h := resp.Header
			if h.Get("Tsstream-Offset") != tc.offset || h.Get("Tsstream-Ring") != ring ||
				h.Get("Tsstream-Prefix") != "0" || h.Get("Tsstream-Path") != "A" {
				t.Fatalf("headers %v, want offset %s of ring %s, no prefix, path A", h, tc.offset, ring)
			}
			b, err := readN(resp.Body, 188)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(tstest.Number(b)); got != tc.from {
				t.Fatalf("first packet number %s, want %s", got, tc.from)
			}
		})
	}
}
