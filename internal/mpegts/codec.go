package mpegts

import "fmt"

// Kinds of elementary stream, as reported in ES.Kind.
const (
	KindVideo = "video"
	KindAudio = "audio"
	KindData  = "data"
)

// Descriptor tags (ISO/IEC 13818-1 2.6, ETSI EN 300 468) that name a codec
// carried as stream_type 0x06 (PES private data).
const (
	tagRegistration = 0x05 // format_identifier, 4 ASCII bytes
	tagAC3          = 0x6a // DVB AC-3 descriptor
	tagEAC3         = 0x7a // DVB enhanced AC-3 descriptor
	tagTeletext     = 0x56
	tagSubtitling   = 0x59
)

// streamTypes maps stream_type to codec name and kind. The names are stable:
// the dashboard picks a player by them.
//
// 0x03 and 0x04 are MPEG-1 and MPEG-2 audio (ISO/IEC 11172-3, 13818-3); both
// may carry layer I, II or III, so the stream type cannot tell MP2 from MP3.
// 0x03 is named "mp2" (what JSMpeg plays and what ffmpeg writes for its mp2
// encoder at 32-48 kHz); 0x04 is named "mpeg2audio", the half-sample-rate
// extension that ffmpeg writes below 32 kHz and that JSMpeg cannot play.
var streamTypes = map[int]struct{ codec, kind string }{
	0x01: {"mpeg1video", KindVideo},
	0x02: {"mpeg2video", KindVideo},
	0x03: {"mp2", KindAudio},
	0x04: {"mpeg2audio", KindAudio},
	0x0f: {"aac", KindAudio},
	0x10: {"mpeg4", KindVideo},
	0x11: {"aac-latm", KindAudio},
	0x15: {"klv", KindData}, // metadata carried in PES
	0x1b: {"h264", KindVideo},
	0x24: {"h265", KindVideo},
	0x81: {"ac3", KindAudio},
	0x86: {"scte35", KindData},
	0x87: {"eac3", KindAudio},
}

// codecOf names the codec of an elementary stream from its stream_type and
// the descriptors of its ES_info loop: one of the names above, "opus", "ac3",
// "eac3", "klv", "dvb_teletext", "dvb_subtitle" or "private" for stream_type
// 0x06, and "0x%02x" for a stream type it does not know (kind "data").
func codecOf(streamType int, descriptors []byte) (codec, kind string) {
	if streamType == 0x06 {
		return privateCodec(descriptors)
	}
	if t, ok := streamTypes[streamType]; ok {
		return t.codec, t.kind
	}
	return fmt.Sprintf("0x%02x", streamType), KindData
}

// privateCodec looks for the descriptor that says what a stream_type 0x06
// stream holds.
func privateCodec(d []byte) (codec, kind string) {
	for len(d) >= 2 {
		tag, n := d[0], int(d[1])
		if 2+n > len(d) {
			break
		}
		body := d[2 : 2+n]
		switch {
		case tag == tagRegistration && n >= 4:
			switch string(body[:4]) {
			case "Opus":
				return "opus", KindAudio
			case "AC-3":
				return "ac3", KindAudio
			case "EAC3":
				return "eac3", KindAudio
			case "KLVA":
				return "klv", KindData
			}
		case tag == tagAC3:
			return "ac3", KindAudio
		case tag == tagEAC3:
			return "eac3", KindAudio
		case tag == tagTeletext:
			return "dvb_teletext", KindData
		case tag == tagSubtitling:
			return "dvb_subtitle", KindData
		}
		d = d[2+n:]
	}
	return "private", KindData
}
