package stream

import "runtime"

// Direct delivery to readers at the live edge.
//
// A reader that has read everything waits for the next append and then
// takes its batch on its own goroutine: with a thousand viewers, each chunk
// costs a thousand goroutine wake-ups and as many switches. A reader with a
// Sink parks instead, and the goroutine that appended (the publisher's)
// hands each parked reader its batch through Sink.TryWrite, which must not
// block: a viewer's sink is one non-blocking writev on its socket. Only a
// reader whose sink could not take the whole batch (a full socket buffer, a
// write under way) is handed back to its goroutine, which finishes the
// write the usual way, under its deadline, and parks again once it has
// caught up. So are readers that need placing (a new publisher, a skip),
// that still have more to read, whose context ends, and all of them when
// the stream closes.
//
// A reader with a sink is in one of three states, guarded by parkMu:
// running (its goroutine owns its cursor), parked (in s.parked, waiting for
// data), or delivering (taken by the deliverer, which then owns the
// cursor). The hand-back is one token on the reader's ready channel.
// Deliveries are serialised by deliverMu; each takes the batches of all
// the readers it took under one shared lock, and calls TryWrite outside
// every lock, split over the Ps when it took many readers (writeAll).

// Sink takes a reader's batches on the goroutine that appended them.
type Sink interface {
	// TryWrite is given the reader's next batch and must not block. It
	// reports whether it took all of it; when it did not, it keeps what
	// is left (b.Bufs is reused: it keeps the slices, not the slice), and
	// the reader's next Next returns an empty batch at once so that the
	// sink's own goroutine can finish.
	TryWrite(b Batch) bool
}

type parkState uint8

const (
	running parkState = iota
	parked
	delivering
)

// SetSink makes the deliverer hand the reader's batches to sink while the
// reader is at the live edge. It must be called before the first Next.
// Relays' and exact readers keep their own pace (path.go, exact.go) and
// ignore it.
func (r *Reader) SetSink(sink Sink) {
	if r.info.Relay || r.exact {
		return
	}
	r.sink = sink
	r.ready = make(chan struct{}, 1)
}

// parkLocked parks a reader that found nothing to read. The shared lock
// suffices: append holds the exclusive one, so it either ran before (and
// the reader found its data) or runs after and its delivery finds the
// reader parked.
func (s *Stream) parkLocked(r *Reader) {
	s.parkMu.Lock()
	s.addParkedLocked(r)
	s.parkMu.Unlock()
}

// addParkedLocked puts r on the parked list; parkMu must be held.
func (s *Stream) addParkedLocked(r *Reader) {
	s.parked = append(s.parked, r)
	r.parkAt = len(s.parked)
	r.state = parked
	s.nparked.Add(1)
}

// handBackLocked gives a reader back to its goroutine; parkMu must be
// held.
func (s *Stream) handBackLocked(r *Reader) {
	r.state = running
	r.ready <- struct{}{} // never full: one token per hand-back
}

// unpark takes a parked reader back for its goroutine, whose context
// ended. A reader being delivered to is waited for.
func (s *Stream) unpark(r *Reader) {
	s.parkMu.Lock()
	switch r.state {
	case parked:
		last := s.parked[len(s.parked)-1]
		s.parked[r.parkAt-1], last.parkAt = last, r.parkAt
		s.parked[len(s.parked)-1] = nil
		s.parked = s.parked[:len(s.parked)-1]
		r.parkAt, r.state = 0, running
		s.nparked.Add(-1)
		s.parkMu.Unlock()
		return
	case delivering:
		r.leaving = true
	}
	s.parkMu.Unlock()
	<-r.ready // the deliverer's hand-back, or one already sent
	r.leaving = false
}

// deliver hands the parked readers their batches; append calls it after
// each append, outside the stream's lock. With nobody parked it costs one
// atomic load.
func (s *Stream) deliver() {
	if s.nparked.Load() == 0 {
		return
	}
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	for {
		// An append whose own delivery found nobody parked while this one
		// had them all is seen here.
		seen := s.appends.Load()
		s.parkMu.Lock()
		rs := s.parked
		s.parked, s.delivering = s.delivering[:0], rs
		for _, r := range rs {
			r.parkAt, r.state = 0, delivering
		}
		s.nparked.Store(0)
		s.parkMu.Unlock()
		if len(rs) == 0 {
			return
		}
		s.mu.RLock()
		for _, r := range rs {
			r.give = giveNothing
			switch end := s.ring.head; {
			case !r.placedLocked():
				r.give = giveBack // to be placed, or the stream closed
			case r.seq < end:
				r.batch = r.batchLocked(end)
				r.give = giveBatch
				if r.seq < end {
					r.give = giveBatchMore
				}
			}
		}
		s.mu.RUnlock()
		s.writeAll(rs)
		clear(rs)
		if s.appends.Load() == seen {
			return
		}
	}
}

