package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/monitor"
)

// TestClusterView: node A pushes its stream to node B over HTTP and reports
// to B; B's /api/v1/cluster lists both nodes up and the link A → B with its
// throughput, and marks A stale once its reports stop.
func TestClusterView(t *testing.T) {
	raw := config.StreamOptions{Format: config.FormatRaw}
	cfgB := testConfig("relay")
	cfgB.Name, cfgB.Streams["relay"] = "B", raw
	b := startNode(t, cfgB)
	bHTTP := addr(t, b, "http", "http", "")

	cfgA := testConfig("relay")
	cfgA.Name = "A"
	cfgA.Monitor = config.Monitor{ReportTo: "http://" + bHTTP, ReportInterval: config.Duration(time.Second)}
	pushed := raw
	pushed.Push = []string{"http://" + bHTTP + "/publish/relay"}
	cfgA.Streams["relay"] = pushed
	a := startNode(t, cfgA)

	pub := dialTCP(t, addr(t, a, "ingest", "tcp", "relay"))
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a steady 80 kb/s until the test ends
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := pub.Write(make([]byte, 500)); err != nil {
					return
				}
			}
		}
	}()

	client := httpClient(t)
	var v monitor.View
	get := func() {
		resp, err := client.Get("http://" + bHTTP + "/api/v1/cluster")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v1/cluster: %s", resp.Status)
		}
		v = monitor.View{}
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	linked := func() bool {
		get()
		if len(v.Nodes) != 2 || v.Monitor != "B" || len(v.Edges) != 1 {
			return false
		}
		e := v.Edges[0]
		// A's report says the link is up before B's own view of its
		// stream may have its first bytes: wait for both.
		b := v.Nodes[1]
		return v.Nodes[0].Name == "A" && v.Nodes[0].State == monitor.StateUp && b.Self &&
			len(b.Streams) == 1 && b.Streams[0].Live &&
			e.From == "A" && e.To == "B" && e.Stream == "relay" && e.Kind == "push" && e.State == "up" && e.Bitrate > 0
	}
	waitFor(t, 15*time.Second, linked, func() string { return fmt.Sprintf("cluster view %+v", v) })
	if got := v.Nodes[1].Streams; len(got) != 1 || !got[0].Live || got[0].Publisher != "http" || len(got[0].Path) != 1 || got[0].Path[0] != "A" {
		t.Errorf("B's streams %+v: want relay, live, published over HTTP through A", got)
	}

	// A's /metrics shows the link; B's the time its viewer waited.
	_, body := httpGet(t, client, httpURL(addr(t, a, "http", "http", ""), "/metrics"))
	if want := `tsstream_relay_link_up{kind="push",stream="relay",url="http://` + bHTTP + `/publish/relay"} 1`; !strings.Contains(body, want) {
		t.Errorf("A's /metrics lacks %s", want)
	}
	if want := `tsstream_stream_time_to_first_frame_seconds_count{stream="relay"} 1`; !strings.Contains(body, want) {
		t.Errorf("A's /metrics lacks %s (the push link is A's one reader)", want)
	}

	// A stops reporting: B marks it stale after three intervals.
	a.reporter.Close()
	waitFor(t, 15*time.Second, func() bool {
		get()
		return len(v.Nodes) == 2 && v.Nodes[0].State == monitor.StateStale
	}, func() string { return fmt.Sprintf("cluster view %+v: want A stale", v) })
}
