package mpegts

// PES packets (ISO/IEC 13818-1 2.4.3.6). A PES starts in a packet with
// payload_unit_start_indicator set:
//
//	packet_start_code_prefix  24   00 00 01
//	stream_id                  8
//	PES_packet_length         16
//	'10' scrambling, priority, alignment, copyright, original  8
//	PTS_DTS_flags ... extension_flag                           8
//	PES_header_data_length     8
//	header fields and stuffing, PES_header_data_length bytes
//	elementary stream data
//
// Streams that have no header fields after PES_packet_length are listed in
// noPESHeader; video is never one of them. The header may straddle packets.
const (
	pesFixedHeader = 9
	maxCapture     = 1024  // bytes of an SPS or sequence header kept for parsing
	maxScan        = 65536 // ES bytes of a PES searched for its first picture
)

// noPESHeader reports whether stream_id has no PES header fields:
// program_stream_map, padding, private_stream_2, ECM, EMM,
// program_stream_directory, DSMCC and H.222.1 type E.
func noPESHeader(id byte) bool {
	switch id {
	case 0xbc, 0xbe, 0xbf, 0xf0, 0xf1, 0xf2, 0xf8, 0xff:
		return true
	}
	return false
}

// keyRule is how the indexer finds random access points in a stream.
type keyRule uint8

const (
	ruleNone     keyRule = iota // nothing indexed
	ruleEveryPES                // every PES start is a key (audio, data, other video)
	ruleMPEG                    // MPEG-1/2 video: a sequence header before the first picture
	ruleH264                    // SPS, PPS, then an IDR slice first
	ruleH265                    // VPS, SPS, PPS, then an IRAP picture first
)

// ruleFor returns the key rule of a codec name.
func ruleFor(codec string) keyRule {
	switch codec {
	case "mpeg1video", "mpeg2video":
		return ruleMPEG
	case "h264":
		return ruleH264
	case "h265":
		return ruleH265
	}
	return ruleEveryPES
}

// pesState is where the reader is in the current PES.
type pesState uint8

const (
	pesIdle   pesState = iota // not reading: decided, given up, or no PES yet
	pesHeader                 // gathering the fixed header
	pesSkip                   // skipping header fields
	pesData                   // scanning elementary stream data
)

// Flags of what a PES held before its first picture.
const (
	seenVPS uint8 = 1 << iota
	seenSPS
	seenPPS
	seenSequenceHeader
	seenSequenceExtension
)

// esReader finds the random access points of one elementary stream by
// reading the start of each PES, up to its first picture, and tracks the
// picture size that parameter sets and sequence headers declare.
type esReader struct {
	pid  int
	rule keyRule

	// The current PES.
	start   int64 // packet number of its first packet
	state   pesState
	hdr     [pesFixedHeader]byte
	nhdr    int
	skip    int // header bytes still to skip
	scanned int // ES bytes scanned
	seen    uint8
	sc      startCodes
	capture [maxCapture]byte // a unit being captured: its code byte, then the rest
	ncap    int              // 0 if no capture is open

	size  videoSize // latest declared; zero if unknown
	mpeg1 bool      // the last key's sequence header had no MPEG-2 extension
}

// reset makes r index the stream pid with rule, forgetting the old one.
func (r *esReader) reset(pid int, rule keyRule) {
	r.pid, r.rule, r.state, r.size, r.mpeg1 = pid, rule, pesIdle, videoSize{}, false
}

// lost tells r that packets of its stream went missing: the current PES
// cannot be a key any more unless it already is.
func (r *esReader) lost() { r.state = pesIdle }

// packet reads the payload of a packet of r's stream, numbered num. It
// returns the packet number of a key decided by this packet.
func (r *esReader) packet(p []byte, pusi bool, num int64) (key int64, ok bool) {
	if pusi {
		if r.rule == ruleEveryPES {
			return num, len(p) < 3 || p[0] == 0 && p[1] == 0 && p[2] == 1
		}
		r.start, r.state, r.nhdr, r.scanned, r.seen = num, pesHeader, 0, 0, 0
		r.sc, r.ncap = startCodes{}, 0
	}
	for len(p) > 0 {
		switch r.state {
		case pesIdle:
			return 0, false
		case pesHeader:
			p = r.header(p)
		case pesSkip:
			n := min(r.skip, len(p))
			r.skip -= n
			p = p[n:]
			if r.skip == 0 {
				r.state = pesData
			}
		case pesData:
			return r.scan(p)
		}
	}
	return 0, false
}

