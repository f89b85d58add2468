package mpegts

// MPEG-1 and MPEG-2 video (ISO/IEC 11172-2, 13818-2) start codes: a picture
// starts with 00 00 01 00, a slice with 00 00 01 01..AF. A decoder (JSMpeg
// most of all) can start only at a sequence header, 00 00 01 B3:
//
//	horizontal_size_value   12 bits
//	vertical_size_value     12
//	aspect_ratio_info        4
//	frame_rate_code          4
//	bit_rate_value ...
//
// MPEG-2 follows it with a sequence extension, 00 00 01 B5 and
// extension_start_code_identifier 1, that adds the high bits of the size and
// a frame rate numerator and denominator.
const (
	codePicture           = 0x00
	codeLastSlice         = 0xaf
	codeSequenceHeader    = 0xb3
	codeExtension         = 0xb5
	extSequence           = 1
	minSequenceHeaderSize = 4 // bytes after the start code that sequenceHeader reads
)

// frameRates are the frame rates of frame_rate_code 1-8.
var frameRates = [...]float64{0, 24000.0 / 1001, 24, 25, 30000.0 / 1001, 30, 50, 60000.0 / 1001, 60}

// parseSequenceHeader reads size and frame rate from the bytes that follow a
// sequence header start code. fps is 0 for a reserved frame_rate_code.
func parseSequenceHeader(b []byte) (v videoSize, ok bool) {
	if len(b) < minSequenceHeaderSize {
		return v, false
	}
	v.width = int(b[0])<<4 | int(b[1])>>4
	v.height = int(b[1]&0x0f)<<8 | int(b[2])
	if code := int(b[3] & 0x0f); code < len(frameRates) {
		v.fps = frameRates[code]
	}
	return v, v.width > 0 && v.height > 0
}

// applySequenceExtension updates v, read from the sequence header just
// before, with an MPEG-2 sequence extension (the bytes after its start
// code). ok is false for other extensions.
func applySequenceExtension(v videoSize, b []byte) (_ videoSize, ok bool) {
	r := bitReader{b: b}
	if r.u(4) != extSequence {
		return v, false
	}
	r.skip(8 + 1 + 2) // profile_and_level_indication, progressive_sequence, chroma_format
	hext, vext := int(r.u(2)), int(r.u(2))
	r.skip(12 + 1 + 8 + 1) // bit_rate_extension, marker, vbv_buffer_size_extension, low_delay
	n, d := r.u(2), r.u(5)
	if r.err {
		return v, false
	}
	v.width |= hext << 12
	v.height |= vext << 12
	v.fps = v.fps * float64(n+1) / float64(d+1)
	return v, true
}

// videoSize is what a sequence header or SPS says about the picture.
type videoSize struct {
	width, height int
	fps           float64 // 0 if the stream does not say
}

// maxPictureSide bounds the width and height a parameter set may declare.
const maxPictureSide = 16384

// cropped applies conformance cropping: chroma selects the crop units
// (H.264 Table 6-1, H.265 Table 6-1), vertical is 2 for H.264 field
// macroblock pairs, 1 otherwise.
func cropped(w, h int, chroma uint32, left, right, top, bottom uint32, vertical int) (videoSize, bool) {
	unitX, unitY := 1, 1
	switch chroma {
	case 1:
		unitX, unitY = 2, 2
	case 2:
		unitX = 2
	}
	unitY *= vertical
	if max(left, right, top, bottom) > maxPictureSide {
		return videoSize{}, false
	}
	w -= unitX * int(left+right)
	h -= unitY * int(top+bottom)
	ok := w > 0 && h > 0 && w <= maxPictureSide && h <= maxPictureSide
	return videoSize{width: w, height: h}, ok
}

// frameRate returns timeScale / (fieldsPerFrame * unitsInTick) when that is
// a plausible frame rate, else 0.
func frameRate(unitsInTick, timeScale uint32, fieldsPerFrame float64, bad bool) float64 {
	if bad || unitsInTick == 0 || timeScale == 0 {
		return 0
	}
	fps := float64(timeScale) / (fieldsPerFrame * float64(unitsInTick))
	if fps > 1000 {
		return 0
	}
	return fps
}

// bitReader reads big-endian bit fields and exp-Golomb codes (H.264 9.1).
// Reading past the end sets err and returns zeros; callers check err once
// at the end.
type bitReader struct {
	b   []byte
	pos int // in bits
	err bool
}

// u reads an n-bit unsigned field, n <= 32.
func (r *bitReader) u(n int) uint32 {
	if n > 32 || r.pos+n > 8*len(r.b) {
		r.err = true
		r.pos = 8 * len(r.b)
		return 0
	}
	var v uint32
	for range n {
		v = v<<1 | uint32(r.b[r.pos>>3]>>(7-r.pos&7)&1)
		r.pos++
	}
	return v
}

func (r *bitReader) flag() bool { return r.u(1) == 1 }

// skip skips n bits.
func (r *bitReader) skip(n int) {
	if r.pos+n > 8*len(r.b) {
		r.err = true
		r.pos = 8 * len(r.b)
		return
	}
	r.pos += n
}

// ue reads an unsigned exp-Golomb code, ue(v). Codes longer than 32 bits
// are errors.
func (r *bitReader) ue() uint32 {
	zeros := 0
	for !r.flag() {
		if r.err || zeros == 31 {
			r.err = true
			return 0
		}
		zeros++
	}
	return 1<<zeros - 1 + r.u(zeros)
}

// se reads a signed exp-Golomb code, se(v).
func (r *bitReader) se() int32 {
	k := r.ue()
	if k&1 == 1 {
		return int32(k/2 + 1)
	}
	return -int32(k / 2)
}
