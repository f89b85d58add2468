package websocket

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"unicode/utf8"

	gorilla "github.com/gorilla/websocket"
)

func TestAppendHeader(t *testing.T) {
	tests := []struct {
		op   Opcode
		fin  bool
		n    int
		want []byte
	}{
		{OpBinary, true, 0, []byte{0x82, 0x00}},
		{OpBinary, true, 125, []byte{0x82, 0x7d}},
		{OpBinary, true, 126, []byte{0x82, 0x7e, 0x00, 0x7e}},
		{OpBinary, true, 65535, []byte{0x82, 0x7e, 0xff, 0xff}},
		{OpBinary, true, 65536, []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}},
		{OpBinary, true, 1 << 20, []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 0x10, 0, 0}},
		{OpText, false, 3, []byte{0x01, 0x03}},
		{OpContinuation, true, 300, []byte{0x80, 0x7e, 0x01, 0x2c}},
		{OpPing, true, 4, []byte{0x89, 0x04}},
	}
	for _, tt := range tests {
		got := AppendHeader([]byte{0xee}, tt.op, tt.fin, tt.n)
		if !bytes.Equal(got[1:], tt.want) || got[0] != 0xee {
			t.Errorf("AppendHeader(%v, fin=%v, %d) = % x, want ee % x", tt.op, tt.fin, tt.n, got, tt.want)
		}
		if len(got)-1 > MaxHeaderLen {
			t.Errorf("header of %d bytes exceeds MaxHeaderLen", len(got)-1)
		}
	}
}

func TestAppendClose(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes; a cut at 123 would split a character
	tests := []struct {
		name       string
		code       int
		reason     string
		wantLen    int
		wantReason string
	}{
		{"code and reason", CloseGoingAway, "server shutting down", 22, "server shutting down"},
		{"code only", CloseNormal, "", 2, ""},
		{"cut at a character boundary", ClosePolicy, long, 124, long[:122]},
		{"no status sends an empty payload", CloseNoStatus, "ignored", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := AppendClose(nil, tt.code, tt.reason)
			if frame[0] != 0x88 || int(frame[1]) != tt.wantLen || len(frame) != 2+tt.wantLen {
				t.Fatalf("frame % x: want header 88 %02x and %d payload bytes", frame, tt.wantLen, tt.wantLen)
			}
			code, reason := ParseClose(frame[2:])
			wantCode := tt.code
			if tt.wantLen == 0 {
				wantCode = CloseNoStatus
			}
			if code != wantCode || reason != tt.wantReason || !utf8.ValidString(reason) {
				t.Errorf("ParseClose = %d, %q; want %d, %q", code, reason, wantCode, tt.wantReason)
			}
		})
	}
}

func TestAppendFrameRejectsLongControl(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("AppendFrame of a 126-byte ping did not panic")
		}
	}()
	AppendFrame(nil, OpPing, make([]byte, 126))
}

// TestServerFramesToGorilla writes frames the way the relay does, header
// from AppendHeader plus shared payload in one writev, and reads them with a
// real client.
func TestServerFramesToGorilla(t *testing.T) {
	sizes := []int{0, 125, 126, 65535, 65536, 1 << 20}
	payload := func(size int) []byte {
		p := make([]byte, size)
		for i := range p {
			p[i] = byte(i*7 + size)
		}
		return p
	}
	srv := serve(t, nil, func(conn net.Conn, _ *bufio.Reader) {
		hdr := make([]byte, 0, MaxHeaderLen)
		for _, size := range sizes {
			hdr = AppendHeader(hdr[:0], OpBinary, true, size)
			bufs := net.Buffers{hdr, payload(size)}
			if _, err := bufs.WriteTo(conn); err != nil {
				t.Errorf("writing %d-byte frame: %v", size, err)
				return
			}
		}
		// A fragmented text message with a ping between the fragments.
		var b []byte
		b = append(AppendHeader(b, OpText, false, 5), "hello"...)
		b = AppendPong(AppendFrame(b, OpPing, []byte("p")), nil)
		b = append(AppendHeader(b, OpContinuation, true, 6), " world"...)
		b = AppendClose(b, CloseGoingAway, "bye")
		if _, err := conn.Write(b); err != nil {
			t.Errorf("writing fragments: %v", err)
		}
	})

	c, _, err := gorilla.DefaultDialer.Dial(wsURL(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var pings []string
	c.SetPingHandler(func(s string) error { pings = append(pings, s); return nil })
	for _, size := range sizes {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("reading %d-byte message: %v", size, err)
		}
		if typ != gorilla.BinaryMessage || !bytes.Equal(msg, payload(size)) {
			t.Fatalf("message type %d of %d bytes, want binary %d bytes of the pattern", typ, len(msg), size)
		}
	}
	typ, msg, err := c.ReadMessage()
	if err != nil || typ != gorilla.TextMessage || string(msg) != "hello world" {
		t.Fatalf("fragmented message = %d %q %v, want text \"hello world\"", typ, msg, err)
	}
	if len(pings) != 1 || pings[0] != "p" {
		t.Errorf("pings seen %q, want [\"p\"]", pings)
	}
	_, _, err = c.ReadMessage()
	var ce *gorilla.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseGoingAway || ce.Text != "bye" {
		t.Errorf("after close frame got %v, want close 1001 \"bye\"", err)
	}
}

func TestAppendAllocs(t *testing.T) {
	buf := make([]byte, 0, MaxHeaderLen+maxControlPayload)
	payload := []byte("ping")
	tests := []struct {
		name string
		fn   func()
	}{
		{"AppendHeader", func() { buf = AppendHeader(buf[:0], OpBinary, true, 1<<20) }},
		{"AppendFrame", func() { buf = AppendFrame(buf[:0], OpPong, payload) }},
		{"AppendClose", func() { buf = AppendClose(buf[:0], CloseGoingAway, "shutting down") }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", tt.name, n)
		}
	}
}

func BenchmarkAppendHeader(b *testing.B) {
	buf := make([]byte, 0, MaxHeaderLen)
	for i := 0; b.Loop(); i++ {
		buf = AppendHeader(buf[:0], OpBinary, true, 188*(i&1023))
	}
}
