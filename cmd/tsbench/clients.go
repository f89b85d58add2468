package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// The HTTP-TS and TCP viewers, beside the WebSocket one in wsclient.go: an
// HTTP/1.1 GET of /live/live.ts whose chunked body is parsed in place, and
// a plain TCP connection to a play listener that carries TS as it is.

// slowReadBuffer is the read size of a slow viewer, small so that its pace
// is smooth.
const slowReadBuffer = 4 << 10

// errEndOfBody is returned by httpChunks.feed after the last chunk.
var errEndOfBody = errors.New("server ended the chunked body")

// dialProto connects a viewer of t and returns the bytes read past the
// protocol's handshake.
func dialProto(t target, buf []byte, timeout time.Duration) (net.Conn, []byte, error) {
	switch t.proto {
	case "ws":
		return wsDial(t.addr, "/ws/live", buf, timeout)
	case "http":
		return httpDial(t.addr, "/live/live.ts", buf, timeout)
	case "tcp":
		conn, err := net.DialTimeout("tcp", t.addr, timeout)
		return conn, nil, err
	}
	return nil, nil, fmt.Errorf("protocol %q: want ws, http or tcp", t.proto)
}

// httpDial sends the GET and reads the response head into buf.
func httpDial(addr, path string, buf []byte, timeout time.Duration) (net.Conn, []byte, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, nil, err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	n := 0
	for n < len(buf) {
		m, err := conn.Read(buf[n:])
		n += m
		if end := bytes.Index(buf[:n], []byte("\r\n\r\n")); end >= 0 {
			head := string(buf[:end])
			if !strings.HasPrefix(head, "HTTP/1.1 200 ") || !strings.Contains(strings.ToLower(head), "transfer-encoding: chunked") {
				conn.Close()
				return nil, nil, fmt.Errorf("GET %s: want a chunked 200, got %q", path, head)
			}
			conn.SetDeadline(time.Time{})
			return conn, buf[end+4 : n], nil
		}
		if err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("reading the response head: %w", err)
		}
	}
	conn.Close()
	return nil, nil, fmt.Errorf("response head longer than %d bytes", len(buf))
}

// httpChunks parses a chunked body across reads: a size line, that many
// bytes, CRLF.
type httpChunks struct {
	line   [32]byte
	ln     int
	remain int64 // data bytes left in this chunk
	crlf   int   // bytes of the CRLF after the data still to skip
}

func (c *httpChunks) feed(p []byte, data func([]byte)) error {
	for len(p) > 0 {
		switch {
		case c.remain > 0:
			n := int(min(int64(len(p)), c.remain))
			data(p[:n])
			p, c.remain = p[n:], c.remain-int64(n)
			if c.remain == 0 {
				c.crlf = 2
			}
		case c.crlf > 0:
			p, c.crlf = p[1:], c.crlf-1
		default:
			b := p[0]
			p = p[1:]
			if b != '\n' {
				if c.ln == len(c.line) {
					return errors.New("chunk size line too long")
				}
				c.line[c.ln], c.ln = b, c.ln+1
				continue
			}
			size, err := chunkSize(c.line[:c.ln])
			c.ln = 0
			if err != nil {
				return err
			}
			if size == 0 {
				return errEndOfBody
			}
			c.remain = size
		}
	}
	return nil
}

// chunkSize parses the hex size of a chunk-size line (CR and extensions
// ignored).
func chunkSize(line []byte) (int64, error) {
	var n int64
	digits := 0
	for _, b := range line {
		var d byte
		switch {
		case b >= '0' && b <= '9':
			d = b - '0'
		case b >= 'a' && b <= 'f':
			d = b - 'a' + 10
		case b >= 'A' && b <= 'F':
			d = b - 'A' + 10
		default:
			if digits == 0 {
				return 0, fmt.Errorf("bad chunk size line %q", line)
			}
			return n, nil
		}
		n, digits = n<<4|int64(d), digits+1
	}
	if digits == 0 || digits > 15 {
		return 0, fmt.Errorf("bad chunk size line %q", line)
	}
	return n, nil
}

// firstFrame finds when a viewer could first show a picture of the
// synthetic stream: after a PAT and a PMT, the first data packet (private
// data), or with -gop (video) the end of the first keyframe: the next PES
// start after a PES that opens with a sequence header.
type firstFrame struct {
	video bool
	psi   uint8 // 1: PAT seen, 2: PMT seen
	key   bool  // inside the first keyframe's PES
	at    time.Duration
	done  bool
}

func (f *firstFrame) packet(pk []byte, now time.Duration) {
	if f.done || pk[0] != 0x47 {
		return
	}
	pid := uint16(pk[1]&0x1F)<<8 | uint16(pk[2])
	switch {
	case pid == pidPAT:
		f.psi |= 1
	case pid == pidPMT && f.psi&1 != 0:
		f.psi |= 2
	case pid != pidVideo || f.psi != 3:
	case !f.video, f.key && pk[1]&0x40 != 0:
		f.at, f.done = now, true
	case pk[1]&0x40 != 0 && bytes.HasPrefix(pk[13:], []byte{0, 0, 1, 0xB3}):
		f.key = true
	}
}
