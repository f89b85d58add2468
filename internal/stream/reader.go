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
	// Relay marks the reader of a relay that was told the data's relay
	// path: it ends with ErrPathChanged before the first byte that came
	// another way (see path.go).
	Relay bool
}

// Batch is the data a reader gets from one Next call.
type Batch struct {
	// Bufs are chunk payloads in stream order. They are immutable and may
	// be kept, but the slice itself is reused by the next call to Next.
	Bufs [][]byte
	// Len is the total length of Bufs.
	Len int
	// Offset is the stream byte offset of the first byte from the ring
	// (a PAT/PMT prefix for a joining reader is not part of the stream).
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

	// Written only by the goroutine calling Next, under the stream's lock
	// (shared when it just takes a batch, exclusive when it is placed);
	// other goroutines read them under the exclusive lock.
	seq      uint64 // next chunk to read
	skip     int    // bytes of chunk seq to leave out: the reader starts inside it
	off      int64  // stream offset of the next byte
	epoch    int    // the stream's TS epoch the reader was placed in
	waitKey  bool   // deliver nothing until a key at or after waitFrom
	waitFrom int64
	waitAt   int64    // when the wait began, Unix nanoseconds
	needPSI  bool     // send the PAT/PMT before the next data
	exact    bool     // an exact reader (exact.go): never placed again, never skips
	psi      []byte   // an exact reader's PAT/PMT prefix, taken at placement
	gen      uint64   // the stream's newest path mark when the reader was made
	path     []string // ... and its path (path.go)

	// Direct delivery (sink.go): state, parkAt and leaving are guarded by
	// the stream's parkMu; give, batch and back belong to whoever holds
	// the cursor (the goroutine calling Next, or the deliverer).
	sink    Sink
	ready   chan struct{} // the deliverer hands the reader back
	state   parkState
	parkAt  int  // index in the stream's parked list plus one; 0: not there
	leaving bool // the goroutine waits to have the reader back
	give    int8
	back    bool // the sink kept part of a batch: Next returns an empty one
	batch   Batch

	// Pacing from the GOP cache (pace.go), owned by the goroutine calling
	// Next: the reader may take the chunks appended up to paceBase plus
	// paceFactor times the time since paceFrom (Unix nanoseconds; 0: not
	// paced).
	paceFrom  int64
	paceBase  int64
	paceTimer *time.Timer

	// Owned by the goroutine calling Next (or the deliverer, see above).
	bufs  [maxBatchChunks][]byte
	skips []time.Time // recent skips, for the disconnect policy

	created time.Time // for the time to the first bytes sent
	sent    atomic.Int64
	skipped atomic.Int64 // times this reader fell out of the ring
	closed  atomic.Bool
}

// NewReader adds a reader, placed as ts.go describes: for TS video, at the
// newest keyframe (the GOP cache) after the PAT and PMT; otherwise at the
// live edge.
func (s *Stream) NewReader(info ReaderInfo) (*Reader, error) {
	r, n, err := s.newReader(info)
	if err == nil && n == 1 {
		s.hub.demand(s.name)
	}
	return r, err
}

// newReader adds a reader and returns the number of readers now.
func (s *Stream) newReader(info ReaderInfo) (*Reader, int, error) {
	r := &Reader{s: s, info: info, created: s.now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, ErrClosed
	}
	if key, cached := r.placeLocked(false); cached {
		r.startPaceLocked(key)
	}
	r.placePathLocked()
	s.readers[r] = struct{}{}
	return r, len(s.readers), nil
}

