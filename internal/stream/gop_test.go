package stream

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

// Real ffmpeg output (see internal/mpegts/index_test.go for the commands).
var gopFiles = []string{"../mpegts/testdata/h264_aac.ts", "../mpegts/testdata/mpeg1.ts"}

// keyEnd returns the offset of the packet that starts the next PES on the
// PID of the key at off: where the keyframe is whole.
func keyEnd(data []byte, off int64) int64 {
	pid := func(o int64) int { return int(data[o+1]&0x1f)<<8 | int(data[o+2]) }
	for o := off + mpegts.PacketSize; o < int64(len(data)); o += mpegts.PacketSize {
		if pid(o) == pid(off) && data[o+1]&0x40 != 0 {
			return o
		}
	}
	return int64(len(data))
}

// fileKeys returns the file and the byte offsets of its keyframes.
func fileKeys(t *testing.T, name string) ([]byte, []int64) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var x mpegts.Indexer
	var offs []int64
	for _, k := range x.Feed(data) {
		offs = append(offs, k*mpegts.PacketSize)
	}
	if len(offs) < 2 {
		t.Fatalf("%s: %d keys, want at least 2", name, len(offs))
	}
	return data, offs
}

// readAvailable reads what r has until it waits for more.
func readAvailable(t *testing.T, r *Reader) []byte {
	t.Helper()
	var got []byte
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		b, err := r.Next(ctx)
		cancel()
		if err != nil {
			return got
		}
		for _, p := range b.Bufs {
			got = append(got, p...)
		}
	}
}

// joinKey is where a reader joining after published bytes should start:
// the newest key found by then, or the one before while the newest
// keyframe is incomplete; -1 before the first key.
func joinKey(data []byte, keys []int64, published int64) int64 {
	i := -1
	for j, o := range keys {
		if o <= published-mpegts.PacketSize {
			i = j
		}
	}
	if i > 0 && keyEnd(data, keys[i]) >= published {
		i--
	}
	if i < 0 {
		return -1
	}
	return keys[i]
}

func TestJoinStartsAtNewestKeyAfterPSI(t *testing.T) {
	for _, name := range gopFiles {
		t.Run(name, func(t *testing.T) {
			data, keys := fileKeys(t, name)
			h := newTestHub(t, Options{})
			p, _ := h.Publish("v", PublisherInfo{Protocol: "test"})
			type join struct {
				r   *Reader
				off int64 // bytes published when it joined
			}
			var joins []join
			for off := 0; off < len(data); off += 7 * mpegts.PacketSize {
				end := min(off+7*mpegts.PacketSize, len(data))
				p.Write(data[off:end])
				if off%(70*mpegts.PacketSize) == 0 {
					r, _ := h.NewReader("v", ReaderInfo{Protocol: "test"})
					joins = append(joins, join{r, int64(end)})
				}
			}
			psi := h.Get("v").ts.psi
			if len(psi) == 0 || psi[1]&0x1f != 0 || psi[2] != 0 {
				t.Fatalf("stream PSI %d bytes, not starting with a PAT", len(psi))
			}
			for _, j := range joins {
				got := readAvailable(t, j.r)
				key := joinKey(data, keys, j.off)
				if key < 0 {
					// Before the first key: it waits, then starts there.
					key = keys[0]
				}
				want := append(append([]byte{}, psi...), data[key:]...)
				if !bytes.Equal(got, want) {
					t.Errorf("joined after %d bytes: got %d bytes, want PSI + file from key at %d (%d bytes)",
						j.off, len(got), key, len(want))
				}
			}
			st := h.Get("v").Stats()
			if st.TS == nil || st.TS.Video == nil || st.GOPJoins == 0 {
				t.Errorf("stats: TS %+v, GOP joins %d", st.TS, st.GOPJoins)
			}
		})
	}
}

func TestGOPCacheOffWaitsForNextKey(t *testing.T) {
	data, keys := fileKeys(t, gopFiles[0])
	h := newTestHub(t, Options{NoGOPCache: true})
	p, _ := h.Publish("v", PublisherInfo{})
	mid := keys[0] + (keys[1]-keys[0])/2
	mid -= mid % mpegts.PacketSize
	p.Write(data[:mid])
	r, _ := h.NewReader("v", ReaderInfo{})
	if got := readAvailable(t, r); len(got) != 0 {
		t.Fatalf("got %d bytes before the next keyframe", len(got))
	}
	p.Write(data[mid:])
	want := append(append([]byte{}, h.Get("v").ts.psi...), data[keys[1]:]...)
	if got := readAvailable(t, r); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want PSI + file from the next key (%d bytes)", len(got), len(want))
	}
	if st := h.Get("v").Stats(); st.KeyWaits != 1 || st.GOPJoins != 0 || st.GOPCache != "off" {
		t.Fatalf("key waits %d, GOP joins %d, cache %q", st.KeyWaits, st.GOPJoins, st.GOPCache)
	}
}

