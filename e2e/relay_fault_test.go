package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// kill ends the server with SIGKILL, as a crash would; its cleanup then
// expects nothing more.
func (s *server) kill(t *testing.T) {
	t.Helper()
	s.stopOnce.Do(func() {
		s.cmd.Process.Kill()
		<-s.exited
	})
}

// pullLink is a pull link in GET /api/v1/node.
type pullLink struct {
	Kind       string `json:"kind"`
	Stream     string `json:"stream"`
	State      string `json:"state"`
	Reconnects int64  `json:"reconnects"`
	OnDemand   bool   `json:"on_demand"`
	Path       string `json:"path"`
}

// pullLinks returns the server's pull links of stream name.
func (s *server) pullLinks(t *testing.T, name string) []pullLink {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTP + "/api/v1/node")
	if err != nil {
		t.Fatalf("node API: %v", err)
	}
	defer resp.Body.Close()
	var node struct {
		Links []pullLink `json:"links"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&node); err != nil {
		t.Fatalf("node API: %v", err)
	}
	var list []pullLink
	for _, l := range node.Links {
		if l.Kind == "pull" && l.Stream == name {
			list = append(list, l)
		}
	}
	return list
}

// TestEdgeSurvivesOriginKill9: an edge (-pull) serves a viewer from an
// origin process; the origin is killed with SIGKILL and started again on
// the same ports with a new publisher. The edge reconnects within a few
// seconds of the origin's return, and its viewer stays connected and gets
// the new stream.
func TestEdgeSurvivesOriginKill9(t *testing.T) {
	requireFFmpeg(t)
	long := mpeg1
	long.input = []string{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=60"}
	origin := startServer(t, "-name", "O", "-stream", "cam")
	edge := startServer(t, "-name", "E", "-pull", "http://"+origin.HTTP+"/live/{stream}.ts")
	startProc(t, "ffmpeg", publishArgs(long, "tcp://"+origin.TCP)...)
	origin.waitLog(t, 10*time.Second, `msg="publisher connected"`)

	view := playHTTP(t, "edge viewer", "http://"+edge.HTTP+"/live/cam.ts")
	waitUntil(t, 10*time.Second, "the edge viewer receiving", func() bool { return view.size() > 32<<10 })
	if l := edge.pullLinks(t, "cam"); len(l) != 1 || l[0].State != "up" || !l[0].OnDemand || l[0].Path != "O" {
		t.Fatalf("edge links %+v, want one on-demand pull up from path O", l)
	}

	origin.kill(t)
	before := view.size()
	again := startServer(t, "-name", "O", "-stream", "cam", "-http", origin.HTTP, "-ingest", origin.TCP)
	back := time.Now()
	startProc(t, "ffmpeg", publishArgs(long, "tcp://"+again.TCP)...)
	waitUntil(t, 10*time.Second, "the edge's pull up again", func() bool {
		l := edge.pullLinks(t, "cam")
		return len(l) == 1 && l[0].State == "up" && l[0].Reconnects >= 1
	})
	took := time.Since(back)
	t.Logf("edge reconnected %v after the origin was back", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("edge took %v to reconnect, want under 5s", took)
	}
	waitUntil(t, 10*time.Second, "the edge viewer receiving the new stream", func() bool {
		return view.size() > before+32<<10
	})
	select {
	case <-view.done:
		t.Fatalf("the edge viewer was disconnected: %v", view.err)
	default:
	}
}
