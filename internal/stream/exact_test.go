package stream

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tsstream/tsstream/internal/mpegts"
)

func TestExactReaderPlacement(t *testing.T) {
	one, _ := fileKeys(t, gopFiles[0])
	data := bytes.Repeat(one, 3)
	var x mpegts.Indexer
	var keys []int64
	for _, k := range x.Feed(data) {
		keys = append(keys, k*mpegts.PacketSize)
	}
	h := newTestHub(t, Options{RingBytes: 64 << 10, GOPMaxBytes: 64 << 10})
	p, _ := h.Publish("v", PublisherInfo{})
	for off := 0; off < len(data); off += 7 * mpegts.PacketSize {
		p.Write(data[off:min(off+7*mpegts.PacketSize, len(data))])
	}
	s := h.Get("v")
	oldest := s.ring.at(s.ring.tail).off
	end := int64(len(data))
	if oldest == 0 {
		t.Fatalf("the file (%d bytes) should not fit a 64 KiB ring", len(data))
	}
	key := joinKey(data, keys, end)
	for _, tc := range []struct {
		name      string
		ring      string
		off, want int64
	}{
		{"inside the ring, mid-packet", s.RingID(), end - 1000, end - 1000},
		{"no ring named", "", end - 5000, end - 5000},
		{"the oldest byte", s.RingID(), oldest, oldest},
		{"too old: the oldest byte", s.RingID(), 10, oldest},
		{"another ring: the oldest byte", "other-1", end - 1000, oldest},
		{"past the live edge", s.RingID(), end + 99, end},
		{"the live edge", s.RingID(), end, end},
		{"negative: PSI, then the join key", "", -1, key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, served, err := h.NewReaderAt("v", ReaderInfo{Protocol: "test"}, tc.ring, tc.off)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close("test done")
			if served != tc.want {
				t.Fatalf("served from %d, want %d", served, tc.want)
			}
			want := data[tc.want:]
			if tc.off < 0 {
				psi := s.ts.psi
				if r.PrefixLen() != len(psi) || len(psi) == 0 {
					t.Fatalf("prefix %d bytes, want the PSI's %d", r.PrefixLen(), len(psi))
				}
				want = append(append([]byte{}, psi...), want...)
			}
			if got := readAvailable(t, r); !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want the %d bytes of the stream from %d exactly", len(got), end-tc.want, tc.want)
			}
		})
	}
}

// TestExactReaderAcrossPublishers: a new publisher does not move an exact
// reader (no PSI, no keyframe placement): it gets every byte in order.
func TestExactReaderAcrossPublishers(t *testing.T) {
	data, keys := fileKeys(t, gopFiles[0])
	h := newTestHub(t, Options{})
	r, served, err := h.NewReaderAt("v", ReaderInfo{}, "", 0)
	if err != nil || served != 0 {
		t.Fatalf("served %d, err %v", served, err)
	}
	p1, _ := h.Publish("v", PublisherInfo{})
	p1.Write(data[:keys[1]])
	p1.Close("gone")
	p2, _ := h.Publish("v", PublisherInfo{})
	p2.Write(data[keys[0]+10*mpegts.PacketSize:])
	want := append(append([]byte{}, data[:keys[1]]...), data[keys[0]+10*mpegts.PacketSize:]...)
	if got := readAvailable(t, r); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want the %d bytes of both publishers as sent", len(got), len(want))
	}
}

func TestExactReaderFellBehindEndsInsteadOfSkipping(t *testing.T) {
	h := newTestHub(t, Options{Format: mpegts.FormatRaw, RingBytes: 256 << 10})
	r, _, _ := h.NewReaderAt("s", ReaderInfo{}, "", 0)
	p, _ := h.Publish("s", PublisherInfo{})
	for i := 0; i < 16; i++ {
		p.Write(bytes.Repeat([]byte{byte(i)}, 32<<10))
	}
	if _, err := r.Next(context.Background()); !errors.Is(err, ErrFellBehind) {
		t.Fatalf("err = %v, want ErrFellBehind", err)
	}
	if st := h.Get("s").Stats(); st.Skips != 0 {
		t.Fatalf("skips = %d: an exact reader must not skip", st.Skips)
	}
}

func TestRingAgeBoundsTheWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	h := NewHub(Config{Now: func() time.Time { return now },
		Options: func(string) Options { return Options{Format: mpegts.FormatRaw, RingAge: 10 * time.Second} }})
	t.Cleanup(h.Close)
	p, _ := h.Publish("s", PublisherInfo{})
	for i := 0; i < 30; i++ {
		p.Write(bytes.Repeat([]byte{byte(i)}, 1000))
		now = now.Add(time.Second)
	}
	// The chunks of seconds 19 to 29 are at most 10 s older than the last.
	if st := h.Get("s").Stats(); st.RingBytes != 11*1000 {
		t.Fatalf("ring holds %d bytes, want the last 11 s: 11000", st.RingBytes)
	}
	_, served, _ := h.NewReaderAt("s", ReaderInfo{}, "", 0)
	if served != 19*1000 {
		t.Fatalf("served from %d, want 19000", served)
	}
}

func TestDemandHook(t *testing.T) {
	var (
		mu    sync.Mutex
		calls []int
		h     *Hub
	)
	h = NewHub(Config{Demand: func(name string) {
		mu.Lock()
		calls = append(calls, h.Readers(name))
		mu.Unlock()
	}})
	t.Cleanup(h.Close)
	r1, _ := h.NewReader("s", ReaderInfo{})
	r2, _, _ := h.NewReaderAt("s", ReaderInfo{}, "", 0)
	r1.Close("done")
	r2.Close("done")
	r3, _, _ := h.NewReaderAt("s", ReaderInfo{}, "", 0)
	r3.Close("done")
	r3.Close("twice")
	mu.Lock()
	defer mu.Unlock()
	if want := []int{1, 0, 1, 0}; !slices.Equal(calls, want) {
		t.Fatalf("demand calls saw readers %v, want %v", calls, want)
	}
}
