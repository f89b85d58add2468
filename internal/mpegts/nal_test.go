package mpegts

import (
	"bytes"
	"encoding/hex"
	"math"
	"slices"
	"testing"
)

// Parameter sets made by ffmpeg 6 with libx264 and libx265 from
// `-f lavfi -i testsrc=size=WxH:rate=R -frames:v 3` and the options named;
// the wanted sizes and rates are what ffprobe reports for the same files.
// Neither encoder writes some syntax that other encoders do, so the
// "crafted" ones are the "crop" sets with fields inserted bit by bit and
// spliced back into the stream, where ffprobe again reports the size and
// rate (the rate comes after the inserted fields, so a misparse shows).
var spsTests = []struct {
	name   string
	h265   bool
	hex    string
	w, h   int
	fps    float64
	option string
}{
	{"crop", false, "6764000dacd9415087924c0440000003004000000c83c50a6580", 330, 250, 25, "-pix_fmt yuv420p"},
	{"4:4:4", false, "67f4000d919b282a10f3cf80880000030008000003019078a14cb0", 330, 250, 25, "-pix_fmt yuv444p"},
	{"4:2:2", false, "677a0015bcd9415087927c0440000003004000001903c58b6580", 330, 250, 50, "-pix_fmt yuv422p"},
	{"interlaced", false, "67640015acd941410fcb808800000300080000030190f8a14cb0", 320, 240, 25, "-flags +ildct+ilme -x264-params tff=1"},
	{"cqm", false, "6764000dacd94141fb011000003e90000ea600f1429960", 320, 240, 30000.0 / 1001, "-x264-params cqm=jvt"},
	{"baseline", false, "6742c00bd902c4ec0440000003004000000c03c50a92", 176, 144, 24, "-profile:v baseline"},
	{"10 bit", false, "676e000da6cd94141fb011000003000100000300320f142996", 320, 240, 25, "-pix_fmt yuv420p10le"},
	{"crop", true, "42010101600000030090000003000003003ca00a88040724996566924caf01680800001f480003a98040", 330, 250, 30000.0 / 1001, ""},
	{"4:4:4 scaling lists", true, "4201010408000003009e0800000300003f90014101e2cb2b349272bc05a020000003002000000641", 320, 240, 50, "-pix_fmt yuv444p -x265-params scaling-list=default"},
	{"crafted: scaling matrices", false, "6764000dad95d10ae8857442a11116428a471112662c85148e2224cc590a291c444998b21452388893316428a471112662c85148e22269249249025d9415087924c044000003000400000300c83c50a658", 330, 250, 25,
		"seq_scaling_matrix_present_flag with lists 0 and 6 explicit, 2 and 7 falling back to the default"},
	{"crafted: PCM, short-term and long-term reference sets", true, "42010101600000030090000003000003003ca00a88040724996566924cddea46b4ed3acd82c25e02d01000003e900007530080", 330, 250, 30000.0 / 1001,
		"pcm_enabled_flag; 3 st_ref_pic_sets, 2 predicted (inter_ref_pic_set_prediction_flag); 2 long-term pictures"},
	{"crafted: sub-layers too", true, "42010501600000030090000003000003003cd00055555555555555555555555a5da00a880407249965662b3159a493377a91ad3b4eb360b09780b40400000fa40001d4c020", 330, 250, 30000.0 / 1001,
		"as above, with sps_max_sub_layers_minus1 2, sub-layer profile and level, ordering info per sub-layer"},
	{"b-pyramid", true, "42010101600000030090000003000003003ca00a080f165959a4932bc05a020000030002000003003010", 320, 240, 24, "-x265-params bframes=4:b-pyramid=1:ref=4"},
}

// parseSPS parses a whole SPS NAL unit, header included.
func parseSPS(nal []byte, h265 bool) (videoSize, bool) {
	nal = slices.Clone(nal)
	if h265 {
		return parseH265SPS(unescapeRBSP(nal[min(2, len(nal)):]))
	}
	return parseH264SPS(unescapeRBSP(nal[min(1, len(nal)):]))
}

