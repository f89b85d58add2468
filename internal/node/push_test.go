package node

import (
	"bytes"
	"fmt"
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
	linksUp := func() bool {
		links := a.links()
		return len(links) == 2 && links[0].State == "up" && links[1].State == "up"
	}
	waitFor(t, 5*time.Second, linksUp, func() string { return fmt.Sprintf("links %+v", a.links()) })

	want := bytes.Repeat([]byte("relay me, byte for byte\n"), 40000) // about 1 MB
	pub := dialTCP(t, addr(t, a, "ingest", "tcp", "relay"))
	writeInPieces(t, pub, want)

	for name, v := range map[string]viewer{"B (pushed over TCP)": viewB, "C (pushed over HTTP)": viewC} {
		got, err := readN(v, len(want))
		if err != nil {
			t.Fatalf("viewer of %s: %v", name, err)
		}
		tstest.SameBytes(t, "viewer of "+name, got, want)
	}
	for _, l := range a.links() {
		if l.Kind != "push" || l.BytesSent != int64(len(want)) || l.Reconnects != 0 {
			t.Errorf("link %+v: want push, %d bytes sent, no reconnect", l, len(want))
		}
	}
	if st := stats(t, c, "relay"); st.Publisher == nil || st.Publisher.Protocol != "http" {
		t.Errorf("node C's publisher: %+v, want the HTTP push", st.Publisher)
	}
}
