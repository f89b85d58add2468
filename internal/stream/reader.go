package stream

import (
	"context"
	"sync/atomic"
	"time"
)

// Batch limits: a reader that is behind gets several chunks at once, so it
// catches up with fewer, larger writes.
const (
	maxBatchChunks = 64
	maxBatchBytes  = 256 << 10
)

// ReaderInfo says who reads: the protocol and the remote address.
type ReaderInfo struct {
	Protocol string // ws, http, tcp, …
	Remote   string
}

// Batch is the data a reader gets from one Next call.
type Batch struct {
	// Bufs are chunk payloads in stream order. They are immutable and may
	// be kept, but the slice itself is reused by the next call to Next.
	Bufs [][]byte
	// Len is the total length of Bufs.
	Len int
	// Offset is the stream byte offset of the first byte.
	Offset int64
	// At is when the first chunk was appended (Unix nanoseconds).
	At int64
}

// Reader is one consumer of a stream with its own cursor into the ring.
// Next must be called from one goroutine; the other methods are safe for
// concurrent use.
type Reader struct {
	// Static after construction.
	s    *Stream
	info ReaderInfo
	wake chan struct{} // signalled by append when the reader waits

	// Owned by the goroutine calling Next.
	seq   uint64 // next chunk to read
	off   int64  // stream offset of the next byte expected
	bufs  [maxBatchChunks][]byte
	skips []time.Time // recent skips, for the disconnect policy

	sent   atomic.Int64
	closed atomic.Bool
}

// NewReader adds a reader that starts at the newest key chunk, or at the
// live edge when the ring holds none.
func (s *Stream) NewReader(info ReaderInfo) (*Reader, error) {
	r := &Reader{s: s, info: info, wake: make(chan struct{}, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	r.seq = s.ring.startSeq()
	r.off = s.ring.offsetOf(r.seq)
	s.readers[r] = struct{}{}
	return r, nil
}

// Stream returns the stream the reader reads.
func (r *Reader) Stream() *Stream { return r.s }

// Info returns who the reader is.
func (r *Reader) Info() ReaderInfo { return r.info }

// Next waits for data and returns the next batch. It returns ErrClosed when
// the stream closes, ErrTooSlow when the reader fell out of the ring too
// often, or ctx's error.
func (r *Reader) Next(ctx context.Context) (Batch, error) {
	s := r.s
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return Batch{}, ErrClosed
		}
		if r.seq < s.ring.tail {
			if err := r.skipLocked(); err != nil {
				s.mu.Unlock()
				return Batch{}, err
			}
		}
		if r.seq < s.ring.head {
			b := r.batchLocked()
			s.mu.Unlock()
			return b, nil
		}
		s.waiters = append(s.waiters, r)
		s.mu.Unlock()
		select {
		case <-r.wake:
		case <-s.ctx.Done():
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		}
	}
}

func (r *Reader) batchLocked() Batch {
	ring := r.s.ring
	c := ring.at(r.seq)
	b := Batch{Bufs: r.bufs[:0], Offset: c.off, At: c.at}
	for r.seq < ring.head && len(b.Bufs) < maxBatchChunks {
		c := ring.at(r.seq)
		if len(b.Bufs) > 0 && b.Len+len(c.data) > maxBatchBytes {
			break
		}
		b.Bufs = append(b.Bufs, c.data)
		b.Len += len(c.data)
		r.seq++
	}
	r.off = b.Offset + int64(b.Len)
	return b
}

// skipLocked moves a reader that fell out of the ring to where a new reader
// would start, counting the skip; too many skips within the window end it.
func (r *Reader) skipLocked() error {
	s := r.s
	r.seq = s.ring.startSeq()
	next := s.ring.offsetOf(r.seq)
	skipped := next - r.off
	r.off = next
	s.skips++
	s.skipBytes += skipped
	now := s.now()
	keep := r.skips[:0]
	for _, t := range r.skips {
		if now.Sub(t) < s.opts.SkipWindow {
			keep = append(keep, t)
		}
	}
	r.skips = append(keep, now)
	s.log.Debug("reader skipped", "protocol", r.info.Protocol, "remote", r.info.Remote, "bytes", skipped)
	if len(r.skips) > s.opts.MaxSkips {
		return ErrTooSlow
	}
	return nil
}

// Sent records n payload bytes delivered to the viewer.
func (r *Reader) Sent(n int) { r.sent.Add(int64(n)) }

// Close removes the reader from the stream, counting reason (a short word
// such as "client closed" or "write timeout") among the stream's cuts.
func (r *Reader) Close(reason string) {
	if r.closed.Swap(true) {
		return
	}
	s := r.s
	s.mu.Lock()
	delete(s.readers, r)
	s.cuts[reason]++
	s.bytesOutOld.Add(r.sent.Load())
	s.mu.Unlock()
	s.releaseIfIdle()
}
