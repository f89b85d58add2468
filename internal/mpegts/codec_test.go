package mpegts

import "testing"

func TestCodecOf(t *testing.T) {
	reg := func(id string) []byte { return append([]byte{tagRegistration, 4}, id...) }
	tests := []struct {
		streamType  int
		desc        []byte
		codec, kind string
	}{
		{0x01, nil, "mpeg1video", KindVideo},
		{0x02, nil, "mpeg2video", KindVideo},
		{0x1b, nil, "h264", KindVideo},
		{0x24, nil, "h265", KindVideo},
		{0x0f, nil, "aac", KindAudio},
		{0x11, nil, "aac-latm", KindAudio},
		{0x03, nil, "mp2", KindAudio},
		{0x04, nil, "mpeg2audio", KindAudio},
		{0x81, nil, "ac3", KindAudio},
		{0x15, nil, "klv", KindData},
		{0x06, reg("Opus"), "opus", KindAudio},
		// ffmpeg writes Opus as a registration and an extension descriptor.
		{0x06, append(reg("Opus"), 0x7f, 2, 0x80, 2), "opus", KindAudio},
		{0x06, []byte{0x0a, 4, 'e', 'n', 'g', 0, tagAC3, 1, 0}, "ac3", KindAudio},
		{0x06, []byte{tagEAC3, 0}, "eac3", KindAudio},
		{0x06, reg("KLVA"), "klv", KindData},
		{0x06, []byte{tagSubtitling, 0}, "dvb_subtitle", KindData},
		{0x06, nil, "private", KindData},
		{0x06, reg("XYZW"), "private", KindData},
		{0x06, []byte{tagAC3, 9}, "private", KindData},                    // length past the end
		{0x06, []byte{tagRegistration, 2, 'O', 'p'}, "private", KindData}, // short registration
		{0xea, nil, "0xea", KindData},
		{0x00, nil, "0x00", KindData},
	}
	for _, tc := range tests {
		codec, kind := codecOf(tc.streamType, tc.desc)
		if codec != tc.codec || kind != tc.kind {
			t.Errorf("codecOf(%#02x, % x) = %q, %q; want %q, %q", tc.streamType, tc.desc, codec, kind, tc.codec, tc.kind)
		}
	}
}
