package node

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/tstest"

	"github.com/tsstream/tsstream/internal/config"
)

// TestPullFromAnotherNode: node B fetches its stream from node A's HTTP-TS
// (listing a dead source first, so that it fails over); a viewer of B gets
// exactly what A's publisher sent, and B's API shows the pull link up.
func TestPullFromAnotherNode(t *testing.T) {
	raw := config.StreamOptions{Format: config.FormatRaw}
	cfgA := testConfig("cam")
	cfgA.Name, cfgA.Streams["cam"] = "A", raw
	a := startNode(t, cfgA)

	cfgB := testConfig("cam")
	cfgB.Name = "B"
	pulled := raw
	pulled.Pull = []string{
		"http://127.0.0.1:1/live/cam.ts", // nothing listens on port 1
		"http://" + addr(t, a, "http", "http", "") + "/live/cam.ts",
	}
	cfgB.Streams["cam"] = pulled
	b := startNode(t, cfgB)

	up := func() bool {
		for _, l := range b.links() {
			if l.Kind == "pull" && l.State == "up" {
				return true
			}
		}
		return false
	}
	waitFor(t, 5*time.Second, up, func() string { return fmt.Sprintf("B's links %+v", b.links()) })
	waitViewers(t, a, "cam", map[string]int{"http": 1}) // the pull is A's viewer
	view := dialWS(t, wsURL(addr(t, b, "http", "http", ""), "/ws/cam"), false)
	waitViewers(t, b, "cam", map[string]int{"ws": 1})

	want := bytes.Repeat([]byte("pulled, not pushed\n"), 30000)
	pub := dialTCP(t, addr(t, a, "ingest", "tcp", "cam"))
	writeInPieces(t, pub, want)
	got, err := readN(view, len(want))
	if err != nil {
		t.Fatal(err)
	}
	tstest.SameBytes(t, "B's viewer", got, want)
	if st := stats(t, b, "cam"); st.Publisher == nil || st.Publisher.Protocol != "pull-http" {
		t.Errorf("B's publisher %+v, want the pull", st.Publisher)
	}
}
