package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// A minimal WebSocket client (RFC 6455), just enough to read a stream: one
// GET upgrade with a fixed key, then unmasked server frames parsed in place
// from the read buffer. The client never sends a frame, so nothing is ever
// masked.

// wsKey is the Sec-WebSocket-Key of every viewer: the RFC's sample nonce.
const wsKey = "dGhlIHNhbXBsZSBub25jZQ=="

var wsAccept = func() string {
	sum := sha1.Sum([]byte(wsKey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}()

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
)

// errServerClosed is returned by feed after a close frame.
var errServerClosed = errors.New("server sent a close frame")

// wsDial connects to ws://addr+path and completes the opening handshake,
// reading the response into buf. It returns the bytes of buf that followed
// the response (the start of the first frames).
func wsDial(addr, path string, buf []byte, timeout time.Duration) (net.Conn, []byte, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, nil, err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + wsKey +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	n := 0
	for {
		if n == len(buf) {
			conn.Close()
			return nil, nil, fmt.Errorf("handshake response longer than %d bytes", len(buf))
		}
		m, err := conn.Read(buf[n:])
		n += m
		if end := bytes.Index(buf[:n], []byte("\r\n\r\n")); end >= 0 {
			if err := checkResponse(string(buf[:end])); err != nil {
				conn.Close()
				return nil, nil, err
			}
			conn.SetDeadline(time.Time{})
			return conn, buf[end+4 : n], nil
		}
		if err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("reading the handshake response: %w", err)
		}
	}
}

// checkResponse checks the status line and the accept key of a 101.
func checkResponse(head string) error {
	lines := strings.Split(head, "\r\n")
	if !strings.HasPrefix(lines[0], "HTTP/1.1 101 ") {
		return fmt.Errorf("handshake refused: %q", lines[0])
	}
	for _, l := range lines[1:] {
		name, val, _ := strings.Cut(l, ":")
		if strings.EqualFold(name, "Sec-WebSocket-Accept") {
			if strings.TrimSpace(val) != wsAccept {
				return fmt.Errorf("Sec-WebSocket-Accept %q, want %q", val, wsAccept)
			}
			return nil
		}
	}
	return errors.New("handshake response has no Sec-WebSocket-Accept")
}

// wsFrames parses a stream of server frames across reads. State kept
// between reads: a partial header, or how much of a payload is left.
type wsFrames struct {
	hdr    [14]byte
	hn     int   // header bytes held
	remain int64 // payload bytes left in the current frame; -1 in a header
	op     byte  // opcode of the current frame; continuations take msg's
	msg    byte  // opcode of the current data message
	close  [2]byte
	closeN int
	code   int // close code received, 0 if none yet
}

// feed parses p and hands the data payload to data. It returns
// errServerClosed after a close frame, or an error for a frame no server
// may send.
func (w *wsFrames) feed(p []byte, data func([]byte)) error {
	for len(p) > 0 {
		if w.remain <= 0 {
			var err error
			if p, err = w.header(p); err != nil {
				return err
			}
			if w.remain < 0 {
				return nil // header incomplete: wait for more
			}
			if w.remain == 0 && w.op == opClose {
				w.code = 1005
				return errServerClosed
			}
			continue
		}
		n := int(min(int64(len(p)), w.remain))
		switch w.op {
		case opBinary, opText, opContinuation:
			data(p[:n])
		case opClose:
			w.closeN += copy(w.close[w.closeN:], p[:n])
		}
		p, w.remain = p[n:], w.remain-int64(n)
		if w.remain == 0 && w.op == opClose {
			w.code = int(w.close[0])<<8 | int(w.close[1])
			return errServerClosed
		}
	}
	return nil
}

// header consumes header bytes from p. On return w.remain is the payload
// length of the frame, or -1 when p ended inside the header.
func (w *wsFrames) header(p []byte) ([]byte, error) {
	need := 2
	for {
		if w.hn >= 2 {
			need = 2
			switch w.hdr[1] & 0x7F {
			case 126:
				need += 2
			case 127:
				need += 8
			}
			if w.hdr[1]&0x80 != 0 {
				return p, errors.New("server sent a masked frame")
			}
		}
		if w.hn == need {
			break
		}
		if len(p) == 0 {
			w.remain = -1
			return p, nil
		}
		w.hdr[w.hn] = p[0]
		w.hn++
		p = p[1:]
	}
	h := w.hdr[:w.hn]
	w.hn = 0
	switch n := h[1] & 0x7F; n {
	case 126:
		w.remain = int64(h[2])<<8 | int64(h[3])
	case 127:
		w.remain = 0
		for _, b := range h[2:10] {
			w.remain = w.remain<<8 | int64(b)
		}
	default:
		w.remain = int64(n)
	}
	switch op := h[0] & 0x0F; {
	case op == opContinuation:
		w.op = w.msg
	case op >= 0x8:
		w.op = op // ping, pong: payload skipped; close: kept
	case op == opBinary || op == opText:
		w.op, w.msg = op, op
	default:
		return p, fmt.Errorf("server sent reserved opcode %#x", op)
	}
	return p, nil
}
