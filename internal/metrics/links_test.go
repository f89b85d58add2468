package metrics

import (
	"net/http/httptest"
	"testing"
	"time"
)

// TestTimeToFirstFrameAndLinks: a viewer that waits 300 ms for its first
// bytes lands in the 0.5 s bucket of the histogram, and the node's relay
// links show with their state, bytes, drops and reconnects.
func TestTimeToFirstFrameAndLinks(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	hub := newHub(t, clk)
	r := mustReader(t, hub, "raw", "ws", "10.0.0.1:1")
	p := mustPublish(t, hub, "raw")
	clk.Add(300 * time.Millisecond)
	p.Write(make([]byte, 1000))
	if n := readAvailable(t, r); n != 1000 {
		t.Fatalf("viewer read %d bytes, want 1000", n)
	}
	p.Write(make([]byte, 1000)) // later bytes do not count again
	readAvailable(t, r)

	links := []Link{
		{Kind: "push", Stream: "raw", URL: "tcp://10.0.0.9:50001", State: "up", Bytes: 2000, Drops: 1, Reconnects: 2},
		{Kind: "pull", Stream: "cam", URL: "http://origin:8088/live/cam.ts", State: "backoff", Bytes: 5},
		{Kind: "pull", Stream: "cam", URL: "http://origin:8088/live/cam.ts", State: "up"}, // same labels: shown once
	}
	srv := httptest.NewServer(Handler(hub, "node-a", "v1", Links(func() []Link { return links })))
	defer srv.Close()
	s := get(t, srv.URL)

	m := s.find("tsstream_stream_time_to_first_frame_seconds", "stream", "raw")
	if m == nil || m.GetHistogram() == nil {
		t.Fatalf("no time-to-first-frame histogram for raw: %v", s["tsstream_stream_time_to_first_frame_seconds"])
	}
	h := m.GetHistogram()
	if h.GetSampleCount() != 1 || h.GetSampleSum() < 0.299 || h.GetSampleSum() > 0.301 {
		t.Errorf("histogram count %d sum %v: want 1 and 0.3", h.GetSampleCount(), h.GetSampleSum())
	}
	cum := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	if len(cum) != 12 || cum[0.25] != 0 || cum[0.5] != 1 || cum[10] != 1 {
		t.Errorf("buckets %v: want 11 and +Inf, with 0.3 s between 0.25 and 0.5", cum)
	}
	if m := s.find("tsstream_stream_time_to_first_frame_seconds", "stream", "idle"); m == nil || m.GetHistogram().GetSampleCount() != 0 {
		t.Errorf("idle stream: histogram %v, want an empty one", m)
	}
	s.check(t, []check{
		{gauge, "tsstream_relay_link_up", []string{"stream", "raw", "kind", "push", "url", "tcp://10.0.0.9:50001"}, 1},
		{counter, "tsstream_relay_link_bytes_total", []string{"stream", "raw", "kind", "push", "url", "tcp://10.0.0.9:50001"}, 2000},
		{counter, "tsstream_relay_link_drops_total", []string{"stream", "raw", "kind", "push", "url", "tcp://10.0.0.9:50001"}, 1},
		{counter, "tsstream_relay_link_reconnects_total", []string{"stream", "raw", "kind", "push", "url", "tcp://10.0.0.9:50001"}, 2},
		{gauge, "tsstream_relay_link_up", []string{"stream", "cam", "kind", "pull", "url", "http://origin:8088/live/cam.ts"}, 0},
		{counter, "tsstream_relay_link_bytes_total", []string{"stream", "cam", "kind", "pull", "url", "http://origin:8088/live/cam.ts"}, 5},
	})
	if n := len(s["tsstream_relay_link_up"].GetMetric()); n != 2 {
		t.Errorf("%d link series, want 2", n)
	}
}
