package mpegts

import (
	"bytes"
	"fmt"
)

// Format is what a publisher sends.
type Format int

const (
	FormatUnknown Format = iota // not decided yet; "auto" in configuration
	FormatTS                    // MPEG transport stream
	FormatRaw                   // anything else, relayed as opaque bytes
)

// String returns "unknown", "ts" or "raw".
func (f Format) String() string {
	switch f {
	case FormatUnknown:
		return "unknown"
	case FormatTS:
		return "ts"
	case FormatRaw:
		return "raw"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat parses a configured format: "auto" (detect it, FormatUnknown),
// "ts" or "raw".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "auto":
		return FormatUnknown, nil
	case "ts":
		return FormatTS, nil
	case "raw":
		return FormatRaw, nil
	}
	return FormatUnknown, fmt.Errorf("format %q: allowed values are auto, ts and raw", s)
}

// DetectWindow is how many bytes Detect needs before it gives up on finding a
// transport stream.
const DetectWindow = 16 << 10

// detectRun is how many sync bytes, PacketSize apart, make Detect say FormatTS.
const detectRun = 5

// Detect looks at the first bytes of a stream, at most DetectWindow of them.
// It returns FormatTS when they hold 5 sync bytes PacketSize apart, starting
// anywhere; FormatRaw when len(p) >= DetectWindow without that; otherwise
// FormatUnknown, meaning call again with more bytes.
func Detect(p []byte) Format {
	w := p[:min(len(p), DetectWindow)]
	end := len(w) - (detectRun-1)*PacketSize // a run must start before end
	for j := 0; j < end; j++ {
		k := bytes.IndexByte(w[j:end], SyncByte)
		if k < 0 {
			break
		}
		j += k
		if syncRun(w[j:], detectRun) {
			return FormatTS
		}
	}
	if len(p) >= DetectWindow {
		return FormatRaw
	}
	return FormatUnknown
}
