package websocket

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

// FuzzReader feeds arbitrary bytes to Reader.Next until it fails, with the
// default limit and with no practical limit. Seeds beyond these are
// committed under testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	f.Add(cat(clientFrame(0x89, []byte("hi")), clientFrame(0x82, make([]byte, 200)),
		clientFrame(0x88, []byte{0x03, 0xe8, 'o', 'k'})))
	f.Add(cat(clientFrame(0x01, []byte("he")), clientFrame(0x8a, nil), clientFrame(0x80, []byte("llo"))))
	f.Add([]byte{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
	f.Add([]byte{0x82, 0x03, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, limit := range []int64{0, 1 << 62} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			checkStream(t, data, limit)
			runtime.ReadMemStats(&after)
			// Lengths in the input claim up to 2^63-1 bytes; what the Reader
			// allocates must not follow them.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
				t.Fatalf("reading %d input bytes allocated %d bytes", len(data), grew)
			}
		}
	})
}

func checkStream(t *testing.T, data []byte, limit int64) {
	rd := NewReader(bytes.NewReader(data))
	rd.MaxMessage = limit
	var frames int
	var read int64 // lower bound of the bytes the frames so far took
	for {
		f, err := rd.Next()
		if err != nil {
			var ce *CloseError
			switch {
			case errors.As(err, &ce):
				if ce.Code != CloseProtocolError && ce.Code != CloseTooBig {
					t.Fatalf("close code %d", ce.Code)
				}
			case err != io.EOF && err != io.ErrUnexpectedEOF:
				t.Fatalf("unexpected error %v", err)
			}
			if _, again := rd.Next(); again != err {
				t.Fatalf("error %v, then %v", err, again)
			}
			return
		}
		frames++
		read += 6 + f.Len // at least 2 header and 4 mask bytes
		if read > int64(len(data)) {
			t.Fatalf("%d frames claim %d bytes of a %d-byte input", frames, read, len(data))
		}
		if f.Op.IsControl() {
			if int64(len(f.Payload)) != f.Len || f.Len > 125 || !f.Fin {
				t.Fatalf("control frame %+v", f)
			}
		} else if f.Payload != nil {
			t.Fatalf("data frame with a payload: %+v", f)
		}
	}
}
