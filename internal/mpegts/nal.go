package mpegts

import "bytes"

// H.264 (ITU-T H.264 7.4.1.2) and H.265 (ITU-T H.265 7.4.2.2) NAL unit types
// that the indexer looks for. An H.264 NAL header is one byte,
// forbidden_zero_bit(1) nal_ref_idc(2) nal_unit_type(5); an H.265 header is
// two, forbidden_zero_bit(1) nal_unit_type(6) nuh_layer_id(6)
// nuh_temporal_id_plus1(3).
const (
	h264SliceFirst = 1 // 1-5 are slices (VCL)
	h264IDR        = 5
	h264SPS        = 7
	h264PPS        = 8

	h265VCLEnd    = 32 // 0-31 are VCL
	h265IRAPFirst = 16 // 16-23: BLA, IDR, CRA and reserved IRAP types
	h265IRAPLast  = 23
	h265VPS       = 32
	h265SPS       = 33
	h265PPS       = 34
)

func h264Type(header byte) int { return int(header & 0x1f) }
func h265Type(header byte) int { return int(header>>1) & 0x3f }

// startCodes finds the 00 00 01 prefixes of H.264/H.265 NAL units and of
// MPEG video start codes in a byte stream split anywhere, such as the
// payloads of consecutive TS packets. The zero value is ready.
type startCodes struct {
	zeros  int  // zero bytes just before the current position, up to 2
	prefix bool // 00 00 01 seen: the next byte is the code
}

// next returns the index in p just after the first byte that follows a
// start code prefix (a NAL header's first byte or an MPEG start code value)
// and that byte; or -1 if p holds none, remembering a prefix that p ends in
// the middle of.
func (s *startCodes) next(p []byte) (int, byte) {
	if len(p) == 0 {
		return -1, 0
	}
	if s.prefix {
		s.prefix = false
		return 1, p[0]
	}
	for i := 0; i < len(p); {
		k := bytes.IndexByte(p[i:], 1)
		if k < 0 {
			break
		}
		j := i + k // p[j] == 1
		if zerosBefore(p, j, s.zeros) >= 2 {
			s.zeros = 0
			if j+1 < len(p) {
				return j + 2, p[j+1]
			}
			s.prefix = true
			return -1, 0
		}
		i = j + 1
	}
	s.zeros = zerosBefore(p, len(p), s.zeros)
	return -1, 0
}

// zerosBefore counts the zero bytes (up to 2) just before p[j], counting
// carried zeros from before p when the run reaches p's start.
func zerosBefore(p []byte, j, carried int) int {
	n := 0
	for n < 2 && j-n-1 >= 0 && p[j-n-1] == 0 {
		n++
	}
	if n == j {
		n = min(2, n+carried)
	}
	return n
}

// unescapeRBSP removes the emulation prevention bytes (the 03 of 00 00 03)
// from a NAL unit payload in place and returns the raw byte sequence.
func unescapeRBSP(b []byte) []byte {
	out, zeros := 0, 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		b[out] = c
		out++
	}
	return b[:out]
}

