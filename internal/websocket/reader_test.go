package websocket

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"
)

func TestReaderFromGorilla(t *testing.T) {
	results := make(chan result, 1)
	srv := serve(t, nil, func(conn net.Conn, br *bufio.Reader) { results <- readAll(conn, NewReader(br)) })
	c, _, err := gorilla.DefaultDialer.Dial(wsURL(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	text := bytes.Repeat([]byte("a"), 100)
	if err := c.WriteControl(gorilla.PingMessage, []byte("are you there"), deadline); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(gorilla.TextMessage, text); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(CloseGoingAway, "tab closed"), deadline); err != nil {
		t.Fatal(err)
	}
	res := <-results
	if res.err != nil {
		t.Fatalf("server read error: %v", res.err)
	}
	want := []Frame{
		{Op: OpPing, Fin: true, Payload: []byte("are you there"), Len: 13},
		{Op: OpText, Fin: true, Len: 100},
		{Op: OpClose, Fin: true, Payload: gorilla.FormatCloseMessage(CloseGoingAway, "tab closed"), Len: 12},
	}
	if len(res.frames) != len(want) {
		t.Fatalf("server saw %d frames %+v, want %d", len(res.frames), res.frames, len(want))
	}
	for i, f := range res.frames {
		w := want[i]
		if f.Op != w.Op || f.Fin != w.Fin || f.Len != w.Len || !bytes.Equal(f.Payload, w.Payload) {
			t.Errorf("frame %d = %+v, want %+v", i, f, w)
		}
	}
	if code, reason := ParseClose(res.frames[2].Payload); code != CloseGoingAway || reason != "tab closed" {
		t.Errorf("ParseClose = %d %q, want 1001 \"tab closed\"", code, reason)
	}
	_, _, err = c.ReadMessage()
	var ce *gorilla.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseGoingAway {
		t.Errorf("client got %v, want the close echoed", err)
	}
}

// countingReader counts the bytes read through it. It hides Discard, so the
// Reader takes its copying path.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReaderTooBigFromGorilla(t *testing.T) {
	results := make(chan result, 1)
	srv := serve(t, nil, func(conn net.Conn, br *bufio.Reader) {
		cr := &countingReader{r: br}
		res := readAll(conn, NewReader(cr))
		res.consumed = cr.n
		results <- res
	})
	c, _, err := gorilla.DefaultDialer.Dial(wsURL(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The server stops reading, so this write may block until it closes.
	wrote := make(chan error, 1)
	go func() { wrote <- c.WriteMessage(gorilla.BinaryMessage, make([]byte, 1<<20)) }()
	defer func() { c.Close(); <-wrote }()

	res := <-results
	var ce *CloseError
	if !errors.As(res.err, &ce) || ce.Code != CloseTooBig {
		t.Fatalf("server got %v, want a CloseError with code 1009", res.err)
	}
	// gorilla sends the message as 4 KiB fragments: the Reader must stop at
	// the header of the one that crosses the limit, not read the megabyte.
	if limit := int64(DefaultMaxMessage + 1024); res.consumed > limit {
		t.Errorf("server read %d bytes before rejecting, want at most %d", res.consumed, limit)
	}
	_, _, err = c.ReadMessage()
	var gce *gorilla.CloseError
	if !errors.As(err, &gce) || gce.Code != CloseTooBig {
		t.Errorf("client got %v, want close 1009", err)
	}
}

// TestReaderRawTCP sends hand-made frames over a real connection. The
// client never closes its side, so a Reader that waited for more bytes than
// the verdict needs would hit the deadline instead of returning a CloseError.
func TestReaderRawTCP(t *testing.T) {
	ping126 := []byte{0x89, 0xfe, 0x00, 126, 1, 2, 3, 4}
	ping126 = append(ping126, make([]byte, 126)...)
	tests := []struct {
		name       string
		wantReason string // in the CloseError's reason
		send       []byte
		maxMessage int64
		wantFrames int
		wantCode   int // 0: want io.EOF after the client half-closes
	}{
		{"unmasked", "not masked", []byte{0x82, 0x03, 'a', 'b', 'c'}, 0, 0, CloseProtocolError},
		{"RSV1 set", "reserved bits 0x40", clientFrame(0xc2, []byte("x")), 0, 0, CloseProtocolError},
		{"RSV3 set", "reserved bits 0x10", clientFrame(0x92, nil), 0, 0, CloseProtocolError},
		{"opcode 3", "unknown opcode 3", clientFrame(0x83, nil), 0, 0, CloseProtocolError},
		{"opcode 11", "unknown opcode 11", clientFrame(0x8b, nil), 0, 0, CloseProtocolError},
		{"126-byte ping", "ping frame longer than 125", ping126, 0, 0, CloseProtocolError},
		{"fragmented ping", "fragmented ping", clientFrame(0x09, []byte("p")), 0, 0, CloseProtocolError},
		{"length top bit", "top bit", []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, 0, 0, CloseProtocolError},
		{"length 5 in 2 bytes", "length 5 sent in 2 bytes", []byte{0x82, 0xfe, 0, 5, 1, 2, 3, 4, 0, 0, 0, 0, 0}, 0, 0, CloseProtocolError},
		{"length 300 in 8 bytes", "length 300 sent in 8 bytes", []byte{0x82, 0xff, 0, 0, 0, 0, 0, 0, 1, 0x2c, 1, 2, 3, 4}, 0, 0, CloseProtocolError},
		{"continuation without start", "no message to continue", clientFrame(0x80, []byte("x")), 0, 0, CloseProtocolError},
		{"new message mid-fragment", "before the previous one finished", cat(clientFrame(0x02, []byte("a")), clientFrame(0x82, []byte("b"))), 0, 1, CloseProtocolError},
		{"close with 1 byte", "1-byte payload", clientFrame(0x88, []byte{3}), 0, 0, CloseProtocolError},
		{"close code 1005", "close code 1005", clientFrame(0x88, []byte{0x03, 0xed}), 0, 0, CloseProtocolError},
		{"close code 999", "close code 999", clientFrame(0x88, []byte{0x03, 0xe7}), 0, 0, CloseProtocolError},
		{"one frame claims 1 MiB", "longer than 65536", []byte{0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4}, 0, 0, CloseTooBig},
		{"fragments sum over MaxMessage", "longer than 100", cat(clientFrame(0x02, make([]byte, 60)), clientFrame(0x00, make([]byte, 60))), 100, 1, CloseTooBig},
		{"exactly MaxMessage", "", cat(clientFrame(0x02, make([]byte, 60)), clientFrame(0x80, make([]byte, 40))), 100, 2, 0},
		{"ping between fragments", "", cat(clientFrame(0x01, []byte("he")), clientFrame(0x89, []byte("p")),
			clientFrame(0x80, []byte("llo")), clientFrame(0x8a, nil)), 0, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := make(chan result, 1)
			srv := serve(t, nil, func(conn net.Conn, br *bufio.Reader) {
				rd := NewReader(br)
				rd.MaxMessage = tt.maxMessage
				results <- readAll(conn, rd)
			})
			conn, br := rawDial(t, srv, nil)
			if _, err := conn.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			if tt.wantCode == 0 {
				conn.(*net.TCPConn).CloseWrite()
			}
			res := <-results
			if len(res.frames) != tt.wantFrames {
				t.Errorf("server read %d frames before the error, want %d", len(res.frames), tt.wantFrames)
			}
			if tt.wantCode == 0 {
				if res.err != io.EOF {
					t.Fatalf("server got %v, want io.EOF", res.err)
				}
				return
			}
			var ce *CloseError
			if !errors.As(res.err, &ce) || ce.Code != tt.wantCode {
				t.Fatalf("server got %v, want a CloseError with code %d", res.err, tt.wantCode)
			}
			if !strings.Contains(ce.Reason, tt.wantReason) || len(ce.Reason) > 123 ||
				!strings.Contains(res.err.Error(), ce.Reason) {
				t.Errorf("reason %q: want one naming %q that fits a close frame", ce.Reason, tt.wantReason)
			}
			// The server answered with the code.
			hdr := make([]byte, 2)
			if _, err := io.ReadFull(br, hdr); err != nil || hdr[0] != 0x88 {
				t.Fatalf("client read % x, %v; want a close frame", hdr, err)
			}
			body := make([]byte, hdr[1])
			if _, err := io.ReadFull(br, body); err != nil {
				t.Fatal(err)
			}
			if code, reason := ParseClose(body); code != tt.wantCode || reason != ce.Reason {
				t.Errorf("close frame says %d %q, want %d %q", code, reason, tt.wantCode, ce.Reason)
			}
		})
	}
}

// TestReaderEarlyFrame sends a frame in the same write as the handshake:
// Upgrade must hand back the bytes net/http had already buffered.
func TestReaderEarlyFrame(t *testing.T) {
	results := make(chan result, 1)
	srv := serve(t, nil, func(conn net.Conn, br *bufio.Reader) { results <- readAll(conn, NewReader(br)) })
	rawDial(t, srv, clientFrame(0x88, []byte{0x03, 0xe8, 'o', 'k'}))
	res := <-results
	if len(res.frames) != 1 || res.frames[0].Op != OpClose || string(res.frames[0].Payload[2:]) != "ok" {
		t.Fatalf("server saw %+v, %v; want the early close frame", res.frames, res.err)
	}
}

func TestReaderSticky(t *testing.T) {
	rd := NewReader(bytes.NewReader(cat(clientFrame(0x83, nil), clientFrame(0x82, nil))))
	_, err1 := rd.Next()
	_, err2 := rd.Next()
	if err1 == nil || err2 != err1 {
		t.Errorf("errors %v then %v, want the same CloseError twice", err1, err2)
	}
}

// frameStream returns n small masked frames, binary and ping alternating.
func frameStream(n int) []byte {
	var b []byte
	for i := range n {
		if i%2 == 0 {
			b = append(b, clientFrame(0x82, bytes.Repeat([]byte{byte(i)}, 188))...)
		} else {
			b = append(b, clientFrame(0x89, []byte("ping"))...)
		}
	}
	return b
}

func TestReaderAllocs(t *testing.T) {
	const runs = 1000
	stream := frameStream(runs + 1) // AllocsPerRun adds a warm-up call
	sources := map[string]func() io.Reader{
		"bytes.Reader": func() io.Reader { return bytes.NewReader(stream) },
		"bufio.Reader": func() io.Reader { return bufio.NewReader(bytes.NewReader(stream)) },
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			rd := NewReader(src())
			var err error
			allocs := testing.AllocsPerRun(runs, func() {
				if _, e := rd.Next(); e != nil && err == nil {
					err = e
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if allocs != 0 {
				t.Errorf("Next allocates %v times per frame, want 0", allocs)
			}
		})
	}
}

func BenchmarkReaderNext(b *testing.B) {
	stream := frameStream(1024)
	src := bytes.NewReader(stream)
	rd := NewReader(bufio.NewReader(src))
	b.SetBytes(int64(len(stream) / 1024))
	for b.Loop() {
		if _, err := rd.Next(); err != nil {
			src.Reset(stream)
			rd = NewReader(bufio.NewReader(src))
		}
	}
}
