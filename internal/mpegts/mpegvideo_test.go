package mpegts

import "testing"

func TestSequenceHeader(t *testing.T) {
	tests := []struct {
		name string
		hdr  []byte // after 00 00 01 B3
		ext  []byte // after 00 00 01 B5, or nil
		want videoSize
		ok   bool
	}{
		// ffmpeg's mpeg1video at 320x240, 25 fps.
		{"mpeg1", []byte{0x14, 0x00, 0xf0, 0x13, 0xff, 0xff}, nil, videoSize{320, 240, 25}, true},
		{"29.97", []byte{0x2c, 0x01, 0x20, 0x14}, nil, videoSize{704, 288, 30000.0 / 1001}, true},
		{"reserved frame_rate_code", []byte{0x14, 0x00, 0xf0, 0x1f}, nil, videoSize{320, 240, 0}, true},
		{"zero size", []byte{0, 0, 0, 0x13}, nil, videoSize{0, 0, 25}, false},
		{"short", []byte{0x14, 0x00, 0xf0}, nil, videoSize{}, false},
		// Sequence extension: id 1, profile/level 0x48, progressive, 4:2:0,
		// size extensions 1 and 1 (+4096 each), frame rate (1+1)/(0+1).
		{"mpeg2 extension", []byte{0x14, 0x00, 0xf0, 0x13}, []byte{0x14, 0x8a, 0xa0, 0x01, 0x00, 0x20},
			videoSize{320 + 4096, 240 + 4096, 50}, true},
		{"other extension", []byte{0x14, 0x00, 0xf0, 0x13}, []byte{0x2f, 0xff, 0xff, 0xff, 0xff, 0xff}, videoSize{320, 240, 25}, true},
		{"short extension", []byte{0x14, 0x00, 0xf0, 0x13}, []byte{0x14, 0x8a}, videoSize{320, 240, 25}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := parseSequenceHeader(tc.hdr)
			if ok && tc.ext != nil {
				v, _ = applySequenceExtension(v, tc.ext)
			}
			if ok != tc.ok || ok && v != tc.want {
				t.Errorf("got %+v, %v; want %+v, %v", v, ok, tc.want, tc.ok)
			}
		})
	}
}
