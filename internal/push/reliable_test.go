package push

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tsstream/tsstream/internal/mpegts"
	"github.com/tsstream/tsstream/internal/stream"
	"github.com/tsstream/tsstream/internal/tstest"
)

// TestReliablePushAcrossPublishersAndPaths: a reliable push holds the
// downstream stream before any publisher, forwards every byte of two
// publishers one after the other (the second from the first byte), and
// when the second's data comes another way (relay path origin) it
// reconnects at once, resumes at the exact byte and announces the new
// path: downstream, one publisher session with all the bytes in order and
// the new path.
func TestReliablePushAcrossPublishersAndPaths(t *testing.T) {
	down := newDownstream(t)
	hub := newHub(t, stream.Options{Format: mpegts.FormatTS})
	p := startPusher(t, Config{Hub: hub, Stream: "live", Node: "edge-1",
		Targets: targets(t, down.srv.URL+"/publish/relayed?reliable=1")})
	waitState(t, p, 0, StateUp)
	waitFor(t, ioTimeout, func() bool { s := down.hub.Get("relayed"); return s != nil && s.Stats().Publisher != nil },
		func() string { return "no publisher downstream before any upstream" })
	dr, _, err := down.hub.NewReaderAt("relayed", stream.ReaderInfo{Protocol: "test"}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close("test over")

	first, err := hub.Publish("live", stream.PublisherInfo{Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	write(t, first, tstest.Packets(0, 500), 188*20)
	first.Close("test over")
	second, err := hub.Publish("live", stream.PublisherInfo{Protocol: "test", Path: []string{"origin"}})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close("test over")
	write(t, second, tstest.Packets(500, 500), 188*20)

	want := tstest.Packets(0, 1000)
	tstest.SameBytes(t, "downstream stream", readStream(t, dr, len(want)), want)
	st := p.Stats()[0]
	if !st.Reliable || st.Resumes != 1 || st.Gaps != 0 || st.LostBytes != 0 || st.Failures != 0 {
		t.Errorf("stats %+v: want reliable, 1 resume, no gaps, no failures", st)
	}
	ds := down.hub.Get("relayed").Stats()
	if ds.Publishes != 1 || ds.Publisher == nil || strings.Join(ds.Publisher.Path, ",") != "origin,edge-1" {
		t.Errorf("downstream: %d sessions, publisher %+v; want 1 session with path origin,edge-1", ds.Publishes, ds.Publisher)
	}
	reqs, _ := down.seen()
	var seen []string
	for _, r := range reqs {
		seen = append(seen, r.Method+" "+r.Header.Get("Tsstream-Path")+" "+r.Header.Get("Tsstream-Offset"))
	}
	// The resume starts where the target says it is: the path change
	// (500 packets in), or before it when the target was still taking in
	// the cut session's last bytes as it answered the HEAD. Either way the
	// bytes above arrived once each and in order.
	var resumed int64 = -1
	if len(seen) == 4 {
		fmt.Sscanf(seen[3], "POST origin,edge-1 %d", &resumed)
	}
	if got, want := strings.Join(seen[:min(len(seen), 3)], "; "), "HEAD edge-1 ; POST edge-1 0; HEAD origin,edge-1 "; len(seen) != 4 ||
		got != want || resumed < 0 || resumed > 500*188 {
		t.Errorf("requests %q, want %q; POST origin,edge-1 OFFSET with OFFSET at most %d", seen, want, 500*188)
	}
	for _, r := range reqs {
		if r.URL.RawQuery != "" {
			t.Errorf("%s %s: the reliable option was sent to the target", r.Method, r.URL)
		}
	}
}

// TestReliablePushNeedsTsstream: a target that does not answer HEAD
// /publish/NAME (a plain HTTP ingest) gets no body; the push backs off
// saying why.
func TestReliablePushNeedsTsstream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		t.Errorf("the target got a %s", r.Method)
	}))
	t.Cleanup(srv.Close)
	hub := newHub(t, stream.Options{Format: mpegts.FormatTS})
	publish(t, hub, "live")
	p := startPusher(t, Config{Hub: hub, Stream: "live", Targets: targets(t, srv.URL+"/ingest?reliable=1")})
	st := waitState(t, p, 0, StateBackoff)
	if !strings.Contains(st.LastError, "405") || !strings.Contains(st.LastError, "does not take reliable pushes") {
		t.Errorf("LastError %q, want the 405 and what it means", st.LastError)
	}
	if n := readers(hub, "live", "push-http"); n != 0 {
		t.Errorf("%d push-http readers, want 0", n)
	}
}
