package websocket

/*
Frame wire format (RFC 6455 section 5.2). Multi-byte integers are big-endian.

	byte 0     bit 7     FIN: this is the last frame of the message
	           bits 6-4  RSV1-RSV3: reserved for extensions; must be 0 here
	           bits 3-0  opcode: 0 continuation, 1 text, 2 binary,
	                     8 close, 9 ping, 10 pong; 3-7 and 11-15 are reserved
	byte 1     bit 7     MASK: set on every client frame, clear on every
	                     server frame
	           bits 6-0  payload length L: 0-125 is the length itself;
	                     126 means the next 2 bytes hold it (126-65535);
	                     127 means the next 8 bytes hold it (65536-2^63-1,
	                     top bit 0). The shortest form must be used.
	next 0, 2 or 8 bytes    extended payload length, as above
	next 4 bytes            masking key, present only when MASK is set
	then L bytes            payload; if masked, byte i is XORed with key[i%4]

Control frames (opcode 8 and up) carry at most 125 payload bytes and are
never fragmented; they may arrive between the fragments of a data message.
A close payload is empty, or a 2-byte status code followed by a UTF-8 reason.

A server frame is therefore 2 bytes of header (payload up to 125 bytes), 4
(up to 65535) or 10 (MaxHeaderLen), followed by the payload as is.
*/

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Opcode is the 4-bit frame type in the first header byte.
type Opcode byte

// The opcodes RFC 6455 defines.
const (
	OpContinuation Opcode = 0
	OpText         Opcode = 1
	OpBinary       Opcode = 2
	OpClose        Opcode = 8
	OpPing         Opcode = 9
	OpPong         Opcode = 10
)

// IsControl reports whether op is a control opcode (close, ping, pong or a
// reserved control value).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("opcode(%d)", byte(op))
}

// Close status codes (RFC 6455 section 7.4.1).
const (
	CloseNormal        = 1000
	CloseGoingAway     = 1001
	CloseProtocolError = 1002
	CloseUnsupported   = 1003
	// CloseNoStatus is what ParseClose reports for a close frame without a
	// code. It must never be sent; AppendClose sends an empty payload for it.
	CloseNoStatus = 1005
	ClosePolicy   = 1008
	CloseTooBig   = 1009
	CloseInternal = 1011
)

// MaxHeaderLen is the longest server frame header AppendHeader produces.
const MaxHeaderLen = 10

// maxControlPayload is the payload limit of close, ping and pong frames.
const maxControlPayload = 125

// AppendHeader appends the header of an unmasked server frame carrying n
// payload bytes (FIN set when fin) and returns the extended slice. The
// caller sends the n payload bytes right after it. It does not allocate when
// dst has MaxHeaderLen bytes of spare capacity. It panics if n is negative.
func AppendHeader(dst []byte, op Opcode, fin bool, n int) []byte {
	b0 := byte(op) & 0x0f
	if fin {
		b0 |= 0x80
	}
	switch {
	case n < 0:
		panic(fmt.Sprintf("websocket: AppendHeader with negative length %d", n))
	case n <= maxControlPayload:
		return append(dst, b0, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, b0, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, b0, 127), uint64(n))
	}
}

// AppendFrame appends a whole unfragmented server frame: header and payload.
// It is meant for small control frames and panics if op is a control opcode
// and payload is longer than the 125 bytes RFC 6455 allows.
func AppendFrame(dst []byte, op Opcode, payload []byte) []byte {
	if op.IsControl() && len(payload) > maxControlPayload {
		panic(fmt.Sprintf("websocket: %v frame with %d payload bytes; the limit is %d",
			op, len(payload), maxControlPayload))
	}
	return append(AppendHeader(dst, op, true, len(payload)), payload...)
}

// AppendPong appends a pong frame answering a ping with the given payload.
// The payload of a ping returned by Reader always fits.
func AppendPong(dst []byte, payload []byte) []byte {
	return AppendFrame(dst, OpPong, payload)
}

// AppendClose appends a whole close frame with code and reason. The reason
// is cut to fit the 125-byte payload limit (123 bytes after the code),
// at a UTF-8 character boundary. For CloseNoStatus, which must not appear on
// the wire, it appends a close frame with an empty payload.
func AppendClose(dst []byte, code int, reason string) []byte {
	if code == CloseNoStatus {
		return AppendHeader(dst, OpClose, true, 0)
	}
	if limit := maxControlPayload - 2; len(reason) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	dst = AppendHeader(dst, OpClose, true, 2+len(reason))
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}

// ParseClose splits a close frame payload into its status code and reason.
// A payload shorter than 2 bytes carries no code and yields CloseNoStatus.
func ParseClose(payload []byte) (code int, reason string) {
	if len(payload) < 2 {
		return CloseNoStatus, ""
	}
	return int(binary.BigEndian.Uint16(payload)), string(payload[2:])
}

// validCloseCode reports whether a peer may send code in a close frame:
// the codes RFC 6455 and the IANA registry define for the wire (1000-1003,
// 1007-1014) and the ranges left to libraries and applications (3000-4999).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
