package stream

import (
	"errors"
	"strconv"
)

// Exact readers serve reliable relay links.
//
// Stream offsets are monotonic for the life of a Stream: byte n of the
// stream is the n-th byte ever appended, whatever publisher sent it. A
// Stream is named by its ring ID, unique within the process and different
// after a restart, so that a downstream node can tell "the same ring,
// resume at offset n" from "a new ring, offsets start again".
//
// An exact reader gets the stream's bytes one after another from an offset:
// no PAT/PMT prefix, no placement at a keyframe, no re-placing when a new
// publisher starts, and no skipping. If it falls out of the ring it ends
// with ErrFellBehind; its link reconnects at its offset and learns from
// NewReaderAt where the ring now starts (the bytes in between are lost).

// ErrFellBehind ends an exact reader that fell out of the ring.
var ErrFellBehind = errors.New("reader fell out of the ring: the bytes it needs next are gone")

// RingID names the stream's ring: offsets from one ring mean nothing in
// another.
func (s *Stream) RingID() string { return s.ringID }

// ringID returns a name for a new stream's ring: its creation time and a
// counter of the hub, so that two rings of one process, or of a process
// and its restart, never share a name.
func (h *Hub) ringID(created int64) string {
	h.rings++
	return strconv.FormatInt(created, 36) + "-" + strconv.FormatUint(h.rings, 36)
}

// NewReaderAt adds an exact reader (see above). With ring equal to the
// stream's RingID and off within the ring it starts at off; with ring ""
// off is taken as an offset of this ring. An off before the oldest byte
// held, or a ring that is not this one, starts at the oldest byte held; an
// off past the newest byte starts at the live edge. A negative off starts
// where a new viewer would (the newest usable keyframe, or the live edge),
// after the PAT/PMT of that moment (PrefixLen bytes, not part of the
// stream's offsets). It returns the offset of the first byte from the ring
// the reader will get.
func (s *Stream) NewReaderAt(info ReaderInfo, ring string, off int64) (*Reader, int64, error) {
	r, n, err := s.newReaderAt(info, ring, off)
	if err == nil && n == 1 {
		s.hub.demand(s.name)
	}
	return r, r.offset(), err
}

func (s *Stream) newReaderAt(info ReaderInfo, ring string, off int64) (*Reader, int, error) {
	r := &Reader{s: s, info: info, exact: true, created: s.now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, ErrClosed
	}
	rg := s.ring
	oldest := rg.off
	if rg.head > rg.tail {
		oldest = rg.at(rg.tail).off
	}
	switch {
	case off < 0:
		r.placeLocked(false)
		if r.waitKey {
			r.moveLocked(rg.head, 0, rg.off)
		}
		r.psi = s.ts.psi
	case ring != "" && ring != s.ringID, off <= oldest:
		r.moveLocked(rg.tail, 0, oldest)
	case off >= rg.off:
		r.moveLocked(rg.head, 0, rg.off)
	default:
		seq := rg.head - 1
		for rg.at(seq).off > off {
			seq--
		}
		r.moveLocked(seq, int(off-rg.at(seq).off), off)
	}
	r.epoch, r.waitKey, r.needPSI = s.ts.epoch, false, r.psi != nil
	r.placePathLocked()
	s.readers[r] = struct{}{}
	return r, len(s.readers), nil
}

// PrefixLen returns the length of the PAT/PMT an exact reader placed at a
// negative offset gets first (0 for other readers).
func (r *Reader) PrefixLen() int { return len(r.psi) }

// offset returns the stream offset of the reader's next byte.
func (r *Reader) offset() int64 {
	if r == nil {
		return 0
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.off
}
