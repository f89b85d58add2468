package websocket

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// serve starts an HTTP server on 127.0.0.1:0 whose handler upgrades with
// protocols and hands the connection to fn. The connection has a 10 s
// deadline so a broken test cannot hang, and cleanup waits for every fn.
func serve(t *testing.T, protocols []string, fn func(conn net.Conn, br *bufio.Reader)) *httptest.Server {
	t.Helper()
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		conn, br, err := Upgrade(w, r, protocols)
		if err != nil {
			return // the handshake tests check the response
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fn(conn, br)
	}))
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return srv
}

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

const rfcKey = "dGhlIHNhbXBsZSBub25jZQ==" // the example key of RFC 6455 section 1.3

// rawDial connects to srv over plain TCP, sends a valid opening handshake
// followed by early, checks the 101 response and returns the connection and
// a reader positioned after the response.
func rawDial(t *testing.T, srv *httptest.Server, early []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /live HTTP/1.1\r\nHost: tsstream\r\nConnection: keep-alive, Upgrade\r\n" +
		"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + rfcKey + "\r\n\r\n"
	if _, err := conn.Write(append([]byte(req), early...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake status %d, want 101", resp.StatusCode)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	return conn, br
}

// clientFrame builds a masked client frame with first byte b0.
func clientFrame(b0 byte, payload []byte) []byte {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	out := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = binary.BigEndian.AppendUint16(append(out, 0x80|126), uint16(n))
	default:
		out = binary.BigEndian.AppendUint64(append(out, 0x80|127), uint64(n))
	}
	out = append(out, mask[:]...)
	for i, c := range payload {
		out = append(out, c^mask[i%4])
	}
	return out
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// result is what a server-side read loop saw.
type result struct {
	frames   []Frame // payloads copied
	err      error
	consumed int64 // bytes read from the source, where counted
}

// readAll reads frames until an error, answers a *CloseError or a close
// frame with a close frame as the relay would, and returns what it saw.
func readAll(conn net.Conn, rd *Reader) result {
	var res result
	for {
		f, err := rd.Next()
		if err != nil {
			res.err = err
			var ce *CloseError
			if errors.As(err, &ce) {
				conn.Write(AppendClose(nil, ce.Code, ce.Reason))
			}
			break
		}
		f.Payload = bytes.Clone(f.Payload)
		res.frames = append(res.frames, f)
		if f.Op == OpClose {
			code, reason := ParseClose(f.Payload)
			conn.Write(AppendClose(nil, code, reason))
			break
		}
	}
	return res
}
