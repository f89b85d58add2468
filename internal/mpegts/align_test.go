package mpegts

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// packets returns n packets whose payload never holds SyncByte, so the only
// sync bytes in the stream are packet starts.
func packets(n int) []byte {
	b := make([]byte, n*PacketSize)
	for i := range b {
		v := byte(i*7 + i/PacketSize)
		if v == SyncByte {
			v++
		}
		b[i] = v
	}
	for i := 0; i < len(b); i += PacketSize {
		b[i] = SyncByte
	}
	return b
}

// garbage returns n pseudo-random bytes that hold SyncByte only at syncAt.
func garbage(n int, seed uint64, syncAt ...int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(255))
		if b[i] == SyncByte {
			b[i] = 0xff
		}
	}
	for _, i := range syncAt {
		b[i] = SyncByte
	}
	return b
}

type alignCase struct {
	name    string
	in      []byte
	want    []byte
	dropped int64
	held    int
}

func alignCases() []alignCase {
	p := packets(12)
	lost := slices.Concat(p[:990], p[991:]) // byte 50 of packet 5 lost
	extra := slices.Concat(p[:990], []byte{0}, p[990:])
	junk := garbage(300, 1, 10, 150, 200, 298) // no sync byte lines up with the packets
	lined := garbage(300, 1, 112)              // 112+188 is where the packets resume
	return []alignCase{
		{name: "empty"},
		{name: "clean", in: p, want: p},
		{name: "partial packet at end", in: p[:5*PacketSize+100], want: p[:5*PacketSize], held: 100},
		{name: "starts mid-packet", in: p[100:], want: p[PacketSize:], dropped: PacketSize - 100},
		{name: "two packets wait for a third sync byte", in: p[:2*PacketSize], held: 2 * PacketSize},
		{name: "third sync byte confirms", in: p[:2*PacketSize+1], want: p[:2*PacketSize], held: 1},
		{
			name:    "garbage between packets",
			in:      slices.Concat(p[:4*PacketSize], junk, p[4*PacketSize:]),
			want:    p,
			dropped: 300,
		},
		{
			// Three sync bytes in a row is all the aligner asks for: a sync
			// byte in garbage that lines up with the next packets makes one
			// bogus packet.
			name:    "sync byte in garbage lined up with the packets",
			in:      slices.Concat(p[:4*PacketSize], lined, p[4*PacketSize:]),
			want:    slices.Concat(p[:4*PacketSize], lined[112:], p[4*PacketSize:]),
			dropped: 112,
		},
		{
			// Packet 5 goes out short of one byte (plus the sync byte of
			// packet 6); the rest of packet 6 is dropped.
			name:    "lost byte",
			in:      lost,
			want:    slices.Concat(p[:5*PacketSize], lost[5*PacketSize:6*PacketSize], p[7*PacketSize:]),
			dropped: PacketSize - 1,
		},
		{
			name:    "extra byte",
			in:      extra,
			want:    slices.Concat(p[:5*PacketSize], extra[5*PacketSize:6*PacketSize], p[6*PacketSize:]),
			dropped: 1,
		},
		{
			name:    "sync byte just before the packets",
			in:      slices.Concat(garbage(50, 9, 49), p),
			want:    p,
			dropped: 50,
		},
		{name: "all garbage", in: garbage(5000, 2), dropped: 5000},
		{
			name:    "all garbage, a candidate at the end",
			in:      garbage(3000, 3, 17, 400, 1000, 2900),
			dropped: 2900,
			held:    100,
		},
	}
}

// feed aligns in cut into chunks of the given sizes, cycled; zero sizes make
// empty calls. Without a positive size it aligns in with one call.
func feed(in []byte, sizes ...int) ([]byte, *Aligner) {
	if !slices.ContainsFunc(sizes, func(n int) bool { return n > 0 }) {
		sizes = []int{len(in)}
	}
	var a Aligner
	var out []byte
	for i := 0; len(in) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(in))
		out = a.Align(out, in[:n])
		in = in[n:]
	}
	return out, &a
}

func checkAlign(t *testing.T, tc alignCase, out []byte, a *Aligner, split string) {
	t.Helper()
	if !bytes.Equal(out, tc.want) {
		i := 0
		for i < min(len(out), len(tc.want)) && out[i] == tc.want[i] {
			i++
		}
		t.Fatalf("%s: output is %d bytes, want %d; they differ from byte %d", split, len(out), len(tc.want), i)
	}
	if a.Dropped() != tc.dropped || a.Held() != tc.held {
		t.Fatalf("%s: dropped %d, held %d; want %d, %d", split, a.Dropped(), a.Held(), tc.dropped, tc.held)
	}
}