// header gathers the fixed PES header and returns the rest of p.
func (r *esReader) header(p []byte) []byte {
	n := copy(r.hdr[r.nhdr:], p)
	r.nhdr += n
	p = p[n:]
	if r.nhdr >= 4 && (r.hdr[0] != 0 || r.hdr[1] != 0 || r.hdr[2] != 1) {
		r.state = pesIdle
		return nil
	}
	if r.nhdr >= 4 && noPESHeader(r.hdr[3]) { // never video
		r.state = pesIdle
		return nil
	}
	if r.nhdr < pesFixedHeader {
		return p
	}
	if r.hdr[6]&0xc0 != 0x80 {
		r.state = pesIdle
		return nil
	}
	r.skip, r.state = int(r.hdr[8]), pesSkip
	if r.skip == 0 {
		r.state = pesData
	}
	return p
}

// scan searches ES data for start codes until the first picture decides
// whether the PES is a key.
func (r *esReader) scan(p []byte) (key int64, ok bool) {
	for len(p) > 0 {
		i, code := r.sc.next(p)
		if i < 0 {
			r.keep(p)
			r.scanned += len(p)
			if r.scanned > maxScan {
				r.state = pesIdle
			}
			return 0, false
		}
		r.keep(p[:i-1]) // ends with (part of) the start code prefix: harmless
		r.endCapture()
		if r.scanned += i; r.scanned > maxScan {
			r.state = pesIdle
			return 0, false
		}
		p = p[i:]
		if done, key := r.startCode(code); done {
			r.state = pesIdle
			return r.start, key
		}
	}
	return 0, false
}

// startCode notes a start code followed by code (a NAL header's first byte
// or an MPEG start code value). done says the first picture was reached and
// key whether the PES starts at a random access point.
func (r *esReader) startCode(code byte) (done, key bool) {
	switch r.rule {
	case ruleMPEG:
		switch {
		case code == codeSequenceHeader:
			r.seen |= seenSequenceHeader
			r.begin(code)
		case code == codeExtension && r.seen&seenSequenceHeader != 0:
			r.begin(code)
		case code <= codeLastSlice:
			key := r.seen&seenSequenceHeader != 0
			if key {
				r.mpeg1 = r.seen&seenSequenceExtension == 0
			}
			return true, key
		}
	case ruleH264:
		switch t := h264Type(code); {
		case t == h264SPS:
			r.seen |= seenSPS
			r.begin(code)
		case t == h264PPS:
			r.seen |= seenPPS
		case t >= h264SliceFirst && t <= h264IDR:
			return true, t == h264IDR && r.seen&(seenSPS|seenPPS) == seenSPS|seenPPS
		}
	case ruleH265:
		switch t := h265Type(code); {
		case t == h265VPS:
			r.seen |= seenVPS
		case t == h265SPS:
			r.seen |= seenSPS
			r.begin(code)
		case t == h265PPS:
			r.seen |= seenPPS
		case t < h265VCLEnd:
			all := seenVPS | seenSPS | seenPPS
			return true, t >= h265IRAPFirst && t <= h265IRAPLast && r.seen&all == all
		}
	}
	return false, false
}

// begin starts capturing the unit that starts with code.
func (r *esReader) begin(code byte) {
	r.capture[0], r.ncap = code, 1
}

// keep appends p to the capture, if one is open, as far as it fits.
func (r *esReader) keep(p []byte) {
	if r.ncap > 0 {
		r.ncap += copy(r.capture[r.ncap:], p)
	}
}

// endCapture parses the captured unit, if any, and updates the size.
func (r *esReader) endCapture() {
	if r.ncap == 0 {
		return
	}
	b := r.capture[1:r.ncap]
	r.ncap = 0
	var v videoSize
	ok := false
	switch r.rule {
	case ruleMPEG:
		if r.capture[0] == codeExtension {
			if r.size, ok = applySequenceExtension(r.size, b); ok {
				r.seen |= seenSequenceExtension
			}
			return
		}
		v, ok = parseSequenceHeader(b)
	case ruleH264:
		v, ok = parseH264SPS(unescapeRBSP(b))
	case ruleH265:
		if len(b) > 1 {
			v, ok = parseH265SPS(unescapeRBSP(b[1:])) // second header byte
		}
	}
	if ok {
		r.size = v
	}
}