// parallelMin is how many readers a delivery takes before it splits its
// walk: below it one goroutine's walk is short, and handing a part to
// another costs more than it saves.
const parallelMin = 256

// writeAll writes the batches of the readers a delivery took and parks
// them again or hands them back. Every viewer at the live edge waits for
// its turn in this walk of non-blocking writevs, and on loopback a writev
// also runs the receiver's side of TCP: 20-30 µs each on the benchmark's
// machine, so 1,500 viewers took 40 ms of one core per append. With
// parallelMin readers or more the walk is split into one part per P, and
// the stream's helpers (one goroutine per extra P, kept until the stream
// closes) write all parts but the first, which the deliverer writes
// itself.
func (s *Stream) writeAll(rs []*Reader) {
	parts := min(runtime.GOMAXPROCS(0), len(rs)/(parallelMin/2))
	if len(rs) < parallelMin || parts < 2 {
		s.writePart(rs)
		return
	}
	// No more parts than helpers to take them: GOMAXPROCS may have grown
	// since the helpers were started, and a helper that cannot report a
	// part (helperDone full) cannot take the next one.
	parts = min(parts, s.startHelpers(parts-1)+1)
	size := (len(rs) + parts - 1) / parts
	handed := 0
	for lo := size; lo < len(rs); lo += size {
		part := rs[lo:min(lo+size, len(rs))]
		select {
		case s.helperWork <- part:
			handed++
		case <-s.ctx.Done(): // the helpers are leaving
			s.writePart(part)
		}
	}
	s.writePart(rs[:size])
	for range handed {
		<-s.helperDone
	}
}

// startHelpers makes sure n helpers run, as far as helperDone has room
// for their reports, and returns how many run; deliverMu must be held.
func (s *Stream) startHelpers(n int) int {
	if s.helperWork == nil {
		s.helperWork = make(chan []*Reader)
		s.helperDone = make(chan struct{}, runtime.GOMAXPROCS(0))
	}
	for ; s.helpers < n && s.helpers < cap(s.helperDone); s.helpers++ {
		go s.helper()
	}
	return s.helpers
}

// helper writes the parts of deliveries it is given until the stream
// closes. A part it took is always finished and reported.
func (s *Stream) helper() {
	for {
		select {
		case part := <-s.helperWork:
			s.writePart(part)
			s.helperDone <- struct{}{}
		case <-s.ctx.Done():
			return
		}
	}
}

// writePart gives each reader of rs its batch through its sink, then
// parks it again, or hands it back to its goroutine when the sink kept
// part of the batch, more is waiting, it is leaving or the stream
// closed. parkMu is taken once for the whole part.
func (s *Stream) writePart(rs []*Reader) {
	for _, r := range rs {
		if r.give == giveBatch || r.give == giveBatchMore {
			if !r.sink.TryWrite(r.batch) {
				r.back = true
			}
			r.batch = Batch{}
		}
	}
	closed := s.ctx.Err() != nil
	s.parkMu.Lock()
	for _, r := range rs {
		if r.back || r.give == giveBack || r.give == giveBatchMore || r.leaving || closed {
			s.handBackLocked(r)
		} else {
			s.addParkedLocked(r)
		}
	}
	s.parkMu.Unlock()
}

// What a delivery does with a reader it took.
const (
	giveNothing   = iota // nothing new: park again
	giveBatch            // write the batch, then park again
	giveBatchMore        // write the batch, then hand back: more is there
	giveBack             // hand back at once
)

// handBackAll gives every parked reader back to its goroutine: the stream
// closed (Close cancels s.ctx first, so a delivery under way parks nobody
// again).
func (s *Stream) handBackAll() {
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	for i, r := range s.parked {
		r.parkAt = 0
		s.handBackLocked(r)
		s.parked[i] = nil
	}
	s.parked = s.parked[:0]
	s.nparked.Store(0)
}
