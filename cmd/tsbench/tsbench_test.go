package main

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// frame builds an unmasked server frame.
func frame(op byte, fin bool, payload []byte) []byte {
	b := []byte{op, 0}
	if fin {
		b[0] |= 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b[1] = byte(n)
	case n < 1<<16:
		b[1] = 126
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b[1] = 127
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

func TestFramesSplitAnywhere(t *testing.T) {
	var want []byte
	var stream []byte
	for i, n := range []int{0, 5, 125, 126, 300, 70000} {
		p := bytes.Repeat([]byte{byte(i + 1)}, n)
		want = append(want, p...)
		stream = append(stream, frame(opBinary, true, p)...)
	}
	// A fragmented message with a ping between its fragments.
	stream = append(stream, frame(opBinary, false, []byte("ab"))...)
	stream = append(stream, frame(0x9, true, []byte("ping"))...)
	stream = append(stream, frame(opContinuation, true, []byte("cd"))...)
	want = append(want, "abcd"...)
	stream = append(stream, frame(opClose, true, []byte{0x03, 0xE9, 'b', 'y', 'e'})...)
	stream = append(stream, "after close"...)

	for _, step := range []int{1, 2, 3, 7, 188, 4096, len(stream)} {
		var w wsFrames
		var got []byte
		var err error
		for p := stream; len(p) > 0 && err == nil; {
			n := min(step, len(p))
			err = w.feed(p[:n], func(b []byte) { got = append(got, b...) })
			p = p[n:]
		}
		if err != errServerClosed || w.code != 1001 {
			t.Errorf("step %d: err %v, code %d; want errServerClosed, 1001", step, err, w.code)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("step %d: got %d data bytes, want %d (or different bytes)", step, len(got), len(want))
		}
	}
}

func TestMaskedFrameRefused(t *testing.T) {
	var w wsFrames
	if err := w.feed([]byte{0x82, 0x81, 1, 2, 3, 4, 'x'}, func([]byte) {}); err == nil {
		t.Fatal("masked server frame accepted")
	}
}

// runPhases makes groups as publish does, phase by phase, and hands each
// to deliver.
func runPhases(p *publisher, groups [3]int, deliver func(i int, g []byte)) {
	i := 0
	for phase, n := range groups {
		p.setPhase(byte(phase))
		for range n {
			deliver(i, p.next())
			i++
		}
	}
}

func newTestViewer(start time.Time) *viewer {
	v := &viewer{start: start}
	v.data = v.ts
	return v
}

func TestWindowAccounting(t *testing.T) {
	start := time.Now()
	p := newPublisher(start)
	v := newTestViewer(start)
	// Messages of odd sizes, cut into odd reads, as the relay and the
	// kernel may do.
	var wire []byte
	runPhases(p, [3]int{20, 300, 20}, func(i int, g []byte) {
		cut := (i % groupPackets) * packetSize
		wire = append(wire, frame(opBinary, true, g[:cut])...)
		wire = append(wire, frame(opBinary, true, g[cut:])...)
	})
	for len(wire) > 0 {
		n := min(1000, len(wire))
		if err := v.ws.feed(wire[:n], v.data); err != nil {
			t.Fatal(err)
		}
		wire = wire[n:]
	}
	if p.res.owed != 300*groupBytes || v.st.window != p.res.owed {
		t.Errorf("window bytes: publisher %d, viewer %d; want both %d", p.res.owed, v.st.window, 300*groupBytes)
	}
	if p.res.markers == 0 || v.st.markers != p.res.markers {
		t.Errorf("window markers: publisher %d, viewer %d", p.res.markers, v.st.markers)
	}
	if v.st.ccErrors != 0 || v.st.syncErrors != 0 || v.st.badMarkers != 0 {
		t.Errorf("errors on a clean stream: %+v", v.st)
	}
	if v.st.delay.n != v.st.markers {
		t.Errorf("%d delays for %d markers", v.st.delay.n, v.st.markers)
	}
	// Split 0: every marker was sent in the second half.
	if h := v.st.halves; h[0].n != 0 || h[1].n != v.st.markers {
		t.Errorf("halves hold %d and %d delays, want 0 and %d", h[0].n, h[1].n, v.st.markers)
	}
}

func TestLossIsSeen(t *testing.T) {
	start := time.Now()
	p := newPublisher(start)
	v := newTestViewer(start)
	runPhases(p, [3]int{5, 50, 5}, func(i int, g []byte) {
		if i == 30 { // a group lost in the window
			return
		}
		if err := v.ws.feed(frame(opBinary, true, g), v.data); err != nil {
			t.Fatal(err)
		}
	})
	if lost := p.res.owed - v.st.window; lost != groupBytes {
		t.Errorf("lost %d bytes, want %d", lost, groupBytes)
	}
	if v.st.ccErrors == 0 {
		t.Error("a lost group left no continuity error")
	}
}

// TestRelayNeedsNoKey: the relay holds new viewers of TS video until a
// keyframe, which the synthetic stream never has; it must not look like
// video to the relay's indexer.
func TestRelayNeedsNoKey(t *testing.T) {
	p := newPublisher(time.Now())
	var x mpegts.Indexer
	for range 50 {
		x.Feed(p.next())
	}
	in := x.Info()
	if x.NeedsKey() || in.Video != nil || len(in.Programs) != 1 || len(in.Programs[0].Streams) != 2 {
		t.Errorf("needs key %v, video %+v, programs %+v; want no video, one program of two streams",
			x.NeedsKey(), in.Video, in.Programs)
	}
}

func TestHistogram(t *testing.T) {
	for us := int64(0); us < 1<<22; us = us*9/8 + 1 {
		mid := bucketMid(bucketOf(us)).Microseconds()
		if diff := mid - us; diff < -us/16-1 || diff > us/16+1 {
			t.Errorf("%d µs lands in a bucket whose middle is %d µs", us, mid)
		}
	}
	var a, b histogram
	for i := 1; i <= 98; i++ {
		a.add(time.Millisecond)
	}
	b.add(40 * time.Millisecond)
	b.add(90 * time.Millisecond)
	a.merge(&b)
	if q := a.quantile(0.5); q < 950*time.Microsecond || q > 1050*time.Microsecond {
		t.Errorf("p50 %v, want about 1ms", q)
	}
	if q := a.quantile(0.99); q < 38*time.Millisecond || q > 42*time.Millisecond {
		t.Errorf("p99 %v, want about 40ms", q)
	}
	if a.max != 90*time.Millisecond || a.quantile(1) != 90*time.Millisecond {
		t.Errorf("max %v, p100 %v; want 90ms", a.max, a.quantile(1))
	}
}

func TestLogFields(t *testing.T) {
	kv := logFields(`time=2025-01-01T00:00:00Z level=INFO msg="viewer disconnected" reason="client gone" address=127.0.0.1:80`)
	if kv["msg"] != "viewer disconnected" || kv["reason"] != "client gone" || kv["address"] != "127.0.0.1:80" {
		t.Errorf("got %v", kv)
	}
}
