package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// TestGOPStreamHasKeys: with -gop the relay's indexer sees MPEG-2 video
// with a keyframe every gop, and a viewer finds its first frame at the end
// of the first keyframe's PES.
func TestGOPStreamHasKeys(t *testing.T) {
	start := time.Now().Add(-time.Hour) // the publisher's clock: keys due at once
	p := newShapedPublisher(start, 46, time.Hour)
	var x mpegts.Indexer
	var keys int
	f := firstFrame{video: true}
	for i := range 10 {
		g := p.next()
		keys += len(x.Feed(g))
		for j := 0; j < len(g); j += packetSize {
			f.packet(g[j:j+packetSize], time.Duration(i))
		}
	}
	in := x.Info()
	if !x.NeedsKey() || in.Video == nil || in.Video.Width != 640 || keys != 1 {
		t.Errorf("needs key %v, video %+v, keys %d; want 640-wide MPEG video with one key", x.NeedsKey(), in.Video, keys)
	}
	if !f.done || f.at != 1 {
		t.Errorf("first frame done %v at write %d, want at write 1 (the PES after the key)", f.done, f.at)
	}
}

func TestShapePackets(t *testing.T) {
	for _, c := range []struct {
		sh   shape
		rate int64
		want int
	}{
		{shape{}, 2e6, 7},
		{shape{fps: 25}, 1.74e6, 46},
		{shape{fps: 25}, 1e3, 4},
	} {
		if got := c.sh.packets(c.rate); got != c.want {
			t.Errorf("%+v at %d: %d packets, want %d", c.sh, c.rate, got, c.want)
		}
	}
}

// TestHTTPChunks feeds a chunked body split at every byte.
func TestHTTPChunks(t *testing.T) {
	body := []byte("5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n")
	for cut := 1; cut < len(body); cut++ {
		var c httpChunks
		var got []byte
		sink := func(p []byte) { got = append(got, p...) }
		err := c.feed(body[:cut], sink)
		if err == nil {
			err = c.feed(body[cut:], sink)
		}
		if err != errEndOfBody || string(got) != "helloabcdefghijklmnopqrstuvwxyz" {
			t.Fatalf("cut at %d: got %q, err %v", cut, got, err)
		}
	}
	var c httpChunks
	if err := c.feed([]byte("zz\r\n"), func([]byte) {}); err == nil {
		t.Error("a bad size line was accepted")
	}
}

func TestSummaryMedians(t *testing.T) {
	runs := []map[string]any{
		{"scenario": "base", "protocol": "ws", "viewers": 10, "loadavg": "1",
			"tsstream": map[string]any{"delay_p99_ms": 3.0}, "ratio": map[string]float64{"delay_p99_ms": 1.5}},
		{"scenario": "base", "protocol": "ws", "viewers": 10, "loadavg": "2",
			"tsstream": map[string]any{"delay_p99_ms": 1.0}, "ratio": map[string]float64{"delay_p99_ms": 0.5}},
		{"scenario": "base", "protocol": "ws", "viewers": 10, "loadavg": "3",
			"tsstream": map[string]any{"delay_p99_ms": 2.0}, "ratio": map[string]float64{"delay_p99_ms": 1.0}},
	}
	s := summarize3(runs)
	if s["tsstream"].(map[string]float64)["delay_p99_ms"] != 2 || s["ratio"].(map[string]float64)["delay_p99_ms"] != 1 {
		t.Errorf("medians %v", s)
	}
	svg := plotSVG([]map[string]any{s, {"mode": "summary", "scenario": "base", "protocol": "ws", "viewers": 20,
		"tsstream": map[string]float64{"delay_p99_ms": 4}}})
	if !bytes.Contains([]byte(svg), []byte("<polyline")) || !bytes.HasSuffix([]byte(svg), []byte("</svg>\n")) {
		t.Errorf("plot without a line:\n%s", svg)
	}
}