// placeLocked puts the reader where a new reader starts (see ts.go). With
// rejoin, the reader was there when the stream's epoch began (a new
// publisher, new PIDs): the epoch's key, if within the GOP bounds, is live
// data to it, not the cache's, so it starts there even with the cache off
// instead of losing a GOP. It returns the key when the reader starts from
// the GOP cache.
func (r *Reader) placeLocked(rejoin bool) (key keyPoint, cached bool) {
	s := r.s
	ring := s.ring
	r.epoch, r.waitKey, r.needPSI = s.ts.epoch, false, s.ts.psi != nil
	r.paceFrom = 0 // newReader paces a new reader; a placed one is not
	key, usable := s.joinKey()
	switch {
	case s.ts.psi == nil || !s.ts.needsKey && !ring.hasKey:
		r.moveLocked(ring.head, 0, ring.off)
	case !s.ts.needsKey:
		r.moveToKeyLocked(ring.key)
	case usable:
		r.moveToKeyLocked(key)
		s.ts.gopJoins++
		return key, true
	case rejoin && ring.hasKey && s.withinBounds(ring.key):
		r.moveToKeyLocked(ring.key) // the cache is off
	default:
		r.moveLocked(ring.head, 0, ring.off)
		r.waitKey, r.needPSI = true, false
		r.waitFrom, r.waitAt = s.ts.epochOff, s.now().UnixNano()
		if ring.hasKey {
			r.waitFrom = ring.key.off + 1 // a newer key than the one too far back
			if !s.opts.NoGOPCache {
				s.ts.gopTooLong++
			}
		}
		s.ts.keyWaits++
	}
	return keyPoint{}, false
}

func (r *Reader) moveLocked(seq uint64, skip int, off int64) {
	r.seq, r.skip, r.off = seq, skip, off
}

func (r *Reader) moveToKeyLocked(k keyPoint) {
	r.moveLocked(k.seq, int(k.off-r.s.ring.at(k.seq).off), k.off)
}

// Exact reports whether the reader serves a reliable link (exact.go): it
// never skips, so it wants the kernel to buffer all it can.
func (r *Reader) Exact() bool { return r.exact }

// Stream returns the stream the reader reads.
func (r *Reader) Stream() *Stream { return r.s }

// Info returns who the reader is.
func (r *Reader) Info() ReaderInfo { return r.info }

// Next waits for data and returns the next batch. It returns ErrClosed when
// the stream closes, ErrTooSlow when the reader fell out of the ring too
// often (an exact reader: ErrFellBehind at once), or ctx's error.
//
// A reader that is placed and still in the ring takes its batch under the
// stream's shared lock, so a thousand readers woken by one append do not
// queue for it; placing a reader (a new publisher, a keyframe wait, a skip)
// takes the exclusive lock. A reader with a sink that has read everything
// parks (sink.go); once handed back it returns an empty batch if the sink
// kept part of one, so that the sink's goroutine finishes it.
func (r *Reader) Next(ctx context.Context) (Batch, error) {
	s := r.s
	for {
		s.mu.RLock()
		if !r.placedLocked() {
			s.mu.RUnlock()
			s.mu.Lock()
			wake, err := r.placeIfNeededLocked()
			s.mu.Unlock()
			if err != nil {
				return Batch{}, err
			}
			if wake != nil {
				select {
				case <-wake:
				case <-ctx.Done():
					return Batch{}, ctx.Err()
				}
			}
			continue
		}
		end := s.ring.head
		if r.info.Relay {
			// Only a relay's reader cares where the bytes came from
			// (path.go); the marks are read, not changed, here.
			var err error
			if end, err = r.pathEndLocked(); err != nil {
				s.mu.RUnlock()
				return Batch{}, err
			}
		}
		if r.seq < end {
			end, wait := r.paceLocked(end)
			if wait > 0 {
				s.mu.RUnlock()
				if err := r.paceWait(ctx, wait); err != nil {
					return Batch{}, err
				}
				continue
			}
			b := r.batchLocked(end)
			s.mu.RUnlock()
			return b, nil
		}
		if r.sink != nil {
			s.parkLocked(r)
			s.mu.RUnlock()
			select {
			case <-r.ready:
			case <-ctx.Done():
				s.unpark(r)
				return Batch{}, ctx.Err()
			}
			if r.back {
				r.back = false
				return Batch{Offset: r.off}, nil
			}
			continue
		}
		wake := s.waitLocked()
		s.mu.RUnlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		}
	}
}

// placedLocked reports whether the reader can take its next batch as it
// stands: the stream is open, the reader is placed in the stream's current
// TS epoch, is not waiting for a keyframe and has not fallen out of the
// ring. The shared lock suffices.
func (r *Reader) placedLocked() bool {
	s := r.s
	return !s.closed && (r.exact || r.epoch == s.ts.epoch) && !r.waitKey && r.seq >= s.ring.tail
}