func TestAlign(t *testing.T) {
	for _, tc := range alignCases() {
		t.Run(tc.name, func(t *testing.T) {
			out, a := feed(tc.in)
			checkAlign(t, tc, out, a, "one call")
			out, a = feed(tc.in, 1316)
			checkAlign(t, tc, out, a, "1316-byte datagrams")
			for size := 1; size <= 400; size++ {
				out, a = feed(tc.in, size)
				checkAlign(t, tc, out, a, fmt.Sprintf("chunks of %d", size))
			}
			for cut := 1; cut <= min(400, len(tc.in)); cut++ {
				out, a = feed(tc.in, cut, len(tc.in))
				checkAlign(t, tc, out, a, fmt.Sprintf("cut at %d", cut))
			}
		})
	}
}

func TestAlignFlushReset(t *testing.T) {
	p := packets(6)
	var a Aligner
	a.Align(nil, p[:5*PacketSize+100])
	if n := a.Flush(); n != 100 || a.Held() != 0 || a.Dropped() != 100 {
		t.Fatalf("Flush() = %d, held %d, dropped %d; want 100, 0, 100", n, a.Held(), a.Dropped())
	}
	// After Flush sync must be found again: one packet alone is held.
	if out := a.Align(nil, p[:PacketSize]); len(out) != 0 || a.Held() != PacketSize {
		t.Fatalf("one packet after Flush: output %d bytes, held %d; want 0, %d", len(out), a.Held(), PacketSize)
	}
	a.Reset()
	if a.Dropped() != 0 || a.Held() != 0 {
		t.Fatalf("after Reset: dropped %d, held %d; want 0, 0", a.Dropped(), a.Held())
	}
	if out := a.Align(nil, p); !bytes.Equal(out, p) {
		t.Fatalf("after Reset: output %d bytes, want %d", len(out), len(p))
	}
}

func TestAlignAllocs(t *testing.T) {
	in := slices.Concat(packets(20), garbage(1000, 4, 5, 500), packets(50))
	dst := make([]byte, 0, len(in))
	var a Aligner
	allocs := testing.AllocsPerRun(100, func() {
		for off := 0; off < len(in); off += 997 {
			dst = a.Align(dst[:0], in[off:min(off+997, len(in))])
		}
	})
	if allocs != 0 {
		t.Fatalf("Align allocates %v times per pass, want 0", allocs)
	}
}

func BenchmarkAlign(b *testing.B) {
	in := packets(7 * 1000)
	for _, bc := range []struct {
		name string
		size int
	}{{"aligned1316", 1316}, {"split997", 997}, {"split61", 61}} {
		b.Run(bc.name, func(b *testing.B) {
			var a Aligner
			dst := make([]byte, 0, bc.size+holdSize)
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				for off := 0; off < len(in); off += bc.size {
					dst = a.Align(dst[:0], in[off:min(off+bc.size, len(in))])
				}
			}
		})
	}
}

// chunkSize maps a fuzzer byte to a chunk length: 0..63 times 1, 4, 16 or 64,
// so small and large reads are both likely.
func chunkSize(c byte) int { return int(c>>2) << (2 * (c & 3)) }

func FuzzAlign(f *testing.F) {
	for _, tc := range alignCases() {
		f.Add(tc.in, []byte{})
		f.Add(tc.in, []byte{1 << 2, 61 << 2, 0, 20<<2 | 3})
	}
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		want, ref := feed(in)
		if len(want)%PacketSize != 0 {
			t.Fatalf("output is %d bytes, not whole packets", len(want))
		}
		for i := 0; i < len(want); i += PacketSize {
			if want[i] != SyncByte {
				t.Fatalf("output packet at %d starts with %#x", i, want[i])
			}
		}
		if total := int64(len(want)) + ref.Dropped() + int64(ref.Held()); total != int64(len(in)) {
			t.Fatalf("output %d + dropped %d + held %d != input %d", len(want), ref.Dropped(), ref.Held(), len(in))
		}
		if ref.Held() > (resyncRun-1)*PacketSize {
			t.Fatalf("held %d bytes, more than %d", ref.Held(), (resyncRun-1)*PacketSize)
		}

		sizes := make([]int, len(cuts))
		for i, c := range cuts {
			sizes[i] = chunkSize(c)
		}
		got, a := feed(in, sizes...)
		if !bytes.Equal(got, want) || a.Dropped() != ref.Dropped() || a.Held() != ref.Held() {
			t.Fatalf("split into %v: output %d bytes, dropped %d, held %d; one call: %d, %d, %d",
				sizes, len(got), a.Dropped(), a.Held(), len(want), ref.Dropped(), ref.Held())
		}
	})
}
