package websocket

import (
	"encoding/binary"
	"fmt"
	"io"
)

// DefaultMaxMessage is the data message limit of a Reader whose MaxMessage
// is zero. Viewers have nothing large to say to a relay.
const DefaultMaxMessage = 64 << 10

// CloseError is a protocol violation by the peer. Code is the close code to
// answer with (CloseProtocolError or CloseTooBig) and Reason says what was
// wrong; it is short enough to send back with AppendClose as is.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("websocket: %s (close code %d)", e.Reason, e.Code)
}

func protocolError(format string, args ...any) *CloseError {
	return &CloseError{Code: CloseProtocolError, Reason: fmt.Sprintf(format, args...)}
}

// Frame is one frame read by Reader.
type Frame struct {
	Op Opcode
	// Fin is set on the last frame of a message, and on every control frame.
	Fin bool
	// Payload is the unmasked payload of a control frame. It is nil for
	// data frames, whose payload is discarded, and is valid only until the
	// next call to Next.
	Payload []byte
	// Len is the payload length on the wire.
	Len int64
}

// discarder is implemented by *bufio.Reader; when the source has it, data
// payloads are skipped inside its buffer instead of being copied out.
type discarder interface {
	Discard(n int) (int, error)
}

// Reader reads the frames a client sends. It requires the mask bit; rejects
// reserved bits, unknown opcodes, control frames longer than 125 bytes or
// fragmented, a continuation without a started message, a new data message
// before the previous one finished, non-minimal length encodings, 64-bit
// lengths with the top bit set, close frames with a 1-byte payload or a code
// that must not be sent; and data messages longer than MaxMessage
// (CloseTooBig), which it detects from the header before reading the payload.
//
// Payloads of data frames are discarded as they are read, never buffered;
// control payloads are unmasked into a fixed buffer inside the Reader. Next
// does not allocate except to report an error.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	// MaxMessage is the largest data message, summed over its fragments,
	// that Next accepts. Zero or negative means DefaultMaxMessage.
	MaxMessage int64

	src  io.Reader
	skip discarder // src as a discarder, or nil

	err       error // first error returned by Next; returned again after
	inMessage bool  // a fragmented data message is in progress
	msgLen    int64 // payload bytes of the message in progress so far

	hdr [14]byte                // 2 fixed bytes, up to 8 of length, 4 of mask
	ctl [maxControlPayload]byte // control payloads; scratch for discarding
}

// NewReader returns a Reader of the frames in r, which is typically the
// *bufio.Reader returned by Upgrade.
func NewReader(r io.Reader) *Reader {
	rd := &Reader{src: r}
	rd.skip, _ = r.(discarder)
	return rd
}

// Next reads the next frame. Data frames come back with their payload
// already discarded; control frames with their payload unmasked.
//
// It returns a *CloseError when the peer breaks the protocol, io.EOF when
// the stream ends cleanly between frames, io.ErrUnexpectedEOF when it ends
// inside one, and other errors from the underlying reader as they are.
// After an error, every later call returns the same error.
func (r *Reader) Next() (Frame, error) {
	if r.err != nil {
		return Frame{}, r.err
	}
	f, err := r.next()
	if err != nil {
		r.err = err
		return Frame{}, err
	}
	return f, nil
}

func (r *Reader) next() (Frame, error) {
	if _, err := io.ReadFull(r.src, r.hdr[:2]); err != nil {
		return Frame{}, err
	}
	b0, b1 := r.hdr[0], r.hdr[1]
	fin := b0&0x80 != 0
	op := Opcode(b0 & 0x0f)
	n := int64(b1 & 0x7f)

	// Everything decidable from the first two bytes is checked before
	// reading more, so a bad frame is rejected without waiting for the rest.
	if rsv := b0 & 0x70; rsv != 0 {
		return Frame{}, protocolError("reserved bits %#02x set; no extension was negotiated", rsv)
	}
	if b1&0x80 == 0 {
		return Frame{}, protocolError("%v frame from the client is not masked", op)
	}
	switch op {
	case OpClose, OpPing, OpPong:
		if !fin {
			return Frame{}, protocolError("fragmented %v frame; control frames must have FIN set", op)
		}
		if n > maxControlPayload {
			return Frame{}, protocolError("%v frame longer than %d bytes", op, maxControlPayload)
		}
	case OpContinuation:
		if !r.inMessage {
			return Frame{}, protocolError("continuation frame with no message to continue")
		}
	case OpText, OpBinary:
		if r.inMessage {
			return Frame{}, protocolError("%v frame starts a message before the previous one finished", op)
		}
	default:
		return Frame{}, protocolError("unknown opcode %d", byte(op))
	}

	ext := 0
	switch n {
	case 126:
		ext = 2
	case 127:
		ext = 8
	}
	if _, err := io.ReadFull(r.src, r.hdr[2:2+ext+4]); err != nil {
		return Frame{}, unexpected(err)
	}
	switch ext {
	case 2:
		if n = int64(binary.BigEndian.Uint16(r.hdr[2:])); n <= maxControlPayload {
			return Frame{}, protocolError("length %d sent in 2 bytes; it fits in the first", n)
		}
	case 8:
		u := binary.BigEndian.Uint64(r.hdr[2:])
		if u>>63 != 0 {
			return Frame{}, protocolError("64-bit payload length has its top bit set")
		}
		if n = int64(u); n <= 0xffff {
			return Frame{}, protocolError("length %d sent in 8 bytes; it fits in 2", n)
		}
	}
	mask := r.hdr[2+ext : 2+ext+4]

	f := Frame{Op: op, Fin: fin, Len: n}
	if op.IsControl() {
		p := r.ctl[:n]
		if _, err := io.ReadFull(r.src, p); err != nil {
			return Frame{}, unexpected(err)
		}
		for i := range p {
			p[i] ^= mask[i&3]
		}
		if op == OpClose && len(p) > 0 {
			if len(p) == 1 {
				return Frame{}, protocolError("close frame with a 1-byte payload; a code takes 2")
			}
			if code, _ := ParseClose(p); !validCloseCode(code) {
				return Frame{}, protocolError("close code %d must not be sent", code)
			}
		}
		f.Payload = p
		return f, nil
	}

	limit := r.MaxMessage
	if limit <= 0 {
		limit = DefaultMaxMessage
	}
	if n > limit-r.msgLen {
		return Frame{}, &CloseError{Code: CloseTooBig,
			Reason: fmt.Sprintf("message longer than %d bytes", limit)}
	}
	if err := r.discard(n); err != nil {
		return Frame{}, err
	}
	if fin {
		r.inMessage, r.msgLen = false, 0
	} else {
		r.inMessage, r.msgLen = true, r.msgLen+n
	}
	return f, nil
}

// discard skips n payload bytes of the source.
func (r *Reader) discard(n int64) error {
	for n > 0 {
		var got int
		var err error
		if r.skip != nil {
			got, err = r.skip.Discard(int(min(n, 1<<30)))
		} else {
			got, err = io.ReadFull(r.src, r.ctl[:min(n, int64(len(r.ctl)))])
		}
		n -= int64(got)
		if err != nil {
			return unexpected(err)
		}
	}
	return nil
}

// unexpected turns io.EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