func TestParseSPS(t *testing.T) {
	for _, tc := range spsTests {
		t.Run(map[bool]string{false: "h264 ", true: "h265 "}[tc.h265]+tc.name, func(t *testing.T) {
			nal, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			v, ok := parseSPS(nal, tc.h265)
			if !ok || v.width != tc.w || v.height != tc.h || math.Abs(v.fps-tc.fps) > 1e-9 {
				t.Errorf("got %dx%d at %v fps (ok %v), want %dx%d at %v", v.width, v.height, v.fps, ok, tc.w, tc.h, tc.fps)
			}
			// Cut short: no panic, and never a made-up size.
			for n := range len(nal) {
				if v, ok := parseSPS(nal[:n], tc.h265); ok && (v.width != tc.w || v.height != tc.h) {
					t.Errorf("cut to %d bytes: %dx%d", n, v.width, v.height)
				}
			}
		})
	}
}

func TestBitReader(t *testing.T) {
	// ue: 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3; se of 00101 (4) -> -2.
	r := bitReader{b: []byte{0b1010_0110, 0b0100_0010, 0b1000_0000}}
	got := []int64{int64(r.ue()), int64(r.ue()), int64(r.ue()), int64(r.ue()), int64(r.se())}
	if !slices.Equal(got, []int64{0, 1, 2, 3, -2}) || r.err {
		t.Errorf("codes = %v (err %v), want [0 1 2 3 -2]", got, r.err)
	}
	r = bitReader{b: []byte{0, 0, 0, 0, 0x80}} // 32 zeros: too long
	if r.ue(); !r.err {
		t.Error("a 33-bit prefix is not an error")
	}
	r = bitReader{b: []byte{0xff}}
	if v := r.u(9); v != 0 || !r.err {
		t.Errorf("u(9) of one byte = %d, err %v", v, r.err)
	}
}

func TestUnescapeRBSP(t *testing.T) {
	tests := []struct{ in, want []byte }{
		{[]byte{0, 0, 3, 1}, []byte{0, 0, 1}},
		{[]byte{0, 0, 3, 0, 0, 3}, []byte{0, 0, 0, 0}},
		{[]byte{0, 3, 0, 3}, []byte{0, 3, 0, 3}},
		{[]byte{0, 0, 0, 3, 3}, []byte{0, 0, 0, 3}},
	}
	for _, tc := range tests {
		if got := unescapeRBSP(slices.Clone(tc.in)); !bytes.Equal(got, tc.want) {
			t.Errorf("unescapeRBSP(% x) = % x, want % x", tc.in, got, tc.want)
		}
	}
}

// allStartCodes scans p in pieces cut at the given points and returns each
// code found and the offset in p just after it.
func allStartCodes(p []byte, cuts ...int) (codes []byte, ends []int) {
	var s startCodes
	from := 0
	for _, to := range append(cuts, len(p)) {
		piece := p[from:to]
		for off := 0; ; {
			i, code := s.next(piece[off:])
			if i < 0 {
				break
			}
			off += i
			codes, ends = append(codes, code), append(ends, from+off)
		}
		from = to
	}
	return codes, ends
}

func TestStartCodesAnySplit(t *testing.T) {
	p := []byte{0, 0, 1, 0x67, 5, 0, 0, 0, 1, 0x68, 0, 0, 2, 0, 0, 1, 0x65, 0, 1, 0, 0, 1}
	codes, ends := allStartCodes(p)
	if !bytes.Equal(codes, []byte{0x67, 0x68, 0x65}) || !slices.Equal(ends, []int{4, 10, 17}) {
		t.Fatalf("whole: codes % x at %v", codes, ends)
	}
	for i := range len(p) + 1 {
		for j := i; j <= len(p); j++ {
			c, e := allStartCodes(p, i, j)
			if !bytes.Equal(c, codes) || !slices.Equal(e, ends) {
				t.Errorf("cut at %d and %d: codes % x at %v", i, j, c, e)
			}
		}
	}
}

func FuzzNAL(f *testing.F) {
	for _, tc := range spsTests {
		nal, _ := hex.DecodeString(tc.hex)
		f.Add(nal, tc.h265, 7)
	}
	f.Add([]byte{0, 0, 1, 0xb3, 0x14, 0x00, 0xf0, 0x13, 0, 0, 1, 0xb5, 0x14}, false, 4)
	f.Fuzz(func(t *testing.T, data []byte, h265 bool, cut int) {
		parseSPS(data, h265)
		if v, ok := parseSequenceHeader(data); ok {
			applySequenceExtension(v, data)
		}
		// The start codes found do not depend on where the data is split.
		codes, ends := allStartCodes(data)
		cut = min(max(cut, 0), len(data))
		if c, e := allStartCodes(data, cut); !bytes.Equal(c, codes) || !slices.Equal(e, ends) {
			t.Errorf("cut at %d: % x at %v; whole: % x at %v", cut, c, e, codes, ends)
		}
	})
}