// h264HighProfiles have chroma_format_idc and the fields after it in their
// SPS (H.264 7.3.2.1.1).
func h264HighProfile(p uint32) bool {
	switch p {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// parseH264SPS reads the picture size and, from VUI timing, the frame rate
// of an H.264 sequence parameter set (rbsp: after the NAL header, emulation
// prevention removed).
func parseH264SPS(rbsp []byte) (videoSize, bool) {
	r := bitReader{b: rbsp}
	profile := r.u(8)
	r.skip(16) // constraint flags, level_idc
	r.ue()     // seq_parameter_set_id
	chroma := uint32(1)
	if h264HighProfile(profile) {
		chroma = r.ue()
		lists := 8
		if chroma == 3 {
			lists = 12
			if r.flag() { // separate_colour_plane_flag: ChromaArrayType 0
				chroma = 0
			}
		}
		r.ue()        // bit_depth_luma_minus8
		r.ue()        // bit_depth_chroma_minus8
		r.skip(1)     // qpprime_y_zero_transform_bypass_flag
		if r.flag() { // seq_scaling_matrix_present_flag
			skipH264ScalingLists(&r, lists)
		}
	}
	r.ue()          // log2_max_frame_num_minus4
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.skip(1) // delta_pic_order_always_zero_flag
		r.se()    // offset_for_non_ref_pic
		r.se()    // offset_for_top_to_bottom_field
		n := r.ue()
		for i := uint32(0); i < n && i < 256 && !r.err; i++ {
			r.se() // offset_for_ref_frame
		}
	}
	r.ue()    // max_num_ref_frames
	r.skip(1) // gaps_in_frame_num_value_allowed_flag
	wmbs, hmaps := r.ue(), r.ue()
	frameMBsOnly := r.flag()
	if !frameMBsOnly {
		r.skip(1) // mb_adaptive_frame_field_flag
	}
	r.skip(1) // direct_8x8_inference_flag
	var crop [4]uint32
	if r.flag() {
		crop = [4]uint32{r.ue(), r.ue(), r.ue(), r.ue()}
	}
	if r.err || wmbs >= maxPictureSide/16 || hmaps >= maxPictureSide/16 {
		return videoSize{}, false
	}
	fields := 1
	if !frameMBsOnly {
		fields = 2
	}
	v, ok := cropped(int(wmbs+1)*16, fields*int(hmaps+1)*16, chroma, crop[0], crop[1], crop[2], crop[3], fields)
	if ok && r.flag() { // vui_parameters_present_flag
		v.fps = h264VUIFrameRate(&r)
	}
	return v, ok
}

// skipH264ScalingLists skips the scaling_list() syntax of an SPS.
func skipH264ScalingLists(r *bitReader, lists int) {
	for i := 0; i < lists && !r.err; i++ {
		if !r.flag() { // seq_scaling_list_present_flag
			continue
		}
		size := 16
		if i >= 6 {
			size = 64
		}
		last, next := int32(8), int32(8)
		for j := 0; j < size && !r.err; j++ {
			if next != 0 {
				next = (last + r.se() + 256) % 256
			}
			if next != 0 {
				last = next
			}
		}
	}
}

// h264VUIFrameRate reads VUI parameters up to timing_info and returns
// time_scale / (2 * num_units_in_tick), or 0.
func h264VUIFrameRate(r *bitReader) float64 {
	skipVUIStart(r)
	if !r.flag() { // timing_info_present_flag
		return 0
	}
	return frameRate(r.u(32), r.u(32), 2, r.err)
}

// parseH265SPS reads the picture size and, from VUI timing, the frame rate
// of an H.265 sequence parameter set (rbsp: after the two-byte NAL header,
// emulation prevention removed), following H.265 7.3.2.2.1 field by field.
func parseH265SPS(rbsp []byte) (videoSize, bool) {
	r := bitReader{b: rbsp}
	r.skip(4) // sps_video_parameter_set_id
	subLayers := int(r.u(3))
	r.skip(1) // sps_temporal_id_nesting_flag
	skipProfileTierLevel(&r, subLayers)
	r.ue() // sps_seq_parameter_set_id
	chroma := r.ue()
	if chroma == 3 && r.flag() { // separate_colour_plane_flag
		chroma = 0
	}
	w, h := r.ue(), r.ue() // pic_width/height_in_luma_samples
	var crop [4]uint32
	if r.flag() { // conformance_window_flag
		crop = [4]uint32{r.ue(), r.ue(), r.ue(), r.ue()}
	}
	if r.err || w > maxPictureSide || h > maxPictureSide {
		return videoSize{}, false
	}
	v, ok := cropped(int(w), int(h), chroma, crop[0], crop[1], crop[2], crop[3], 1)
	if ok {
		v.fps = h265FrameRate(&r, subLayers)
	}
	return v, ok
}

// skipProfileTierLevel skips profile_tier_level(1, subLayers) (7.3.3).
func skipProfileTierLevel(r *bitReader, subLayers int) {
	r.skip(96) // general profile, tier, flags and level_idc
	var profile, level [8]bool
	for i := range subLayers {
		profile[i], level[i] = r.flag(), r.flag()
	}
	if subLayers > 0 {
		r.skip(2 * (8 - subLayers)) // reserved_zero_2bits
	}
	for i := range subLayers {
		if profile[i] {
			r.skip(88)
		}
		if level[i] {
			r.skip(8)
		}
	}
}

// h265FrameRate reads the rest of an SPS up to vui_timing_info and returns
// vui_time_scale / vui_num_units_in_tick, or 0.
func h265FrameRate(r *bitReader, subLayers int) float64 {
	r.ue() // bit_depth_luma_minus8
	r.ue() // bit_depth_chroma_minus8
	pocBits := r.ue() + 4
	first := subLayers
	if r.flag() { // sps_sub_layer_ordering_info_present_flag
		first = 0
	}
	for i := first; i <= subLayers; i++ {
		r.ue() // sps_max_dec_pic_buffering_minus1
		r.ue() // sps_max_num_reorder_pics
		r.ue() // sps_max_latency_increase_plus1
	}
	for range 6 { // coding and transform block sizes, hierarchy depths
		r.ue()
	}
	if r.flag() && r.flag() { // scaling_list_enabled_flag, sps_scaling_list_data_present_flag
		skipH265ScalingListData(r)
	}
	r.skip(2)     // amp_enabled_flag, sample_adaptive_offset_enabled_flag
	if r.flag() { // pcm_enabled_flag
		r.skip(8)
		r.ue()
		r.ue()
		r.skip(1)
	}
	skipShortTermRefPicSets(r)
	if r.flag() { // long_term_ref_pics_present_flag
		n := r.ue()
		if n > 32 || pocBits > 16 {
			return 0
		}
		r.skip(int(n) * (int(pocBits) + 1))
	}
	r.skip(2)               // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
	if r.err || !r.flag() { // vui_parameters_present_flag
		return 0
	}
	return h265VUIFrameRate(r)
}

// skipH265ScalingListData skips scaling_list_data() (7.3.4).
func skipH265ScalingListData(r *bitReader) {
	for size := 0; size < 4; size++ {
		step := 1
		if size == 3 {
			step = 3
		}
		for matrix := 0; matrix < 6 && !r.err; matrix += step {
			if !r.flag() { // scaling_list_pred_mode_flag
				r.ue() // scaling_list_pred_matrix_id_delta
				continue
			}
			coefs := min(64, 1<<(4+2*size))
			if size > 1 {
				r.se() // scaling_list_dc_coef_minus8
			}
			for range coefs {
				r.se() // scaling_list_delta_coef
			}
		}
	}
}

// skipShortTermRefPicSets skips num_short_term_ref_pic_sets and the
// st_ref_pic_set(i) that follow (7.3.7), which needs NumDeltaPocs of each.
func skipShortTermRefPicSets(r *bitReader) {
	n := r.ue()
	if n > 64 {
		r.err = true
		return
	}
	var deltas [64]uint32 // NumDeltaPocs
	for i := range int(n) {
		if i > 0 && r.flag() { // inter_ref_pic_set_prediction_flag
			r.skip(1) // delta_rps_sign
			r.ue()    // abs_delta_rps_minus1
			k := uint32(0)
			for j := uint32(0); j <= deltas[i-1] && !r.err; j++ {
				if r.flag() || r.flag() { // used_by_curr_pic_flag, else use_delta_flag
					k++
				}
			}
			deltas[i] = k
			continue
		}
		neg, pos := r.ue(), r.ue()
		if neg > 16 || pos > 16 {
			r.err = true
			return
		}
		for range neg + pos {
			r.ue()    // delta_poc_s0/s1_minus1
			r.skip(1) // used_by_curr_pic_s0/s1_flag
		}
		deltas[i] = neg + pos
	}
}

// h265VUIFrameRate reads vui_parameters() (E.2.1) up to vui_timing_info.
func h265VUIFrameRate(r *bitReader) float64 {
	skipVUIStart(r)
	r.skip(3)     // neutral_chroma_indication, field_seq, frame_field_info_present
	if r.flag() { // default_display_window_flag
		for range 4 {
			r.ue()
		}
	}
	if !r.flag() { // vui_timing_info_present_flag
		return 0
	}
	return frameRate(r.u(32), r.u(32), 1, r.err)
}

// skipVUIStart skips the VUI fields that H.264 and H.265 share, up to
// chroma_loc_info.
func skipVUIStart(r *bitReader) {
	if r.flag() { // aspect_ratio_info_present_flag
		if r.u(8) == 255 { // Extended_SAR
			r.skip(32)
		}
	}
	if r.flag() { // overscan_info_present_flag
		r.skip(1)
	}
	if r.flag() { // video_signal_type_present_flag
		r.skip(4)
		if r.flag() { // colour_description_present_flag
			r.skip(24)
		}
	}
	if r.flag() { // chroma_loc_info_present_flag
		r.ue()
		r.ue()
	}
}
