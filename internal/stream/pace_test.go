package stream

import (
	"bytes"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// pacedStream publishes the H.264 test file on a fake clock, one write of
// seven packets every 40 ms (a frame at 25 fps), and returns the hub, the file, the clock's
// advance and, for each write, its end offset and its time.
func pacedStream(t *testing.T, upTo int) (h *Hub, data []byte, advance func(time.Duration), ends []int, ats []time.Time, pub *Publisher) {
	t.Helper()
	data, _ = fileKeys(t, gopFiles[0])
	var clock func() time.Time
	clock, advance = fakeClock()
	h = NewHub(Config{Now: clock})
	t.Cleanup(h.Close)
	pub, err := h.Publish("v", PublisherInfo{Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < upTo; off += 7 * mpegts.PacketSize {
		end := min(off+7*mpegts.PacketSize, upTo)
		pub.Write(data[off:end])
		ends, ats = append(ends, end), append(ats, clock())
		advance(40 * time.Millisecond)
	}
	return h, data, advance, ends, ats, pub
}

// TestGOPJoinIsPaced: a viewer joining from the GOP cache gets the
// keyframe and what came within paceLead after it at once, then the rest at
// paceFactor times the speed it came, and from the live edge on everything
// as it comes.
func TestGOPJoinIsPaced(t *testing.T) {
	data, keys := fileKeys(t, gopFiles[0])
	upTo := len(data) - 28*mpegts.PacketSize // the last 4 writes come once the reader is live
	upTo -= upTo % mpegts.PacketSize
	h, data, advance, ends, ats, pub := pacedStream(t, upTo)
	key := joinKey(data, keys, int64(upTo))
	done := 0 // the write that completed the keyframe
	for ends[done] <= int(keyEnd(data, key)) {
		done++
	}
	// Only the writes up to this long after the keyframe's are available
	// at join time.
	available := func(after time.Duration) int {
		end := 0
		for i, at := range ats {
			if !at.After(ats[done].Add(after)) {
				end = ends[i]
			}
		}
		return end
	}
	r, err := h.NewReader("v", ReaderInfo{Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	psi := h.Get("v").ts.psi
	got := readAvailable(t, r)
	want := append(append([]byte{}, psi...), data[key:available(paceLead)]...)
	if !bytes.Equal(got, want) {
		t.Fatalf("at join: got %d bytes, want PSI + the key to %d ms after the keyframe (%d bytes)",
			len(got), paceLead.Milliseconds(), len(want))
	}
	if available(paceLead+paceFactor*50*time.Millisecond) >= upTo {
		t.Fatal("test file too short: the GOP came within paceLead and 50 ms of pacing")
	}
	advance(50 * time.Millisecond)
	more := readAvailable(t, r)
	if want := data[available(paceLead):available(paceLead+paceFactor*50*time.Millisecond)]; !bytes.Equal(more, want) {
		t.Fatalf("50 ms later: got %d bytes, want %d (%d ms more of the GOP)", len(more), len(want), paceFactor*50)
	}
	advance(time.Duration(len(ats)) * 40 * time.Millisecond / paceFactor)
	got = append(got, more...)
	got = append(got, readAvailable(t, r)...)
	if want := append(append([]byte{}, psi...), data[key:upTo]...); !bytes.Equal(got, want) {
		t.Fatalf("once caught up: got %d bytes, want %d", len(got), len(want))
	}
	// At the live edge pacing is over: new data comes at once.
	pub.Write(data[upTo:])
	if rest := readAvailable(t, r); !bytes.Equal(rest, data[upTo:]) {
		t.Fatalf("at the live edge: got %d bytes, want %d", len(rest), len(data)-upTo)
	}
	if r.paceFrom != 0 {
		t.Fatal("still paced at the live edge")
	}
}

// TestRelayReaderIsNotPaced: a relay's reader keeps its own pace and takes
// the whole cached GOP at once.
func TestRelayReaderIsNotPaced(t *testing.T) {
	data, keys := fileKeys(t, gopFiles[0])
	upTo := len(data) - len(data)%mpegts.PacketSize
	h, data, _, _, _, _ := pacedStream(t, upTo)
	key := joinKey(data, keys, int64(upTo))
	r, err := h.NewReader("v", ReaderInfo{Protocol: "test", Relay: true})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, h.Get("v").ts.psi...), data[key:upTo]...)
	if got := readAvailable(t, r); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want the whole GOP at once (%d)", len(got), len(want))
	}
}