// placeIfNeededLocked does what placedLocked found missing, under the
// exclusive lock. A reader still waiting for a keyframe gets the channel to
// wait on for the next append.
func (r *Reader) placeIfNeededLocked() (wake <-chan struct{}, err error) {
	s := r.s
	if s.closed {
		return nil, ErrClosed
	}
	if r.epoch != s.ts.epoch && !r.exact {
		r.placeLocked(true) // new publisher or new PIDs: start again cleanly
	}
	if r.waitKey {
		if r.waitKeyLocked(); r.waitKey {
			return s.waitLocked(), nil
		}
		return nil, nil
	}
	if r.seq < s.ring.tail {
		if r.exact {
			return nil, ErrFellBehind
		}
		return nil, r.skipLocked()
	}
	return nil, nil
}

// waitKeyLocked ends the wait once the stream has a key the reader may
// start from, with the PAT/PMT first. A source that never marks a key (an
// H.264 encoder that sends SPS/PPS only once, say) would keep viewers
// waiting forever: after GOPMaxAge they get the live edge instead.
func (r *Reader) waitKeyLocked() {
	s := r.s
	ring := s.ring
	switch {
	case ring.hasKey && ring.key.off >= r.waitFrom:
		r.moveToKeyLocked(ring.key)
	case time.Duration(s.now().UnixNano()-r.waitAt) > s.opts.GOPMaxAge:
		r.moveLocked(ring.head, 0, ring.off)
		s.ts.keyTimeouts++
	default:
		return
	}
	r.waitKey, r.needPSI = false, true
}

// batchLocked returns the chunks from the reader's position on, before
// chunk end (at most the ring's head).
func (r *Reader) batchLocked(end uint64) Batch {
	s := r.s
	ring := s.ring
	c := ring.at(r.seq)
	b := Batch{Bufs: r.bufs[:0], Offset: r.off, At: c.at}
	psi := s.ts.psi
	if r.exact {
		psi = r.psi
	}
	if r.needPSI && psi != nil {
		b.Bufs = append(b.Bufs, psi)
		b.Len += len(psi)
	}
	r.needPSI = false
	for r.seq < end && len(b.Bufs) < maxBatchChunks {
		data := ring.at(r.seq).data[r.skip:]
		if len(b.Bufs) > 0 && b.Len+len(data) > maxBatchBytes {
			break
		}
		b.Bufs = append(b.Bufs, data)
		b.Len += len(data)
		r.off += int64(len(data))
		r.seq, r.skip = r.seq+1, 0
	}
	return b
}

// skipLocked moves a reader that fell out of the ring to where a new reader
// would start, counting the skip; too many skips within the window end it.
func (r *Reader) skipLocked() error {
	s := r.s
	from := r.off
	r.placeLocked(false)
	skipped := max(r.off-from, 0)
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
	r.skipped.Add(1)
	s.log.Debug("reader skipped", "protocol", r.info.Protocol, "remote", r.info.Remote, "bytes", skipped)
	if len(r.skips) > s.opts.MaxSkips {
		return ErrTooSlow
	}
	return nil
}

// Skips returns how many times the reader fell out of the ring and skipped
// ahead.
func (r *Reader) Skips() int64 { return r.skipped.Load() }

// Sent records n payload bytes delivered to the viewer.
// The first bytes count in the stream's time-to-first-frame histogram.
func (r *Reader) Sent(n int) {
	if r.sent.Add(int64(n)) == int64(n) && n > 0 {
		r.s.ttff.observe(r.s.now().Sub(r.created))
	}
}

// Close removes the reader from the stream, counting reason (a short word
// such as "client closed" or "write timeout") among the stream's cuts.
func (r *Reader) Close(reason string) {
	if r.closed.Swap(true) {
		return
	}
	s := r.s
	s.mu.Lock()
	delete(s.readers, r)
	last := len(s.readers) == 0
	s.cuts[reason]++
	s.bytesOutOld.Add(r.sent.Load())
	s.mu.Unlock()
	s.releaseIfIdle()
	if last {
		s.hub.demand(s.name)
	}
}
