package mpegts

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	text := []byte(strings.Repeat("GET / HTTP/1.1 and other plain text, not packets.\n", 400))
	for _, tc := range []struct {
		name string
		in   []byte
		want Format
	}{
		{"empty", nil, FormatUnknown},
		{"ts at 0", packets(5), FormatTS},
		{"ts at 77", slices.Concat(garbage(77, 5), packets(5)), FormatTS},
		{"four sync bytes", packets(4), FormatUnknown},
		{"four sync bytes, window full", slices.Concat(packets(4), garbage(DetectWindow, 6)), FormatRaw},
		{"ts past the window", slices.Concat(garbage(DetectWindow-100, 7), packets(10)), FormatRaw},
		{"short text", text[:1000], FormatUnknown},
		{"text", text, FormatRaw},
		{"random bytes", garbage(DetectWindow, 8, 0, 188, 376, 564), FormatRaw},
		{"random bytes, one short", garbage(DetectWindow-1, 8), FormatUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect(tc.in); got != tc.want {
				t.Fatalf("Detect(%d bytes) = %v, want %v", len(tc.in), got, tc.want)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
	}{{"auto", FormatUnknown}, {"ts", FormatTS}, {"raw", FormatRaw}} {
		if got, err := ParseFormat(tc.in); got != tc.want || err != nil {
			t.Errorf("ParseFormat(%q) = %v, %v; want %v, nil", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "TS", "unknown", "mpegts"} {
		_, err := ParseFormat(in)
		if err == nil || !strings.Contains(err.Error(), "auto, ts and raw") {
			t.Errorf("ParseFormat(%q) error = %v, want one naming auto, ts and raw", in, err)
		}
	}
	for f, want := range map[Format]string{FormatUnknown: "unknown", FormatTS: "ts", FormatRaw: "raw", 7: "Format(7)"} {
		if f.String() != want {
			t.Errorf("Format(%d).String() = %q, want %q", int(f), f.String(), want)
		}
	}
}

// detectSlow is Detect's definition, checked at every offset.
func detectSlow(p []byte) Format {
	w := p[:min(len(p), DetectWindow)]
	for j := 0; j+(detectRun-1)*PacketSize < len(w); j++ {
		if syncRun(w[j:], detectRun) {
			return FormatTS
		}
	}
	if len(p) >= DetectWindow {
		return FormatRaw
	}
	return FormatUnknown
}

func FuzzDetect(f *testing.F) {
	f.Add(packets(5), byte(0))
	f.Add(slices.Concat(garbage(77, 5), packets(4)), byte(0))
	f.Add(packets(1)[:PacketSize-1], byte(100))
	f.Add([]byte("plain text\n"), byte(255))
	f.Fuzz(func(t *testing.T, p []byte, repeat byte) {
		// Repeating p lets short inputs reach DetectWindow.
		if len(p) > 0 {
			p = bytes.Repeat(p, min(int(repeat)+1, 2*DetectWindow/len(p)+1))
		}
		if got, want := Detect(p), detectSlow(p); got != want {
			t.Fatalf("Detect(%d bytes) = %v, want %v", len(p), got, want)
		}
	})
}
