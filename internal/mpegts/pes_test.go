package mpegts

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"testing"
)

// stuffedPacket builds a packet of pid carrying payload (at most 184 bytes)
// and filling the rest with adaptation field stuffing.
func stuffedPacket(pid int, pusi bool, cc byte, payload []byte) []byte {
	p := packet(pid, pusi, cc, payload)
	if af := 183 - len(payload); af >= 0 {
		p[3] = 0x30 | cc&0x0f
		p[4] = byte(af)
		if af > 0 {
			p[5] = 0
		}
		copy(p[5+af:], payload)
	}
	return p
}

// pesPackets packs a video PES holding es into packets of pid, the i-th
// carrying sizes[i] bytes of it (184 past the end of sizes).
func pesPackets(pid int, es []byte, sizes ...int) []byte {
	pes := slices.Concat([]byte{0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1}, es)
	var out []byte
	for i := 0; len(pes) > 0; i++ {
		n := min(184, len(pes))
		if i < len(sizes) {
			n = min(sizes[i], n)
		}
		out = append(out, stuffedPacket(pid, i == 0, byte(i), pes[:n])...)
		pes = pes[n:]
	}
	return out
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// NAL units and start codes for the key rule cases, each with its prefix.
var (
	aud      = unhex("0000000109f0")
	sps264   = slices.Concat([]byte{0, 0, 0, 1}, unhex(spsTests[0].hex)) // 330x250, 25 fps
	pps264   = unhex("0000000168ebe3cb22c0")
	sei264   = unhex("0000010605021234800000")
	idr264   = unhex("0000016588840033ffe0")
	slice264 = unhex("00000141e21f0033ff00")
	vps265   = unhex("00000001400c01ffff016000000300")
	sps265   = slices.Concat([]byte{0, 0, 0, 1}, unhex(spsTests[7].hex)) // 330x250, 29.97 fps
	pps265   = unhex("0000000144011c172b462400")
	idr265   = unhex("0000012601af0a5e8000")
	cra265   = unhex("0000012a01ac0a5e8000")
	trail265 = unhex("0000010201d00a5e8000")
	seqHdr   = unhex("000001b31400f013ffffe018")
	seqExt   = unhex("000001b5148a00010000")
	gop      = unhex("000001b800080000")
	picture  = unhex("00000100000fffff8000")
)

func TestKeyRules(t *testing.T) {
	tests := []struct {
		name       string
		streamType int
		es         []byte
		key        bool
		video      Video // checked for keys
	}{
		{"h264 AUD SPS PPS IDR", 0x1b, slices.Concat(aud, sps264, pps264, idr264), true, Video{Codec: "h264", Width: 330, Height: 250, FrameRate: 25}},
		{"h264 SPS PPS SEI IDR", 0x1b, slices.Concat(sps264, pps264, sei264, idr264), true, Video{Codec: "h264", Width: 330, Height: 250, FrameRate: 25}},
		{"h264 no PPS", 0x1b, slices.Concat(aud, sps264, idr264), false, Video{}},
		{"h264 no SPS", 0x1b, slices.Concat(aud, pps264, idr264), false, Video{}},
		{"h264 non-IDR slice first", 0x1b, slices.Concat(sps264, pps264, slice264, idr264), false, Video{}},
		{"h264 SPS after the IDR", 0x1b, slices.Concat(pps264, idr264, sps264), false, Video{}},
		{"h265 VPS SPS PPS IDR", 0x24, slices.Concat(vps265, sps265, pps265, idr265), true, Video{Codec: "h265", Width: 330, Height: 250, FrameRate: 30000.0 / 1001}},
		{"h265 VPS SPS PPS CRA", 0x24, slices.Concat(vps265, sps265, pps265, cra265), true, Video{Codec: "h265", Width: 330, Height: 250, FrameRate: 30000.0 / 1001}},
		{"h265 no VPS", 0x24, slices.Concat(sps265, pps265, idr265), false, Video{}},
		{"h265 trailing picture", 0x24, slices.Concat(vps265, sps265, pps265, trail265), false, Video{}},
		{"mpeg1 sequence header", 0x01, slices.Concat(seqHdr, gop, picture), true, Video{Codec: "mpeg1video", Width: 320, Height: 240, FrameRate: 25}},
		{"mpeg2 sequence header and extension", 0x02, slices.Concat(seqHdr, seqExt, gop, picture), true, Video{Codec: "mpeg2video", Width: 320, Height: 240, FrameRate: 25}},
		{"mpeg picture without sequence header", 0x02, slices.Concat(gop, picture, seqHdr), false, Video{}},
		{"h264 type, MPEG data", 0x1b, slices.Concat(seqHdr, gop, picture), false, Video{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			psi := new(psiStream).add(0, patSection(0, 1, 0x1000)).
				add(0x1000, pmtSection(0, 1, 0x100, esDef{pid: 0x100, streamType: tc.streamType})).out
			var want []int64
			if tc.key {
				want = []int64{2}
			}
			n := len(tc.es) + 14 // PES bytes
			// Every split into two packets, and into three at coarser steps:
			// through the PES header, start codes and NAL units.
			for a := 1; a < n; a++ {
				for b := 0; b < n-a; b += 1 + 6*b {
					sizes := []int{a}
					if b > 0 {
						sizes = append(sizes, b)
					}
					var x Indexer
					keys := feedChunks(&x, slices.Concat(psi, pesPackets(0x100, tc.es, sizes...)), 1)
					if !slices.Equal(keys, want) {
						t.Fatalf("split after %d and %d more bytes: keys %v, want %v", a, b, keys, want)
					}
					tc.video.PID = 0x100
					if v := x.Info().Video; tc.key && (v == nil || *v != tc.video) {
						t.Fatalf("split after %d and %d more bytes: video %+v, want %+v", a, b, v, tc.video)
					}
				}
			}
		})
	}
}

// TestScanIsBounded: a PES that never reaches a picture is given up after
// maxScan bytes.
func TestScanIsBounded(t *testing.T) {
	es := slices.Concat(sps264, pps264, bytes.Repeat([]byte{0x55}, maxScan), idr264)
	psi := new(psiStream).add(0, patSection(0, 1, 0x1000)).add(0x1000, pmtSection(0, 1, 0x100, esDef{pid: 0x100, streamType: 0x1b})).out
	var x Indexer
	if keys := x.Feed(slices.Concat(psi, pesPackets(0x100, es))); len(keys) != 0 {
		t.Errorf("keys %v: an IDR after %d bytes of other data counts", keys, maxScan)
	}
	es = slices.Concat(sps264, pps264, bytes.Repeat([]byte{0x55}, maxScan-len(sps264)-len(pps264)-100), idr264)
	if keys := x.Feed(pesPackets(0x100, es)); len(keys) != 1 {
		t.Errorf("keys %v: an IDR just inside the bound does not count", keys)
	}
}

// TestRandomAccessIndicatorIsOnlyAHint marks every video packet with
// random_access_indicator: no extra keys.
func TestRandomAccessIndicatorIsOnlyAHint(t *testing.T) {
	b := slices.Clone(readVector(t, "h264_aac.ts"))
	for i := 0; i < len(b); i += PacketSize {
		p := b[i : i+PacketSize]
		if int(p[1]&0x1f)<<8|int(p[2]) == 256 && p[3]&0x20 != 0 && p[4] > 0 {
			p[5] |= 0x40
		}
	}
	var x Indexer
	if keys := x.Feed(b); !slices.Equal(keys, []int64{3, 139}) {
		t.Errorf("keys %v, want [3 139]", keys)
	}
}

func TestScrambledAndErroredPacketsAreIgnored(t *testing.T) {
	b := slices.Clone(readVector(t, "h264_aac.ts"))
	// Scramble the key at 3, flag the key at 139 with transport_error_indicator.
	b[3*PacketSize+3] |= 0x80
	b[139*PacketSize+1] |= 0x80
	var x Indexer
	if keys := x.Feed(b); len(keys) != 0 {
		t.Errorf("keys %v from a scrambled and an errored PES start", keys)
	}
}

// TestGarbage feeds random packets and damaged copies of the vectors: no
// panic, keys only move forward and are packets that were fed.
func TestGarbage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(t *testing.T, x *Indexer, b []byte, chunk int) {
		t.Helper()
		keys := feedChunks(x, b, chunk)
		n := int64(len(b) / PacketSize)
		for i, k := range keys {
			if k < 0 || k >= n || i > 0 && k <= keys[i-1] {
				t.Fatalf("keys %v: not increasing within [0, %d)", keys, n)
			}
		}
		x.Info()
	}
	t.Run("random packets", func(t *testing.T) {
		b := make([]byte, 5000*PacketSize)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		for i := 0; i < len(b); i += PacketSize {
			b[i] = SyncByte
		}
		var x Indexer
		check(t, &x, b, 7)
		if x.PSI() != nil {
			t.Errorf("PSI from random bytes: % x", x.PSI()[:8])
		}
	})
	t.Run("damaged vectors", func(t *testing.T) {
		for _, v := range vectors {
			orig := readVector(t, v.file)
			for round := range 50 {
				b := slices.Clone(orig)
				for range 1 + round {
					b[r.IntN(len(b))] = byte(r.Uint32())
				}
				var x Indexer
				check(t, &x, b, 1+r.IntN(20))
			}
		}
	})
	t.Run("not packets", func(t *testing.T) {
		var x Indexer
		b := slices.Concat(bytes.Repeat([]byte{0}, 3*PacketSize), readVector(t, "mpeg1.ts"))
		if keys := x.Feed(b); !slices.Equal(keys, []int64{6, 131, 253, 377, 498}) {
			t.Errorf("keys %v: packets without a sync byte are not counted", keys)
		}
	})
}