// TestGOPCacheOffReaderBeforePublisher: with the cache off, a viewer that
// was waiting when the publisher came (or came back) starts at its first
// keyframe, not one GOP later: that key is live data to it.
func TestGOPCacheOffReaderBeforePublisher(t *testing.T) {
	data, keys := fileKeys(t, gopFiles[0])
	h := newTestHub(t, Options{NoGOPCache: true})
	r, _ := h.NewReader("v", ReaderInfo{})
	p, _ := h.Publish("v", PublisherInfo{})
	for i := range 2 { // the first publisher, then one that replaces it
		p.Write(data[:keys[1]])
		want := append(append([]byte{}, h.Get("v").ts.psi...), data[keys[0]:keys[1]]...)
		if got := readAvailable(t, r); !bytes.Equal(got, want) {
			t.Fatalf("publisher %d: got %d bytes, want PSI + its first GOP (%d bytes)", i+1, len(got), len(want))
		}
		p.Close("gone")
		p, _ = h.Publish("v", PublisherInfo{})
	}
	if st := h.Get("v").Stats(); st.KeyWaits != 0 || st.GOPJoins != 0 {
		t.Fatalf("key waits %d, GOP joins %d: the reader should not have waited", st.KeyWaits, st.GOPJoins)
	}
}

func TestNewPublisherRestartsReadersAtItsFirstKey(t *testing.T) {
	data, keys := fileKeys(t, gopFiles[0])
	h := newTestHub(t, Options{})
	p1, _ := h.Publish("v", PublisherInfo{})
	p1.Write(data[:keys[1]])
	r, _ := h.NewReader("v", ReaderInfo{})
	first := readAvailable(t, r)
	p1.Close("gone")
	// The second publisher starts mid-GOP, as a relay restarting would:
	// the reader must skip to its first keyframe, after its PAT/PMT.
	p2, _ := h.Publish("v", PublisherInfo{})
	psiEnd := keys[0] // the PAT and PMT come before the first key
	p2.Write(data[:psiEnd])
	p2.Write(data[keys[0]+10*mpegts.PacketSize:])
	got := readAvailable(t, r)
	want := append(append([]byte{}, h.Get("v").ts.psi...), data[keys[1]:]...)
	if len(first) == 0 || !bytes.Equal(got, want) {
		t.Fatalf("after the new publisher: got %d bytes, want PSI + its first key onwards (%d bytes)", len(got), len(want))
	}
}

// TestSlowReaderSkipsToKeyframe: a reader that fell out of the ring of a TS
// video stream resumes at a keyframe, after the PAT/PMT, never at an
// arbitrary packet.
func TestSlowReaderSkipsToKeyframe(t *testing.T) {
	data, keys := fileKeys(t, gopFiles[0])
	h := newTestHub(t, Options{RingBytes: 64 << 10, MaxSkips: 10})
	slow, _ := h.NewReader("v", ReaderInfo{})
	p, _ := h.Publish("v", PublisherInfo{})
	p.Write(data[:keys[0]+20*mpegts.PacketSize])
	readAvailable(t, slow) // in step with the stream, then it stops reading
	for range 4 {          // 4 copies, about 200 KB, through a 64 KiB ring
		for off := 0; off < len(data); off += 7 * mpegts.PacketSize {
			p.Write(data[off:min(off+7*mpegts.PacketSize, len(data))])
		}
	}
	got := readAvailable(t, slow)
	psi := h.Get("v").ts.psi
	if !bytes.HasPrefix(got, psi) {
		t.Fatal("after the skip the reader did not get the PAT/PMT first")
	}
	first := got[len(psi) : len(psi)+mpegts.PacketSize]
	atKey := false
	for _, k := range keys {
		atKey = atKey || bytes.Equal(first, data[k:k+mpegts.PacketSize])
	}
	if !atKey {
		t.Fatal("after the skip the reader resumed at a packet that starts no keyframe")
	}
	if st := h.Get("v").Stats(); st.Skips != 1 || slow.Skips() != 1 {
		t.Fatalf("skips: stream %d, reader %d; want 1", st.Skips, slow.Skips())
	}
}
